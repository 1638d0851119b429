"""BIDS events: the trial types and their HED tags, events.tsv rows and the events sidecar.

Moved out of :mod:`mirrorvr.analysis.bids` (which re-exports every name).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from mirrorvr import __version__
from mirrorvr.analysis.recording import Recording

BIDS_VERSION = "1.10.0"
HED_VERSION = "8.3.0"

#: trial_type → (description, HED annotation)
TRIAL_TYPES: dict[str, tuple[str, str]] = {
    "cue": ("a cue shown; onset = display time of its first frame", "Sensory-event, Visual-presentation, Cue"),
    "imagery": ("motor-imagery window: the patient imagines the cued movement", "Agent-action, Imagine"),
    "movement": ("mirror-movement window: the intact hand moves, seen mirrored", "Agent-action, Move"),
    "rest": ("rest period", "Experiment-structure"),
    "tms_train": ("a stimulation train (or cue-locked pulse group) begins", "Experiment-structure"),
    "tms_pulse": ("one TMS pulse; onset = trigger time", "Sensory-event, Experimental-stimulus, Somatic-presentation, (Head)"),
    "tms_pulse_missed": ("a pulse not fired: its deadline had passed", "Experiment-control"),
    "pain_rating": ("pain rating (0-10 NRS) asked; value = answer, response_time = time to answer", "Sensory-event, Visual-presentation, Participant-response"),
    "laterality_trial": ("hand laterality image shown; value = answer, response_time = RT", "Sensory-event, Visual-presentation, Experimental-stimulus"),
    "estop": ("emergency stop", "Experiment-control"),
    "pause": ("session paused", "Experiment-control"),
    "marker": ("marker from another producer's stream (value = its code or text)", "Experiment-control"),
}  # fmt: skip

#: cued movement → HED: the body part and what it does (HED 8.3.0 tags; validated by hedtools
#: in the tests). The limb moved is the intact one, seen mirrored as the missing one.
MOVEMENT_HED: dict[str, str] = {
    "fist": "(Move-upper-extremity, (Close, Hand))",
    "finger_flexion": "(Move-upper-extremity, (Flex, Fingers))",
    "thumb_opposition": "(Move-upper-extremity, (Bend, Thumb), (Touch, Fingers))",
    "wrist_flexion": "(Move-upper-extremity, (Flex, Wrist))",
    "wrist_extension": "(Move-upper-extremity, (Stretch, Wrist))",
    "pronation": "(Move-upper-extremity, (Turn, Forearm, Label/pronation))",
    "supination": "(Move-upper-extremity, (Turn, Forearm, Label/supination))",
    "reach": "(Move-upper-extremity, (Reach, Upper-extremity))",
    "open_hand": "(Move-upper-extremity, (Open, Hand))",
    "ankle_dorsiflexion": "(Move-lower-extremity, (Flex, Ankle))",
    "ankle_plantarflexion": "(Move-lower-extremity, (Stretch, Ankle))",
    "toe_flexion": "(Move-lower-extremity, (Flex, Toes))",
    "knee_extension": "(Move-lower-extremity, (Stretch, Knee))",
    "foot_circles": "(Move-lower-extremity, (Turn, Foot, Label/circles))",
}
#: laterality stimulus side → HED (the image shows a left or right hand or foot)
SIDE_HED: dict[str, str] = {"left": "(Image, Left)", "right": "(Image, Right)"}

EVENT_COLUMNS = [
    "onset", "duration", "trial_type", "value", "response_time",
    "planned_onset", "movement", "side", "angle_deg", "view", "correct",
    "train", "pulse", "intensity_pct_mso", "stream",
]  # fmt: skip

COLUMN_DOCS: dict[str, dict[str, Any]] = {
    "onset": {"Description": "seconds from the recording start", "Units": "s"},
    "duration": {"Description": "seconds; 0 for instantaneous events", "Units": "s"},
    "trial_type": {
        "Description": "kind of event",
        "Levels": {k: v[0] for k, v in TRIAL_TYPES.items()},
        # HED annotations by trial type (the sidecar form: one place, applied to every row)
        # (each in its own group with a Label, so events sharing an onset never repeat a tag)
        "HED": {k: f"({v[1]}, Label/{k})" for k, v in TRIAL_TYPES.items()},
    },
    "value": {
        "Description": "pain rating (NRS 0-10), laterality answer, or a foreign marker's value"
    },
    "response_time": {"Description": "seconds from stimulus to answer", "Units": "s"},
    "planned_onset": {"Description": "planned time from the recording start", "Units": "s"},
    "movement": {
        "Description": "cued movement",
        "Levels": {k: k.replace("_", " ") for k in MOVEMENT_HED},
        "HED": MOVEMENT_HED,
    },
    "side": {
        "Description": "laterality stimulus side",
        "Levels": {"left": "a left limb shown", "right": "a right limb shown"},
        "HED": SIDE_HED,
    },
    "angle_deg": {"Description": "laterality stimulus rotation", "Units": "degree"},
    "view": {"Description": "laterality stimulus view (palm or back)"},
    "correct": {"Description": "laterality answer correct (1) or not (0)"},
    "train": {"Description": "stimulation train index in the plan"},
    "pulse": {"Description": "pulse index within its train"},
    "intensity_pct_mso": {"Description": "stimulator output", "Units": "%"},
    "stream": {"Description": "source stream of a foreign marker"},
}


def label(text: Any, default: str) -> str:
    """A BIDS label: the alphanumeric characters of ``text`` (``default`` if none)."""
    s = re.sub(r"[^A-Za-z0-9]", "", str(text or ""))
    return s or default


def _write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _write_tsv(path: Path, df: pd.DataFrame, header: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, header=header, na_rep="n/a", lineterminator="\n")
    return path


# ---- events -------------------------------------------------------------------------------


def events_table(rec: Recording) -> pd.DataFrame:
    """The BIDS events of one recording, sorted by onset."""
    t0 = rec.t0
    rows: list[dict[str, Any]] = []

    def add(t: float, tt: str, **kw: Any) -> None:
        rows.append({"onset": t - t0, "duration": 0.0, "trial_type": tt} | kw)

    durations = _step_durations(rec)
    for _, e in rec.events.iterrows():
        d, k, t = e["data"], e["kind"], float(e["t"])
        planned = d.get("planned")
        po = (float(planned) - t0) if isinstance(planned, int | float) else None
        if k == "cue":
            add(
                t,
                "cue",
                duration=durations.get(d.get("step"), 0.0),
                planned_onset=po,
                movement=d.get("movement"),
            )
        elif k == "window":
            tt = "imagery" if d.get("exercise") == "imagery" else "movement"
            add(
                t,
                tt,
                duration=durations.get(d.get("step"), 0.0),
                planned_onset=po,
                movement=d.get("movement"),
            )
        elif k == "rest":
            add(t, "rest", duration=durations.get(d.get("step"), 0.0), planned_onset=po)
        elif k == "train_intent":
            po = d.get("planned_onset")
            add(t, "tms_train", train=d.get("train"), intensity_pct_mso=d.get("intensity_pct_mso"),
                planned_onset=(float(po) - t0) if isinstance(po, int | float) else None)  # fmt: skip
        elif k == "pulse":
            add(t, "tms_pulse", planned_onset=po, train=d.get("train"), pulse=d.get("i"),
                intensity_pct_mso=d.get("intensity_pct_mso"))  # fmt: skip
        elif k == "pulse_missed":
            add(t, "tms_pulse_missed", planned_onset=po, train=d.get("train"), pulse=d.get("i"))
        elif k == "rating_prompt":
            pass  # written with its answer below
        elif k == "rating":
            rt = d.get("rt_s")
            onset = t - float(rt) if isinstance(rt, int | float) else t
            add(onset, "pain_rating", value=d.get("value"), response_time=rt, duration=rt or 0.0)
        elif k == "estop":
            add(t, "estop", value=d.get("cause"))
        elif k == "state" and d.get("to") == "paused":
            add(t, "pause", value=d.get("reason"))
    for _, r in rec.laterality.iterrows():
        rt = r["rt_s"]
        add(float(r["t"]), "laterality_trial", value=r["answer"], response_time=None if pd.isna(rt) else rt,
            side=r["side"], angle_deg=r["angle_deg"], view=r["view"], correct=int(bool(r["correct"])))  # fmt: skip
    for _, m in rec.markers.iterrows():
        add(float(m["t"]), "marker", value=m["value"], stream=m["stream"])
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    df = df.sort_values("onset", kind="stable").reset_index(drop=True)
    for c in ("onset", "duration", "planned_onset", "response_time"):
        df[c] = pd.to_numeric(df[c], errors="coerce").round(6)
    for c in ("angle_deg", "correct", "train", "pulse"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return df


def _step_durations(rec: Recording) -> dict[Any, float]:
    if rec.plan is None:
        return {}
    from mirrorvr.session.timeline import compile_timeline

    try:
        return {s.index: s.duration for s in compile_timeline(rec.plan).steps}
    except Exception:  # a plan that no longer compiles still exports, without durations
        return {}


def stimulation_protocol(rec: Recording) -> dict[str, Any] | None:
    """The plan's stimulation in the NIBS-BIDS v2 vocabulary (seconds), or None."""
    if rec.plan is None or rec.plan.stimulation.mode == "none":
        return None
    st = rec.plan.stimulation
    out: dict[str, Any] = {
        "TimingVocabulary": "NIBS-BIDS intervention parameters v2 (intervals and durations, s)",
        "StimulationMode": st.mode,
        "IntensityPercentRMT": st.intensity_pct_rmt,
        "IntensityPercentMSO": st.intensity_pct_mso,
        "StimulatorKind": rec.plan.devices.stimulator.kind,
        "TimingSource": "host (each pulse triggered at its planned time on the session clock)",
    }
    if st.motor_threshold is not None:
        out["MotorThresholdPercentMSO"] = st.motor_threshold.rmt_pct_mso
        out["MotorThresholdMethod"] = st.motor_threshold.method
        out["MotorThresholdDate"] = st.motor_threshold.measured_on.isoformat()
    width = getattr(rec.plan.devices.stimulator, "pulse_width_ms", None)
    if width:
        out["pulse_duration"] = width / 1000.0
    proto = st.protocol
    if proto is not None:
        out["pulse_repetition_interval"] = proto.pulse_repetition_interval_s
        names = ["pulse_train", "pulse_train_repeat", "repeat2", "repeat3"]
        for name, level in zip(names, proto.levels, strict=False):
            out[f"{name}_duration"] = level.duration_s
            if level.repetition_interval_s is not None:
                out[f"{name}_repetition_interval"] = level.repetition_interval_s
        if proto.paired_pulse_interval_ms:
            out["paired_pulse_interval"] = proto.paired_pulse_interval_ms / 1000.0
        out["PulsesPlanned"] = proto.total_pulses
    if st.cue_locked is not None and st.mode == "cue-locked":
        out["CueLockedDelay"] = st.cue_locked.delay_ms / 1000.0
        out["CueLockedJitter"] = st.cue_locked.jitter_ms / 1000.0
    return out


def events_sidecar(rec: Recording, task: str) -> dict[str, Any]:
    """events.json: column docs, HED per trial type, presentation software, the protocol."""
    side: dict[str, Any] = {k: v for k, v in COLUMN_DOCS.items()}
    side["StimulusPresentation"] = {
        "SoftwareName": "mirrorvr",
        "SoftwareVersion": str(rec.meta.get("mirrorvr_version", __version__)),
    }
    proto = stimulation_protocol(rec)
    if proto is not None:
        side["StimulationProtocol"] = proto
    return side


# ---- motion -------------------------------------------------------------------------------

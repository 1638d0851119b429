"""``mirrorvr export-bids``: sessions → a BIDS dataset.

Layout written (labels are the alphanumeric parts of the ids, as BIDS requires)::

    dataset_description.json  README  participants.tsv/.json
    sub-<patient>/ses-<session>/
        beh/     ..._task-<plan>_events.tsv/.json   cues, windows, pulses, ratings, laterality,
                                                   e-stops (onsets from the recording start;
                                                   HED tags; stimulation protocol in the sidecar)
        motion/  ..._tracksys-<tracked|mirrored>_motion.tsv/.json + _channels.tsv (Motion-BIDS),
                 with a LATENCY channel (s from the recording start) since frames can drop;
                 the events again, as Motion-BIDS expects them next to the motion data
        emg/     ..._emg.edf/.json + _channels.tsv (BIDS 1.11 EMG, 16-bit EDF)

Onsets and latencies are seconds from the recording start (the ``session_start`` event, else
the earliest sample). The stimulation protocol is described with the NIBS-BIDS v2 timing
vocabulary (intervals and durations; clinical-workflow.md §11) in ``events.json`` under
``StimulationProtocol``, because NIBS-BIDS (BEP037) is still a draft without a datatype
the validator knows. Other streams of a foreign XDF (e.g. EEG) are not exported.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr import __version__
from mirrorvr.analysis.loader import load_recording
from mirrorvr.analysis.outcomes import emg_in_uv
from mirrorvr.analysis.recording import Recording, Signal

BIDS_VERSION = "1.10.0"
HED_VERSION = "8.3.0"

#: trial_type → (description, HED annotation)
TRIAL_TYPES: dict[str, tuple[str, str]] = {
    "cue": ("a cue shown; onset = display time of its first frame", "Sensory-event, Visual-presentation, Cue"),
    "imagery": ("motor-imagery window: the patient imagines the cued movement", "Agent-action, Imagine"),
    "movement": ("mirror-movement window: the intact hand moves, seen mirrored", "Agent-action, Move"),
    "rest": ("rest period", "Experiment-structure"),
    "tms_train": ("a stimulation train (or cue-locked pulse group) begins", "Experiment-structure"),
    "tms_pulse": ("one TMS pulse; onset = trigger time", "Sensory-event, Experimental-stimulus, Somatic-presentation"),
    "tms_pulse_missed": ("a pulse not fired: its deadline had passed", "Experiment-control"),
    "pain_rating": ("pain rating (0-10 NRS) asked; value = answer, response_time = time to answer", "Sensory-event, Visual-presentation, Participant-response"),
    "laterality_trial": ("hand laterality image shown; value = answer, response_time = RT", "Sensory-event, Visual-presentation, Experimental-stimulus"),
    "estop": ("emergency stop", "Experiment-control"),
    "pause": ("session paused", "Experiment-control"),
    "marker": ("marker from another producer's stream (value = its code or text)", "Experiment-control"),
}  # fmt: skip

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
    "movement": {"Description": "cued movement"},
    "side": {"Description": "laterality stimulus side"},
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

_POSE_PART = re.compile(r"^(?P<joint>.+)_(?P<c>px|py|pz|qw|qx|qy|qz|x|y|z)$")
_COMPONENT = {
    "px": ("x", "POS", "m"), "py": ("y", "POS", "m"), "pz": ("z", "POS", "m"),
    "x": ("x", "POS", "m"), "y": ("y", "POS", "m"), "z": ("z", "POS", "m"),
    "qw": ("quat_w", "ORNT", "n/a"), "qx": ("quat_x", "ORNT", "n/a"),
    "qy": ("quat_y", "ORNT", "n/a"), "qz": ("quat_z", "ORNT", "n/a"),
}  # fmt: skip


def motion_channels(sig: Signal) -> pd.DataFrame:
    """channels.tsv rows of a pose stream (LATENCY first)."""
    rows = [
        {
            "name": "latency",
            "component": "n/a",
            "type": "LATENCY",
            "tracked_point": "n/a",
            "units": "s",
        }
    ]
    for ch, unit in zip(sig.channels, sig.units, strict=True):
        m = _POSE_PART.match(ch)
        if m:
            comp, typ, u = _COMPONENT[m["c"]]
            rows.append(
                {
                    "name": ch,
                    "component": comp,
                    "type": typ,
                    "tracked_point": m["joint"],
                    "units": u,
                }
            )
        else:
            rows.append(
                {
                    "name": ch,
                    "component": "n/a",
                    "type": "MISC",
                    "tracked_point": "n/a",
                    "units": unit or "n/a",
                }
            )
    df = pd.DataFrame(rows, columns=["name", "component", "type", "tracked_point", "units"])
    df["reference_frame"] = ["n/a"] + [
        "global" if t in ("POS", "ORNT") else "n/a" for t in df["type"][1:]
    ]
    return df


def _tracksys(sig: Signal) -> str:
    n = sig.name.lower().replace("mirrorvr", "")
    if "mirror" in n:
        return "mirrored"
    if "track" in n:
        return "tracked"
    return label(n, "pose")


def write_motion(rec: Recording, sig: Signal, base: Path, task: str) -> list[Path]:
    """Motion-BIDS files of one pose stream."""
    sys_ = _tracksys(sig)
    stem = base / "motion" / f"{base.parent.name}_{base.name}_task-{task}_tracksys-{sys_}"
    ch = motion_channels(sig)
    lat = (sig.timestamps - rec.t0).reshape(-1, 1)
    data = np.hstack([lat, sig.data.astype(float)])
    Path(str(stem) + "_motion.tsv").parent.mkdir(parents=True, exist_ok=True)
    with open(str(stem) + "_motion.tsv", "w", encoding="utf-8") as f:
        np.savetxt(f, data, fmt="%.7g", delimiter="\t")
    dur = float(sig.timestamps[-1] - sig.timestamps[0]) if len(sig) > 1 else 0.0
    eff = (len(sig) - 1) / dur if dur > 0 else 0.0
    counts = ch["type"].value_counts()
    sidecar = {
        "TaskName": task,
        "SamplingFrequency": sig.nominal_srate if sig.nominal_srate > 0 else round(eff, 6),
        "SamplingFrequencyEffective": round(eff, 6),
        "TrackingSystemName": f"mirrorvr {sys_} hand pose ({sig.name})",
        "MotionChannelCount": len(ch),
        "POSChannelCount": int(counts.get("POS", 0)),
        "ORNTChannelCount": int(counts.get("ORNT", 0)),
        "LATENCYChannelCount": int(counts.get("LATENCY", 0)),
        "MISCChannelCount": int(counts.get("MISC", 0)),
        "RecordingDuration": round(dur, 6),
        "MissingValues": "n/a",
        "SubjectArtefactDescription": "n/a",
    }
    return [
        Path(str(stem) + "_motion.tsv"),
        _write_json(Path(str(stem) + "_motion.json"), sidecar),
        _write_tsv(Path(str(stem) + "_channels.tsv"), ch),
        _write_json(
            Path(str(stem) + "_channels.json"),
            {
                "reference_frame": {
                    "Description": "frame of the position and orientation channels",
                    "Levels": {
                        "global": {
                            "Description": "OpenXR stage space: x right, y up, z backwards "
                            "(the user looks along -z); metres; quaternions rotate "
                            "joint-local to stage",
                            "SpatialAxes": "RSP",  # x right, y up (superior), z back (posterior)
                            "RotationRule": "right-hand",
                        }
                    },
                }
            },
        ),
    ]


# ---- EMG (EDF) ----------------------------------------------------------------------------


def write_edf(
    path: Path, sig_uv: np.ndarray, srate: float, labels: list[str], start: dt.datetime
) -> Path:
    """A 16-bit EDF file of ``sig_uv`` (n, channels) in µV at ``srate`` (1-s data records)."""
    n, nch = sig_uv.shape
    spr = round(srate)
    n_rec = max(1, math.ceil(n / spr))
    pad = np.zeros((n_rec * spr, nch))
    pad[:n] = np.nan_to_num(sig_uv)
    pmin = np.floor(pad.min(axis=0)) - 1
    pmax = np.ceil(pad.max(axis=0)) + 1
    dmin, dmax = -32768, 32767
    scale = (pmax - pmin) / (dmax - dmin)
    digital = np.round((pad - pmin) / scale + dmin).clip(dmin, dmax).astype("<i2")

    def field(v: Any, width: int) -> bytes:
        return str(v)[:width].ljust(width).encode("ascii", "replace")

    def num(v: float, width: int = 8) -> bytes:
        s = f"{v:.6g}"
        return field(s if len(s) <= width else f"{v:.0f}", width)

    hdr = b"".join(
        [
            field("0", 8),
            field("X X X X", 80),
            field(f"Startdate {start.strftime('%d-%b-%Y').upper()} X mirrorvr X", 80),
            field(start.strftime("%d.%m.%y"), 8),
            field(start.strftime("%H.%M.%S"), 8),
            field(256 * (nch + 1), 8),
            field("", 44),  # plain EDF: EDF+ would need an annotation signal
            field(n_rec, 8),
            field(1, 8),
            field(nch, 4),
        ]
    )
    per = [
        [field(lab, 16) for lab in labels],
        [field("EMG", 80) for _ in labels],
        [field("uV", 8) for _ in labels],
        [num(v) for v in pmin],
        [num(v) for v in pmax],
        [field(dmin, 8) for _ in labels],
        [field(dmax, 8) for _ in labels],
        [field("", 80) for _ in labels],
        [field(spr, 8) for _ in labels],
        [field("", 32) for _ in labels],
    ]
    hdr += b"".join(b"".join(col) for col in per)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(hdr)
        recs = digital.reshape(n_rec, spr, nch).transpose(0, 2, 1)
        f.write(recs.tobytes())
    return path


def write_emg(rec: Recording, sig: Signal, base: Path, task: str) -> list[Path]:
    """BIDS EMG files of one EMG stream (EDF + sidecars), starting at its first sample."""
    stem = base / "emg" / f"{base.parent.name}_{base.name}_task-{task}"
    srate = sig.nominal_srate or sig.effective_srate
    data = np.column_stack([emg_in_uv(sig, c) for c in range(sig.data.shape[1])])
    date = rec.meta.get("session_date")
    start = dt.datetime.fromisoformat(str(date)) if date else dt.datetime(1985, 1, 1)
    edf = write_edf(Path(str(stem) + "_emg.edf"), data, srate, sig.channels, start)
    offset = float(sig.timestamps[0] - rec.t0) if len(sig) else 0.0
    ch = pd.DataFrame(
        {
            "name": sig.channels,
            "type": ["EMG"] * len(sig.channels),
            "units": ["uV"] * len(sig.channels),
        }
    )
    return [
        edf,
        _write_json(
            Path(str(stem) + "_emg.json"),
            {
                "TaskName": task,
                "SamplingFrequency": srate,
                "EMGChannelCount": len(sig.channels),
                "EMGReference": "n/a",
                "EMGPlacementScheme": "Other",
                "PowerLineFrequency": "n/a",
                "SoftwareFilters": "n/a",
                "RecordingDuration": round(len(sig) / srate, 6) if srate else 0.0,
                "RecordingStartFromSessionStart": round(offset, 6),
                "SourceStream": sig.name,
            },
        ),
        _write_tsv(Path(str(stem) + "_channels.tsv"), ch),
    ]


# ---- the dataset --------------------------------------------------------------------------


def _dataset_files(root: Path) -> list[Path]:
    out = []
    if not (root / "dataset_description.json").exists():
        out.append(
            _write_json(
                root / "dataset_description.json",
                {
                    "Name": "mirrorvr sessions",
                    "BIDSVersion": BIDS_VERSION,
                    "DatasetType": "raw",
                    "HEDVersion": HED_VERSION,
                    "GeneratedBy": [{"Name": "mirrorvr", "Version": __version__}],
                },
            )
        )
    if not (root / "README").exists():
        (root / "README").write_text(
            "VR mirror therapy and TMS sessions for phantom limb pain, exported by mirrorvr "
            f"{__version__}.\nOnsets are seconds from each session's start (LSL clock). The "
            "stimulation protocol is in each events.json under StimulationProtocol (NIBS-BIDS "
            "v2 timing vocabulary).\n",
            encoding="utf-8",
        )
        out.append(root / "README")
    return out


def _participants(root: Path, new: dict[str, dict[str, Any]]) -> list[Path]:
    path = root / "participants.tsv"
    cols = ["participant_id", "amputation_side", "amputation_level"]
    old = pd.read_csv(path, sep="\t", dtype=str) if path.exists() else pd.DataFrame(columns=cols)
    rows = {r["participant_id"]: dict(r) for _, r in old.iterrows()}
    rows.update(new)
    df = pd.DataFrame(sorted(rows.values(), key=lambda r: r["participant_id"]), columns=cols)
    return [
        _write_tsv(path, df),
        _write_json(
            root / "participants.json",
            {
                "amputation_side": {"Description": "side of the amputation", "Levels": {"left": "left", "right": "right"}},
                "amputation_level": {"Description": "level of the amputation (transradial, ...)"},
            },
        ),
    ]  # fmt: skip


def export_recording(rec: Recording, root: Path) -> tuple[list[Path], dict[str, Any]]:
    """Write one recording under ``root``; returns (files, participants row)."""
    sub = label(rec.patient, "unknown")
    ses = label(rec.session_id, "1")
    plan_name = rec.plan.session.name if rec.plan else rec.meta.get("plan_name")
    task = label(str(plan_name or "mirrorvr").lower(), "mirrorvr")[:32]
    base = root / f"sub-{sub}" / f"ses-{ses}"
    stem = f"sub-{sub}_ses-{ses}_task-{task}"
    ev = events_table(rec)
    side = events_sidecar(rec, task)
    files = [
        _write_tsv(base / "beh" / f"{stem}_events.tsv", ev),
        _write_json(base / "beh" / f"{stem}_events.json", side),
    ]
    if rec.poses:
        for sig in rec.poses.values():
            if len(sig):
                files += write_motion(rec, sig, base, task)
        files += [
            _write_tsv(base / "motion" / f"{stem}_events.tsv", ev),
            _write_json(base / "motion" / f"{stem}_events.json", side),
        ]
    for sig in list(rec.emg.values())[:1]:
        if len(sig):
            files += write_emg(rec, sig, base, task)
    part = {"participant_id": f"sub-{sub}", "amputation_side": "n/a", "amputation_level": "n/a"}
    if rec.plan is not None:
        part["amputation_side"] = rec.plan.patient.amputation_side
        part["amputation_level"] = rec.plan.patient.amputation_level
    return files, part


def export_bids(paths: Iterable[Path], root: Path) -> list[Path]:
    """Export recordings (session folders / XDF files) into the BIDS dataset at ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    files = _dataset_files(root)
    parts: dict[str, dict[str, Any]] = {}
    for p in paths:
        rec = load_recording(p)
        f, part = export_recording(rec, root)
        files += f
        parts[part["participant_id"]] = part
    files += _participants(root, parts)
    return files

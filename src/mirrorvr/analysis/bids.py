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
        emg/     ..._emg.edf/.json + _channels.tsv (BIDS 1.11 EMG, 16-bit EDF by edfio)
        eeg/     ..._acq-<stream>_eeg.edf/.json + _channels.tsv (mne-bids) + our events
        beh/     ..._recording-<stream>_physio.tsv.gz/.json (other streams the user selects)

Onsets and latencies are seconds from the recording start (the ``session_start`` event, else
the earliest sample). The stimulation protocol is described with the NIBS-BIDS v2 timing
vocabulary (intervals and durations; clinical-workflow.md §11) in ``events.json`` under
``StimulationProtocol``, because NIBS-BIDS (BEP037) is still a draft without a datatype
the validator knows. EEG goes through mne-bids (the ``[research]`` extra).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr import __version__
from mirrorvr.analysis.loader import AnalysisError, load_recording
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
    """A 16-bit EDF file of ``sig_uv`` (n, channels) in µV at ``srate``, written by edfio.

    EDF stores whole data records (1 s here, or one sample period for rates that are not a
    whole number of samples per second); the last record is padded with zeros, and the
    sidecar's ``RecordingDuration`` gives the real length.
    """
    import edfio

    n, nch = sig_uv.shape
    record_s = 1.0 if abs(srate - round(srate)) < 1e-9 else 1.0 / srate
    spr = max(1, round(srate * record_s))
    n_rec = max(1, math.ceil(n / spr))
    pad = np.zeros((n_rec * spr, nch))
    pad[:n] = np.nan_to_num(sig_uv)
    signals = [
        edfio.EdfSignal(
            pad[:, c],
            sampling_frequency=srate,
            label=labels[c][:16],
            transducer_type="EMG",
            physical_dimension="uV",
            # a little headroom: the digital range spans the data
            physical_range=(
                float(np.floor(pad[:, c].min())) - 1,
                float(np.ceil(pad[:, c].max())) + 1,
            ),
        )
        for c in range(nch)
    ]
    edf = edfio.Edf(
        signals,
        recording=edfio.Recording(startdate=start.date()),
        starttime=start.time().replace(microsecond=0),
        data_record_duration=record_s,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    edf.write(path)
    return path


def write_emg(
    rec: Recording, sig: Signal, base: Path, task: str, acq: str | None = None
) -> list[Path]:
    """BIDS EMG files of one EMG stream (EDF + sidecars), starting at its first sample."""
    acq_part = f"_acq-{acq}" if acq else ""
    stem = base / "emg" / f"{base.parent.name}_{base.name}_task-{task}{acq_part}"
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


@dataclass(frozen=True)
class DatasetInfo:
    """dataset_description.json fields a researcher gives (options or a TOML ``[dataset]``)."""

    name: str = "mirrorvr sessions"
    authors: tuple[str, ...] = ()
    license: str | None = None
    funding: tuple[str, ...] = ()
    acknowledgements: str | None = None
    how_to_acknowledge: str | None = None
    references_and_links: tuple[str, ...] = ()
    dataset_doi: str | None = None
    ethics_approvals: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The BIDS fields that are set."""
        out: dict[str, Any] = {"Name": self.name}
        for key, v in (
            ("Authors", list(self.authors)),
            ("License", self.license),
            ("Funding", list(self.funding)),
            ("Acknowledgements", self.acknowledgements),
            ("HowToAcknowledge", self.how_to_acknowledge),
            ("ReferencesAndLinks", list(self.references_and_links)),
            ("DatasetDOI", self.dataset_doi),
            ("EthicsApprovals", list(self.ethics_approvals)),
        ):
            if v:
                out[key] = v
        return out


_DATASET_KEYS = {
    "name": str, "authors": list, "license": str, "funding": list, "acknowledgements": str,
    "how_to_acknowledge": str, "references_and_links": list, "dataset_doi": str,
    "ethics_approvals": list,
}  # fmt: skip


def load_dataset_info(path: Path | None = None, **overrides: Any) -> DatasetInfo:
    """DatasetInfo from a TOML file's ``[dataset]`` table, then ``overrides`` (None skipped).

    Raises :class:`AnalysisError` naming the file and field on anything it cannot use.
    """
    import tomllib

    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("dataset", {})
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise AnalysisError(f"{path}: cannot read the dataset description ({e})") from None
        if not isinstance(doc, dict):
            raise AnalysisError(f"{path}: [dataset] must be a table")
    merged = {**doc, **{k: v for k, v in overrides.items() if v is not None}}
    kw: dict[str, Any] = {}
    for k, v in merged.items():
        want = _DATASET_KEYS.get(k)
        where = f"{path}: dataset.{k}" if k in doc and path else f"--{k.replace('_', '-')}"
        if want is None:
            raise AnalysisError(f"{where}: unknown field; one of {', '.join(_DATASET_KEYS)}")
        if want is list:
            if isinstance(v, str):
                v = [x.strip() for x in v.split(";") if x.strip()]
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise AnalysisError(f"{where}: a list of strings (or one string, ';'-separated)")
            kw[k] = tuple(v)
        elif not isinstance(v, str):
            raise AnalysisError(f"{where}: must be a string")
        else:
            kw[k] = v
    return DatasetInfo(**kw)


def _dataset_files(root: Path, info: DatasetInfo | None = None) -> list[Path]:
    out = []
    path = root / "dataset_description.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    desc = {
        "Name": "mirrorvr sessions",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "HEDVersion": HED_VERSION,
        "GeneratedBy": [{"Name": "mirrorvr", "Version": __version__}],
        **old,
        **(info.fields() if info is not None else {}),
    }
    if desc != old:
        out.append(_write_json(path, desc))
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


def export_recording(
    rec: Recording,
    root: Path,
    *,
    streams: Iterable[str] = (),
    line_freq: float | None = None,
    notes: list[str] | None = None,
) -> tuple[list[Path], dict[str, Any]]:
    """Write one recording under ``root``; returns (files, participants row).

    EEG streams (and iEEG) are always exported, through mne-bids; ``streams`` names other
    regularly sampled streams to export too (EMG-typed → ``emg/``, anything else →
    ``beh/..._recording-<stream>_physio.tsv.gz``). What could not be exported is appended to
    ``notes``.
    """
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
    chosen = {x.lower() for x in streams}
    for sig in rec.other.values():
        if len(sig) < 2 or sig.nominal_srate <= 0:
            continue  # event-like numeric streams (stimulator codes) are in events.tsv
        from mirrorvr.analysis.mne_raw import channel_types

        types = set(channel_types(sig))
        picked = sig.name.lower() in chosen or sig.type.lower() in chosen
        if types & {"eeg", "seeg", "ecog"}:
            files += write_eeg(rec, sig, root, sub, ses, task, ev, side, line_freq, notes)
        elif picked and "emg" in types:
            files += write_emg(rec, sig, base, task, acq=label(sig.name, "emg"))
        elif picked:
            files += write_physio(rec, sig, base, task)
    known = {s.name.lower() for s in rec.signals()} | {s.type.lower() for s in rec.signals()}
    for x in sorted(chosen - known):
        if notes is not None:
            notes.append(f"{rec.source}: --streams {x}: no such sampled stream here")
    part = {"participant_id": f"sub-{sub}", "amputation_side": "n/a", "amputation_level": "n/a"}
    if rec.plan is not None:
        part["amputation_side"] = rec.plan.patient.amputation_side
        part["amputation_level"] = rec.plan.patient.amputation_level
    return files, part


def _shifted_events(ev: pd.DataFrame, offset: float, duration: float) -> pd.DataFrame:
    """Events re-timed to a data file starting ``offset`` s after the recording start, keeping
    those inside it."""
    out = ev.copy()
    out["onset"] = (out["onset"] - offset).round(6)
    out["planned_onset"] = (out["planned_onset"] - offset).round(6)
    return out[(out["onset"] >= 0) & (out["onset"] <= duration)].reset_index(drop=True)


def write_eeg(
    rec: Recording,
    sig: Signal,
    root: Path,
    sub: str,
    ses: str,
    task: str,
    ev: pd.DataFrame,
    side: dict[str, Any],
    line_freq: float | None,
    notes: list[str] | None,
) -> list[Path]:
    """An EEG (or iEEG) stream through mne-bids (EDF via edfio), with our events next to it."""
    try:
        import mne_bids
    except ImportError:
        if notes is not None:
            notes.append(
                f"{rec.source}: EEG stream {sig.name} not exported: it needs mne-bids "
                '(pip install "mirrorvr[research]")'
            )
        return []
    from mirrorvr.analysis.mne_raw import channel_types, to_mne

    types = channel_types(sig)
    datatype = "eeg" if "eeg" in types else "ieeg"
    raw = to_mne(rec, streams=[sig.name])
    first = float(sig.timestamps[0])
    # to_mne's grid may start at an earlier event: the file holds the stream's own span
    t_first = raw.times[0] + _lsl_start(raw)
    raw.crop(tmin=max(0.0, first - t_first), tmax=None, include_tmax=True)
    raw.set_annotations(None)  # events.tsv is ours (HED, trial types), written below
    raw.info["line_freq"] = line_freq
    acq = label(sig.name, "eeg")
    path = mne_bids.BIDSPath(
        subject=sub, session=ses, task=task, acquisition=acq, datatype=datatype, root=root
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mne-bids warns about fields we fill in below
        mne_bids.write_raw_bids(
            raw,
            path,
            format="EDF",
            allow_preload=True,
            overwrite=True,
            readme=False,
            verbose="error",
        )
    folder = root / f"sub-{sub}" / f"ses-{ses}" / datatype
    stem = f"sub-{sub}_ses-{ses}_task-{task}_acq-{acq}"
    offset = first - rec.t0
    # the sidecar is mne-bids' own (the validator's EEG schema allows no extra keys); the
    # events next to it are ours, re-timed to the EEG file's first sample
    files: list[Path] = []
    evs = _shifted_events(ev, offset, float(raw.times[-1]))
    files += [
        _write_tsv(folder / f"{stem}_events.tsv", evs),
        _write_json(folder / f"{stem}_events.json", side),
    ]
    return files + sorted(p for p in folder.glob(f"{stem}_*") if p not in files)


def _lsl_start(raw: Any) -> float:
    from mirrorvr.analysis.mne_raw import first_sample_time

    return first_sample_time(raw) - raw.first_time


def write_physio(rec: Recording, sig: Signal, base: Path, task: str) -> list[Path]:
    """A regularly sampled stream BIDS has no datatype for, as continuous physio data."""
    rec_label = label(sig.name, "stream")
    stem = base / "beh" / f"{base.parent.name}_{base.name}_task-{task}_recording-{rec_label}"
    tsv = Path(str(stem) + "_physio.tsv.gz")
    tsv.parent.mkdir(parents=True, exist_ok=True)
    import gzip

    with gzip.open(tsv, "wt", encoding="utf-8", newline="\n") as f:
        np.savetxt(f, np.asarray(sig.data, dtype=float), fmt="%.7g", delimiter="\t")
    columns = [label(c, f"ch{i}") for i, c in enumerate(sig.channels)]
    meta: dict[str, Any] = {
        "SamplingFrequency": sig.nominal_srate,
        "StartTime": round(float(sig.timestamps[0] - rec.t0), 6),
        "Columns": columns,
    }
    for c, u in zip(columns, sig.units, strict=False):
        if u:
            meta[c] = {"Units": u}
    return [tsv, _write_json(Path(str(stem) + "_physio.json"), meta)]


def export_bids(
    paths: Iterable[Path],
    root: Path,
    *,
    dataset: DatasetInfo | None = None,
    streams: Iterable[str] = (),
    line_freq: float | None = None,
    notes: list[str] | None = None,
) -> list[Path]:
    """Export recordings (session folders / XDF files) into the BIDS dataset at ``root``.

    ``dataset`` fills dataset_description.json (authors, license, funding, ...); ``streams``
    selects extra regularly sampled streams to export (EEG always is); ``line_freq`` is the
    mains frequency (Hz) for EEG sidecars; problems are appended to ``notes``.
    """
    root.mkdir(parents=True, exist_ok=True)
    files = _dataset_files(root, dataset)
    parts: dict[str, dict[str, Any]] = {}
    for p in paths:
        rec = load_recording(p)
        if notes is not None:
            notes += rec.warnings
        f, part = export_recording(rec, root, streams=streams, line_freq=line_freq, notes=notes)
        files += f
        parts[part["participant_id"]] = part
    files += _participants(root, parts)
    return files

"""BIDS signal files: motion (tracked poses), EDF writing, and EMG.

Moved out of :mod:`mirrorvr.analysis.bids` (which re-exports every name).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mirrorvr.analysis.bids_events import (
    _write_json,
    _write_tsv,
    label,
)
from mirrorvr.analysis.outcomes import emg_in_uv
from mirrorvr.analysis.recording import Recording, Signal

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

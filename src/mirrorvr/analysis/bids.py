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

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr.analysis.bids_dataset import (
    _DATASET_KEYS as _DATASET_KEYS,
)
from mirrorvr.analysis.bids_dataset import (
    DatasetInfo as DatasetInfo,
)
from mirrorvr.analysis.bids_dataset import (
    _dataset_files as _dataset_files,
)
from mirrorvr.analysis.bids_dataset import (
    _participants as _participants,
)
from mirrorvr.analysis.bids_dataset import (
    load_dataset_info as load_dataset_info,
)
from mirrorvr.analysis.bids_events import (
    BIDS_VERSION as BIDS_VERSION,
)
from mirrorvr.analysis.bids_events import (
    COLUMN_DOCS as COLUMN_DOCS,
)
from mirrorvr.analysis.bids_events import (
    EVENT_COLUMNS as EVENT_COLUMNS,
)
from mirrorvr.analysis.bids_events import (
    HED_VERSION as HED_VERSION,
)
from mirrorvr.analysis.bids_events import (
    MOVEMENT_HED as MOVEMENT_HED,
)
from mirrorvr.analysis.bids_events import (
    SIDE_HED as SIDE_HED,
)
from mirrorvr.analysis.bids_events import (
    TRIAL_TYPES as TRIAL_TYPES,
)
from mirrorvr.analysis.bids_events import (
    _step_durations as _step_durations,
)
from mirrorvr.analysis.bids_events import (
    _write_json as _write_json,
)
from mirrorvr.analysis.bids_events import (
    _write_tsv as _write_tsv,
)
from mirrorvr.analysis.bids_events import (
    events_sidecar as events_sidecar,
)
from mirrorvr.analysis.bids_events import (
    events_table as events_table,
)
from mirrorvr.analysis.bids_events import (
    label as label,
)
from mirrorvr.analysis.bids_events import (
    stimulation_protocol as stimulation_protocol,
)
from mirrorvr.analysis.bids_signals import (
    _COMPONENT as _COMPONENT,
)
from mirrorvr.analysis.bids_signals import (
    _POSE_PART as _POSE_PART,
)
from mirrorvr.analysis.bids_signals import (
    _tracksys as _tracksys,
)
from mirrorvr.analysis.bids_signals import (
    motion_channels as motion_channels,
)
from mirrorvr.analysis.bids_signals import (
    write_edf as write_edf,
)
from mirrorvr.analysis.bids_signals import (
    write_emg as write_emg,
)
from mirrorvr.analysis.bids_signals import (
    write_motion as write_motion,
)
from mirrorvr.analysis.loader import load_recording
from mirrorvr.analysis.recording import Recording, Signal


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

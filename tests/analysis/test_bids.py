"""`mirrorvr export-bids`: required files and columns, Motion-BIDS, EMG, NIBS timing, and the
official bids-validator when it is installed (scripts/bootstrap --dev puts it in .tools/)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.analysis.conftest import write_session_xdf
from tests.conftest import ROOT, mirrorvr_cmd


def _validator() -> str | None:
    local = ROOT / ".tools" / "node_modules" / ".bin" / "bids-validator"
    if local.exists():
        return str(local)
    return shutil.which("bids-validator")


def _export(src: Path, root: Path) -> None:
    res = subprocess.run(
        mirrorvr_cmd("export-bids", str(src), "--out", str(root)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _check_structure(root: Path) -> list[Path]:
    """The required files and columns (BIDS 1.10 + Motion-BIDS), checked without the validator."""
    desc = json.loads((root / "dataset_description.json").read_text())
    assert desc["Name"] and desc["BIDSVersion"] and desc["DatasetType"] == "raw"
    assert desc["HEDVersion"]
    parts = pd.read_csv(root / "participants.tsv", sep="\t")
    assert parts.columns[0] == "participant_id"
    assert all(p.startswith("sub-") for p in parts["participant_id"])
    events = sorted(root.glob("sub-*/ses-*/*/*_events.tsv"))
    assert events
    for ev in events:
        df = pd.read_csv(ev, sep="\t", na_values="n/a")
        assert list(df.columns[:2]) == ["onset", "duration"]
        assert df["onset"].is_monotonic_increasing and (df["duration"] >= 0).all()
        side = json.loads(ev.with_suffix(".json").read_text())
        assert set(side["trial_type"]["Levels"]) >= set(df["trial_type"])
        assert all(side["trial_type"]["HED"][t] for t in set(df["trial_type"]))
        sub, ses = ev.parts[-4], ev.parts[-3]
        assert ev.name.startswith(f"{sub}_{ses}_task-")
    for m in root.glob("sub-*/ses-*/motion/*_motion.tsv"):
        ch = pd.read_csv(str(m).replace("_motion.tsv", "_channels.tsv"), sep="\t")
        assert list(ch.columns[:5]) == ["name", "component", "type", "tracked_point", "units"]
        data = np.loadtxt(m, delimiter="\t", ndmin=2)
        assert data.shape[1] == len(ch)  # no header row, one column per channel
        meta = json.loads(Path(str(m).replace(".tsv", ".json")).read_text())
        assert meta["TaskName"] and meta["SamplingFrequency"] > 0
    return events


def _official(root: Path) -> None:
    exe = _validator()
    if exe is None:
        return
    res = subprocess.run([exe, str(root), "--json"], capture_output=True, text=True, timeout=300)
    out = json.loads(res.stdout)
    errors = out["issues"]["errors"]
    assert not errors, json.dumps(errors, indent=1)[:3000]


def test_export_simulated_session(cue_locked_session: Path, tmp_path: Path) -> None:
    root = tmp_path / "bids"
    _export(cue_locked_session, root)
    (ev,) = _check_structure(root)
    assert ev.relative_to(root).parts[:3] == ("sub-T2", "ses-cuelocked", "beh")
    df = pd.read_csv(ev, sep="\t", na_values="n/a")
    counts = df["trial_type"].value_counts().to_dict()
    assert counts["tms_pulse"] == 8 and counts["cue"] == 8 and counts["imagery"] == 8
    assert counts["laterality_trial"] == 16 and counts["pain_rating"] == 2
    # onsets from the recording start: the cue-locked pulse 300 ms after its cue
    cues = df[df["trial_type"] == "cue"]["onset"].to_numpy()
    pulses = df[df["trial_type"] == "tms_pulse"]["onset"].to_numpy()
    np.testing.assert_allclose(pulses - cues, 0.3, atol=1e-5)
    ratings = df[df["trial_type"] == "pain_rating"]
    assert ratings["value"].notna().all() and (ratings["response_time"] > 0).all()
    side = json.loads(ev.with_suffix(".json").read_text())
    proto = side["StimulationProtocol"]
    assert proto["StimulationMode"] == "cue-locked" and proto["CueLockedDelay"] == 0.3
    assert proto["IntensityPercentRMT"] == 110
    parts = pd.read_csv(root / "participants.tsv", sep="\t")
    assert parts.to_dict("records") == [
        {"participant_id": "sub-T2", "amputation_side": "right", "amputation_level": "transradial"}
    ]
    _official(root)


def test_export_with_poses_and_emg(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sess"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "rec.xdf", folder, emg=True, dropped=[10, 11])
    root = tmp_path / "bids"
    _export(folder, root)
    _check_structure(root)
    base = root / "sub-T1" / "ses-sess"
    tracked = base / "motion" / "sub-T1_ses-sess_task-shorttestplan_tracksys-tracked_motion.tsv"
    assert tracked.exists()
    assert (
        base / "motion" / "sub-T1_ses-sess_task-shorttestplan_tracksys-mirrored_motion.tsv"
    ).exists()
    ch = pd.read_csv(str(tracked).replace("_motion.tsv", "_channels.tsv"), sep="\t")
    assert ch.iloc[0]["type"] == "LATENCY"
    row = ch[ch["name"] == "wrist_qx"].iloc[0]
    assert (row["component"], row["type"], row["tracked_point"]) == ("quat_x", "ORNT", "wrist")
    data = np.loadtxt(tracked, delimiter="\t")
    # the latency column keeps the dropped frames' hole (s from the recording start)
    assert np.diff(data[:, 0]).max() == pytest.approx(3 / 90.0, abs=1e-5)
    side = json.loads((base / "beh" / "sub-T1_ses-sess_task-shorttestplan_events.json").read_text())
    proto = side["StimulationProtocol"]
    assert proto["pulse_repetition_interval"] == 0.05
    assert proto["pulse_train_duration"] == 1.0 and proto["pulse_train_repetition_interval"] == 2.0
    assert proto["pulse_train_repeat_duration"] == 12.0 and proto["PulsesPlanned"] == 120
    assert proto["pulse_duration"] == 0.001
    edf = base / "emg" / "sub-T1_ses-sess_task-shorttestplan_emg.edf"
    raw = edf.read_bytes()
    n_rec, nch = int(raw[236:244]), int(raw[252:256])
    assert nch == 1 and int(raw[256 + 216 : 256 + 224]) == 2000
    assert len(raw) == 512 + n_rec * 2000 * 2
    sig = np.frombuffer(raw[512:], dtype="<i2")
    assert sig.max() > 30000  # the injected MEPs use the digital range
    meta = json.loads((base / "emg" / "sub-T1_ses-sess_task-shorttestplan_emg.json").read_text())
    assert meta["SamplingFrequency"] == 2000.0 and meta["EMGChannelCount"] == 1
    # the legacy validator predates BIDS 1.11's EMG datatype: validate without the emg folder
    shutil.rmtree(base / "emg")
    _official(root)


def test_export_folder_of_sessions_and_foreign_xdf(
    concurrent_session: Path, cue_locked_session: Path, tmp_path: Path
) -> None:
    from tests.analysis.test_loader import _foreign

    study = tmp_path / "study"
    study.mkdir()
    shutil.copytree(concurrent_session, study / "a")
    shutil.copytree(cue_locked_session, study / "b")
    _foreign(study / "lab.xdf")
    root = tmp_path / "bids"
    _export(study, root)
    events = _check_structure(root)
    assert len(events) == 4  # a (beh), b (beh), lab (beh + motion: it has a pose stream)
    parts = pd.read_csv(root / "participants.tsv", sep="\t")
    assert sorted(parts["participant_id"]) == ["sub-T1", "sub-T2", "sub-unknown"]
    lab = pd.read_csv(
        root / "sub-unknown" / "ses-lab" / "beh" / "sub-unknown_ses-lab_task-mirrorvr_events.tsv",
        sep="\t",
    )
    assert list(lab["trial_type"].unique()) == ["marker"] and len(lab) == 9
    assert lab["onset"].iloc[0] == pytest.approx(1.0, abs=1e-6)  # first marker 1 s after start
    _official(root)

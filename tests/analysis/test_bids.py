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


AUTHORS = ("--authors", "A. Researcher; B. Clinician", "--license", "CC0")


def _export(src: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        mirrorvr_cmd("export-bids", str(src), "--out", str(root), *(extra or AUTHORS)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _hed_valid(root: Path) -> int:
    """hedtools validates every events sidecar and every events file with it (HED 8.3.0)."""
    from hed import load_schema_version
    from hed.models import Sidecar, TabularInput

    schema = load_schema_version(
        json.loads((root / "dataset_description.json").read_text())["HEDVersion"]
    )
    checked = 0
    for side in sorted(root.glob("sub-*/ses-*/*/*_events.json")):
        sc = Sidecar(str(side))
        assert not sc.validate(schema), (side, sc.validate(schema)[:3])
        tsv = TabularInput(str(side.with_suffix(".tsv")), sidecar=sc)
        assert not tsv.validate(schema), (side, tsv.validate(schema)[:3])
        checked += 1
    return checked


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
    warnings = {w["key"] for w in out["issues"]["warnings"]}
    assert "NO_AUTHORS" not in warnings


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
    desc = json.loads((root / "dataset_description.json").read_text())
    assert desc["Authors"] == ["A. Researcher", "B. Clinician"] and desc["License"] == "CC0"
    # movements and body parts are tagged, and hedtools accepts every HED string
    assert side["movement"]["HED"]["fist"] == "(Move-upper-extremity, (Close, Hand))"
    assert _hed_valid(root) == 1
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
    # a (beh), b (beh), lab (beh + motion for its pose stream + eeg for its EEG stream)
    assert len(events) == 5
    parts = pd.read_csv(root / "participants.tsv", sep="\t")
    assert sorted(parts["participant_id"]) == ["sub-T1", "sub-T2", "sub-unknown"]
    lab = pd.read_csv(
        root / "sub-unknown" / "ses-lab" / "beh" / "sub-unknown_ses-lab_task-mirrorvr_events.tsv",
        sep="\t",
    )
    assert list(lab["trial_type"].unique()) == ["marker"] and len(lab) == 9
    assert lab["onset"].iloc[0] == pytest.approx(1.0, abs=1e-6)  # first marker 1 s after start
    assert _hed_valid(root) == 5
    _official(root)


def test_eeg_through_mne_bids(tmp_path: Path) -> None:
    mne = pytest.importorskip("mne")
    pytest.importorskip("mne_bids")
    from tests.analysis.test_loader import _foreign
    from tests.analysis.xdfgen import XdfFile, header_xml

    x = tmp_path / "lab.xdf"
    _foreign(x)  # 8-channel EEG at 500 Hz (no unit: µV), markers, a pose stream
    # and a respiration belt at 25 Hz that BIDS has no datatype for: physio when selected
    with XdfFile(tmp_path / "resp.xdf", [header_xml("Belt", "Resp", 1, "float32", 25.0)]) as f:
        f.samples(1, 1002.5 + np.arange(250) / 25.0, np.sin(np.arange(250) / 5.0).reshape(-1, 1))
    cfg = tmp_path / "dataset.toml"
    cfg.write_text(
        '[dataset]\nname = "Mirror TMS pilot"\nauthors = ["A. Researcher"]\n'
        'license = "CC-BY-4.0"\nfunding = ["Test grant 1"]\n'
    )
    root = tmp_path / "bids"
    _export(x, root, "--dataset-config", str(cfg), "--line-freq", "50")
    res = _export(tmp_path / "resp.xdf", root, "--dataset-config", str(cfg), "--stream", "Resp")
    assert "no dataset authors" not in res.stderr
    desc = json.loads((root / "dataset_description.json").read_text())
    assert (desc["Name"], desc["Authors"], desc["License"], desc["Funding"]) == (
        "Mirror TMS pilot",
        ["A. Researcher"],
        "CC-BY-4.0",
        ["Test grant 1"],
    )
    eeg = root / "sub-unknown" / "ses-lab" / "eeg"
    stem = "sub-unknown_ses-lab_task-mirrorvr_acq-BioSemi"
    side = json.loads((eeg / f"{stem}_eeg.json").read_text())
    assert side["SamplingFrequency"] == 500.0 and side["EEGChannelCount"] == 8
    assert side["PowerLineFrequency"] == 50.0
    ch = pd.read_csv(eeg / f"{stem}_channels.tsv", sep="\t")
    assert list(ch["type"]) == ["EEG"] * 8 and list(ch["units"]) == ["µV"] * 8
    raw = mne.io.read_raw_edf(eeg / f"{stem}_eeg.edf", verbose="error")
    from mirrorvr.analysis.loader import load_recording

    src = load_recording(x).other["BioSemi"]
    got = raw.get_data(picks="E0")[0]
    assert len(got) >= len(src)  # EDF records are whole: padded at the end
    # the samples themselves, in volts, to EDF's 16-bit resolution
    step = np.ptp(src.data[:, 0]) * 1e-6 / 65535
    np.testing.assert_allclose(got[: len(src)], src.data[:, 0] * 1e-6, atol=2 * step)
    ev = pd.read_csv(eeg / f"{stem}_events.tsv", sep="\t")
    assert ev["onset"].iloc[0] == pytest.approx(1.0, abs=1e-6)  # from the EEG's first sample
    physio = root / "sub-unknown" / "ses-resp" / "beh"
    meta = json.loads(
        (physio / "sub-unknown_ses-resp_task-mirrorvr_recording-Belt_physio.json").read_text()
    )
    assert meta["SamplingFrequency"] == 25.0 and meta["Columns"] == ["ch0"]
    data = np.loadtxt(physio / "sub-unknown_ses-resp_task-mirrorvr_recording-Belt_physio.tsv.gz")
    assert data.shape == (250,)
    assert _hed_valid(root) == 4
    _official(root)


def test_every_movement_has_hed() -> None:
    from mirrorvr.analysis.bids import MOVEMENT_HED
    from mirrorvr.config.plan import HAND_MOVEMENTS, LEG_MOVEMENTS

    assert set(MOVEMENT_HED) == set(HAND_MOVEMENTS) | set(LEG_MOVEMENTS)


def test_dataset_config_errors_name_the_field(tmp_path: Path) -> None:
    from mirrorvr.analysis.bids import load_dataset_info
    from mirrorvr.analysis.loader import AnalysisError

    cfg = tmp_path / "d.toml"
    cfg.write_text('[dataset]\nauthor = "typo"\n')
    with pytest.raises(AnalysisError, match=r"d\.toml: dataset\.author: unknown field"):
        load_dataset_info(cfg)
    cfg.write_text("[dataset]\nauthors = 3\n")
    with pytest.raises(AnalysisError, match=r"dataset\.authors: a list of strings"):
        load_dataset_info(cfg)
    assert load_dataset_info(None, authors="A; B").authors == ("A", "B")

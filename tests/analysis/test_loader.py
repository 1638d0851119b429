"""load_recording: session folders, our XDF, foreign XDF conventions, damaged files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.analysis.loader import AnalysisError, load_recording
from tests.analysis.conftest import write_session_xdf
from tests.analysis.xdfgen import XdfFile, header_xml


def test_session_folder_tables(concurrent_session: Path) -> None:
    rec = load_recording(concurrent_session)
    assert rec.kind == "session" and rec.patient == "T-1"
    assert len(rec.pulses) == 120 and set(rec.pulses["phase"]) == {"concurrent"}
    assert rec.pulses["train"].nunique() == 6
    assert list(rec.ratings["timepoint"]) == ["pre", "post"]
    assert len(rec.cues) == 6 and rec.cues["movement"].notna().all()
    assert rec.t0 == rec.of_kind("session_start")["t"].iloc[0]
    assert not rec.poses and rec.frames is None and not rec.warnings


def test_session_folder_with_xdf_gets_signals(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(folder / "recording.xdf", folder, emg=True)
    rec = load_recording(folder)
    assert len(rec.pulses) == 120  # events still from the authoritative log
    assert set(rec.poses) == {"mirrorvr-pose-tracked", "mirrorvr-pose-mirrored"}
    assert rec.frames is not None and rec.frames.name == "mirrorvr-frames"
    assert list(rec.emg) == ["EMG-amp"] and rec.emg["EMG-amp"].nominal_srate == 2000.0
    pose = rec.poses["mirrorvr-pose-tracked"].frame()
    assert list(pose.columns[:3]) == ["t", "palm_px", "palm_py"]


def test_xdf_of_our_session_equals_the_log(concurrent_session: Path, tmp_path: Path) -> None:
    x = tmp_path / "ours.xdf"
    write_session_xdf(x, concurrent_session)
    a, b = load_recording(concurrent_session), load_recording(x)
    assert b.kind == "xdf" and b.patient == "T-1"
    assert len(b.events) == len(a.events)
    np.testing.assert_allclose(b.pulses["t"], a.pulses["t"], atol=1e-9)
    assert list(b.laterality.columns) == list(a.laterality.columns)


def test_dropped_frames_are_not_dejittered(concurrent_session: Path, tmp_path: Path) -> None:
    # a 0.5 s hole in a can_drop_samples stream must stay where it was: linear dejitter
    # would spread it over the whole stream and move every frame
    x = tmp_path / "holes.xdf"
    write_session_xdf(x, concurrent_session, dropped=list(range(300, 345)))
    rec = load_recording(x)
    ts = rec.frames.timestamps  # type: ignore[union-attr]
    d = np.diff(ts)
    assert d.max() == pytest.approx(46 / 90.0, abs=1e-6)
    assert np.median(d) == pytest.approx(1 / 90.0, abs=1e-9)


def _foreign(path: Path, *, truncate: int = 0) -> None:
    """LabRecorder-style file: numeric marker codes, EEG at 500 Hz, pose at 90 Hz, and clock
    offsets of a second machine 2.5 s behind the recorder."""
    headers = [
        header_xml("Trigger", "Markers", 1, "int32", 0.0, source_id="bb-1"),
        header_xml("BioSemi", "EEG", 8, "float32", 500.0, labels=[f"E{i}" for i in range(8)]),
        header_xml("Vive", "MoCap", 7, "float32", 90.0, labels=["x", "y", "z", "qw", "qx", "qy", "qz"]),
    ]  # fmt: skip
    x = XdfFile(path, headers)
    rng = np.random.default_rng(0)
    t = 1000.0 + np.arange(0, 20, 1 / 500.0)
    x.samples(2, t, rng.normal(size=(len(t), 8)).astype(np.float32))
    tp = 1000.0 + np.arange(0, 20, 1 / 90.0)
    x.samples(3, tp, rng.normal(size=(len(tp), 7)).astype(np.float32))
    x.samples(1, 1000.0 + np.arange(1, 19, 2.0), np.arange(9).reshape(-1, 1) % 3 + 1)
    for k in range(5):  # every 5 s, a constant offset: remote clock = local − 2.5 s
        for sid in (1, 2, 3):
            x.clock_offset(sid, 1000.0 + 5 * k, 2.5)
    x.boundary()
    x.close()
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[:truncate])


def test_foreign_xdf(tmp_path: Path) -> None:
    x = tmp_path / "lab.xdf"
    _foreign(x)
    rec = load_recording(x)
    roles = dict(zip(rec.streams["name"], rec.streams["role"], strict=True))
    assert roles == {"Trigger": "markers", "BioSemi": "other", "Vive": "pose"}
    assert list(rec.markers["value"]) == [1, 2, 3, 1, 2, 3, 1, 2, 3]
    # clock sync applied: 1001 s remote → 1003.5 s local
    assert rec.markers["t"].iloc[0] == pytest.approx(1003.5, abs=1e-6)
    assert rec.other["BioSemi"].effective_srate == pytest.approx(500.0, rel=1e-6)
    assert len(rec.events) == 0 and len(rec.pulses) == 0
    assert rec.t0 == pytest.approx(1002.5, abs=1e-6)


def test_truncated_xdf_loads_what_it_can(tmp_path: Path) -> None:
    x = tmp_path / "cut.xdf"
    _foreign(x)
    full = x.stat().st_size
    x.unlink()
    _foreign(x, truncate=full * 2 // 3)  # cut mid-chunk, no footers: a crashed recorder
    rec = load_recording(x)
    assert len(rec.other["BioSemi"]) > 0
    assert rec.warnings and "truncated" in rec.warnings[0]


@pytest.mark.parametrize("content", [b"", b"not an xdf file at all", b"XDF:\x01"])
def test_unreadable_files_are_clear_errors(tmp_path: Path, content: bytes) -> None:
    x = tmp_path / "bad.xdf"
    x.write_bytes(content)
    with pytest.raises(AnalysisError, match=r"bad\.xdf"):
        load_recording(x)


def test_not_a_recording(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="no such"):
        load_recording(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AnalysisError, match="not a session folder or an XDF"):
        load_recording(tmp_path / "notes.txt")
    with pytest.raises(AnalysisError, match=r"no events\.jsonl"):
        load_recording(tmp_path)

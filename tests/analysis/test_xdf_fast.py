"""The fast XDF reader gives the same recording as pyxdf; it reads values only when asked."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mirrorvr.analysis import xdf_fast
from mirrorvr.analysis.loader import load_recording
from mirrorvr.analysis.outcomes import run_outcomes
from mirrorvr.analysis.qa import run_qa
from mirrorvr.analysis.recording import Recording
from mirrorvr.streams import xdf_writer
from tests.analysis.conftest import write_session_xdf
from tests.analysis.test_loader import _foreign
from tests.analysis.xdfgen import header_xml

TABLES = ("events", "pulses", "missed", "cues", "ratings", "laterality", "markers", "streams")


def assert_same(a: Recording, b: Recording) -> None:
    """Every table equal; every signal's values equal and timestamps within 1 ns (the fast
    reader's dejitter fits the same lines with sums instead of lstsq: rounding differs)."""
    for name in TABLES:
        pd.testing.assert_frame_equal(
            getattr(a, name), getattr(b, name), obj=name, check_exact=False, atol=1e-9, rtol=0
        )
    assert a.t0 == pytest.approx(b.t0, abs=1e-9)
    sa, sb = {s.name: s for s in a.signals()}, {s.name: s for s in b.signals()}
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_allclose(sa[k].timestamps, sb[k].timestamps, atol=1e-9, rtol=0)
        np.testing.assert_array_equal(sa[k].data, sb[k].data, err_msg=k)
        assert sa[k].effective_srate == pytest.approx(sb[k].effective_srate, rel=1e-12)
        assert sa[k].channels == sb[k].channels
    for k in a.clock_offsets:
        np.testing.assert_array_equal(a.clock_offsets[k][1], b.clock_offsets[k][1])


def test_same_tables_as_pyxdf(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    write_session_xdf(
        folder / "rec.xdf",
        folder,
        emg=True,
        dropped=[5, 6, 7],
        clock_offsets=[(float(t), 1e-5 * k) for k, t in enumerate(range(0, 40, 5))],
    )
    # a session folder (its own session.xdf + ours), our XDF alone, a foreign XDF
    _foreign(tmp_path / "lab.xdf")
    for src in (folder, folder / "rec.xdf", tmp_path / "lab.xdf"):
        fast = load_recording(src, reader="fast")
        slow = load_recording(src, reader="pyxdf")
        assert not fast.warnings, fast.warnings  # the fast path applied
        assert_same(fast, slow)


def test_values_read_only_when_used(concurrent_session: Path, tmp_path: Path) -> None:
    x = tmp_path / "rec.xdf"
    write_session_xdf(x, concurrent_session, emg=True)
    full = load_recording(x)
    rec = load_recording(x, values={"emg", "frames"})
    pose = rec.poses["mirrorvr-pose-tracked"]
    assert rec.emg["EMG-amp"].loaded and not pose.loaded and len(pose) > 100
    rec.frames = None  # frame times then come from the first pose stream: its timestamps only
    run_qa(rec)
    assert not pose.loaded
    # rows read from the file (across chunk boundaries: 4096 samples a chunk) equal the data
    np.testing.assert_array_equal(
        pose.rows(4000, 9000), full.poses["mirrorvr-pose-tracked"].data[4000:9000]
    )
    assert not pose.loaded
    # MEPs read only the EMG windows around pulses, and measure the same
    lazy = load_recording(x, values={"frames"})
    mep = run_outcomes(lazy)["mep"]
    assert not lazy.emg["EMG-amp"].loaded
    assert mep["per_pulse"] == run_outcomes(full)["mep"]["per_pulse"]
    np.testing.assert_array_equal(pose.data, full.poses["mirrorvr-pose-tracked"].data)
    assert pose.loaded


def _omitted_stamps(path: Path) -> None:
    """LabRecorder's habit: a regular stream whose samples after the first omit their stamp."""
    v = xdf_writer.varlen
    hdr = header_xml("EEG-lr", "EEG", 2, "float32", 100.0, labels=["C3", "C4"])
    body = bytearray(struct.pack("<I", 1)) + v(50)
    for k in range(50):
        body += b"\x08" + struct.pack("<d", 10.0) if k == 0 else b"\x00"
        body += np.array([k, -k], dtype="<f4").tobytes()
    data = bytearray(b"XDF:")
    data += xdf_writer.chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    data += xdf_writer.chunk(2, struct.pack("<I", 1) + hdr.encode())
    data += xdf_writer.chunk(3, bytes(body))
    data += xdf_writer.chunk(
        6, struct.pack("<I", 1) + b"<info><sample_count>50</sample_count></info>"
    )
    path.write_bytes(bytes(data))


def test_omitted_timestamps_go_through_pyxdf(tmp_path: Path) -> None:
    x = tmp_path / "lr.xdf"
    _omitted_stamps(x)
    with pytest.raises(xdf_fast.NotFast, match="without their own timestamps"):
        xdf_fast.read_xdf(x)
    rec = load_recording(x, reader="fast")
    assert any("read with pyxdf" in w for w in rec.warnings)
    sig = rec.other["EEG-lr"]
    np.testing.assert_allclose(sig.timestamps, 10.0 + np.arange(50) / 100.0)
    assert_same(rec, load_recording(x, reader="pyxdf"))


def test_layout_constants_match_the_writer() -> None:
    # one XDF spec, two modules (analysis may not import streams/): they must agree
    assert xdf_fast.MAGIC == xdf_writer.MAGIC
    assert xdf_fast.BOUNDARY_SIGNATURE == xdf_writer.BOUNDARY_SIGNATURE
    assert xdf_fast.NUMERIC_DTYPES == xdf_writer.NUMERIC_DTYPES
    for name in ("FILE_HEADER", "STREAM_HEADER", "SAMPLES", "CLOCK_OFFSET", "BOUNDARY"):
        assert getattr(xdf_fast, f"TAG_{name}") == getattr(xdf_writer, f"TAG_{name}")
    assert xdf_fast.TAG_STREAM_FOOTER == xdf_writer.TAG_STREAM_FOOTER

"""Damaged input is named: one test per kind, each giving a warning (terminal and report) and
a `warn` in timing QA."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.analysis.loader import load_recording
from mirrorvr.analysis.qa import run_qa
from mirrorvr.analysis.recording import Recording
from mirrorvr.analysis.report import analyze_paths, find_recordings
from mirrorvr.session.eventlog import read_events
from tests.analysis.conftest import write_session_xdf
from tests.analysis.xdfgen import XdfFile, header_xml
from tests.conftest import mirrorvr_cmd


def _damage_metric(rec: Recording) -> dict:
    m = next(m for m in run_qa(rec) if m.name == "recording_damage")
    return {"status": m.status, "kinds": set(m.detail["kinds"])}


def _report_says(src: Path, out: Path, words: str) -> None:
    """The report has a warning line with ``words``; so does summary.json."""
    summary = analyze_paths([src], out)
    sess = summary["sessions"][0]
    assert any(words in w for w in sess["warnings"]), sess["warnings"]
    html = (out / "report.html").read_text()
    assert words in html


def _session_with_xdf(src: Path, tmp: Path) -> Path:
    folder = tmp / "s"
    shutil.copytree(src, folder)
    (folder / "session.xdf").unlink(missing_ok=True)  # only our XDF: one marker stream
    write_session_xdf(folder / "rec.xdf", folder, emg=True)
    return folder


def test_truncated_xdf(concurrent_session: Path, tmp_path: Path) -> None:
    folder = _session_with_xdf(concurrent_session, tmp_path)
    x = folder / "rec.xdf"
    data = x.read_bytes()
    x.write_bytes(data[: len(data) * 2 // 3 + 7])  # cut mid-chunk
    rec = load_recording(folder)
    assert _damage_metric(rec) == {"status": "warn", "kinds": {"truncated", "no_footer"}}
    # the terminal, the report and summary.json say it
    res = subprocess.run(
        mirrorvr_cmd("analyze", str(folder), "--out", str(tmp_path / "r")),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr
    assert "warning:" in res.stderr and "truncated" in " ".join(res.stderr.split())
    words = "truncated: the file ends inside a chunk"
    assert words in (tmp_path / "r" / "report.html").read_text()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert any(words in w for w in summary["sessions"][0]["warnings"])


def test_missing_footers(tmp_path: Path) -> None:
    # a recorder killed at a chunk boundary: every chunk whole, no footers
    x = tmp_path / "killed.xdf"
    f = XdfFile(x, [header_xml("EEG", "EEG", 2, "float32", 100.0)])
    f.samples(1, 5.0 + np.arange(500) / 100.0, np.zeros((500, 2), np.float32))
    size = os.fstat(f._w._fd).st_size  # before close writes the footers
    f.close()
    os.truncate(x, size)
    rec = load_recording(x)
    assert _damage_metric(rec) == {"status": "warn", "kinds": {"no_footer"}}
    assert len(rec.other["EEG"]) == 500  # nothing lost
    _report_says(x, tmp_path / "r", "no footer for stream(s) EEG")


def test_clock_reset(tmp_path: Path) -> None:
    # the sender's machine restarted: its clock starts again near 0, the offsets jump
    x = tmp_path / "reset.xdf"
    with XdfFile(x, [header_xml("EMG", "EMG", 1, "float32", 100.0)]) as f:
        a = 1000.0 + np.arange(2000) / 100.0  # 20 s
        b = 3.0 + np.arange(2000) / 100.0  # restarted at 3 s
        f.samples(1, a, np.zeros((2000, 1), np.float32))
        for t in np.arange(1000.0, 1020.0, 2.0):
            f.clock_offset(1, t, 0.0)
        f.samples(1, b, np.zeros((2000, 1), np.float32))
        for t in np.arange(3.0, 23.0, 2.0):
            f.clock_offset(1, t, 1020.0)
    rec = load_recording(x)
    d = _damage_metric(rec)
    assert d["status"] == "warn" and "clock_reset" in d["kinds"]
    _report_says(x, tmp_path / "r", "clock reset")


def test_timestamps_jump_back_without_offsets(tmp_path: Path) -> None:
    x = tmp_path / "jump.xdf"
    with XdfFile(x, [header_xml("Trig", "Markers", 1, "int32", 0.0)]) as f:
        f.samples(1, [100.0, 101.0, 5.0, 6.0], np.arange(4).reshape(-1, 1))
    rec = load_recording(x)
    assert _damage_metric(rec) == {"status": "warn", "kinds": {"time_jump"}}
    _report_says(x, tmp_path / "r", "timestamps jump back")


def test_gap(concurrent_session: Path, tmp_path: Path) -> None:
    folder = _session_with_xdf(concurrent_session, tmp_path)
    x = folder / "rec.xdf"
    x.unlink()
    write_session_xdf(x, folder, dropped=list(range(300, 480)))  # 2 s without frames
    rec = load_recording(folder)
    gaps = next(m for m in run_qa(rec) if m.name == "stream_gap_ms")
    assert gaps.status == "fail" and gaps.max == pytest.approx(181 / 90 * 1000, abs=0.01)
    _report_says(folder, tmp_path / "r", "gap(s) in the data, longest 2011 ms")


def test_log_and_xdf_disagree(concurrent_session: Path, tmp_path: Path) -> None:
    folder = _session_with_xdf(concurrent_session, tmp_path)
    # the log lost its last three events and one pulse time moved 5 ms after the XDF was made
    lines = (folder / "events.jsonl").read_text().splitlines()[:-3]
    k = next(i for i, line in enumerate(lines) if '"kind":"pulse"' in line.replace(" ", ""))
    obj = json.loads(lines[k])
    obj["t"] += 0.005
    lines[k] = json.dumps(obj)
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    rec = load_recording(folder)
    assert _damage_metric(rec) == {"status": "warn", "kinds": {"log_mismatch"}}
    (w,) = [w for w in rec.warnings if "disagree" in w]
    assert "3 XDF event(s) not in the log" in w and "differ by up to 5.0 ms" in w
    _report_says(folder, tmp_path / "r", "the event log and the XDF disagree")


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_log_fallback_is_announced(concurrent_session: Path, tmp_path: Path, how: str) -> None:
    folder = _session_with_xdf(concurrent_session, tmp_path)
    n = len(read_events(folder / "events.jsonl").events)
    if how == "missing":
        (folder / "events.jsonl").unlink()
    else:
        (folder / "events.jsonl").write_text("")
    rec = load_recording(folder)
    assert len(rec.events) == n  # the XDF's markers stand in
    assert _damage_metric(rec) == {"status": "warn", "kinds": {"log_fallback"}}
    _report_says(folder, tmp_path / "r", f"{how}; events taken from the XDF")
    # in a study folder it is still found as a session (not as a bare XDF inside it)
    (folder / "session.xdf").write_bytes((folder / "rec.xdf").read_bytes())
    (folder / "rec.xdf").unlink()
    assert find_recordings(tmp_path) == [folder]


def test_intact_recording_is_clean(concurrent_session: Path, tmp_path: Path) -> None:
    folder = _session_with_xdf(concurrent_session, tmp_path)
    rec = load_recording(folder)
    assert rec.damage == [] and _damage_metric(rec)["status"] == "pass"

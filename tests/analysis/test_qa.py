"""Timing QA figures against known injected errors, dropped frames, offsets and gaps."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mirrorvr.analysis.loader import load_recording
from mirrorvr.analysis.qa import (
    QASettings,
    Threshold,
    ThresholdError,
    load_settings,
    parse_threshold,
    run_qa,
)
from tests.analysis.conftest import shift_pulses, write_session_xdf
from tests.conftest import mirrorvr_cmd


def _metric(summary: dict, name: str) -> dict:
    return next(m for m in summary["sessions"][0]["qa"]["metrics"] if m["name"] == name)


def _analyze(path: Path, out: Path, *extra: str) -> dict:
    res = subprocess.run(
        mirrorvr_cmd("analyze", str(path), "--out", str(out), *extra),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads((out / "summary.json").read_text())


def test_injected_pulse_errors(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    # 120 pulses: most 0.2 ms late, every 10th 3 ms late, one 7 ms early
    err = np.full(120, 0.0002)
    err[::10] = 0.003
    err[57] = -0.007
    shift_pulses(folder, err)
    s = _analyze(folder, tmp_path / "out")
    m = _metric(s, "pulse_timing_error_ms")
    expect = np.abs(err) * 1000
    assert m["n"] == 120
    assert m["median"] == pytest.approx(np.median(expect), abs=1e-6)
    assert m["p95"] == pytest.approx(np.percentile(expect, 95), abs=1e-6)
    assert m["max"] == pytest.approx(7.0, abs=1e-6)
    assert m["status"] == "fail"  # > 5 ms
    assert m["detail"]["mean_signed_ms"] == pytest.approx(err.mean() * 1000, abs=1e-6)
    # IPI error: within each train, interval k = err[k] − err[k−1]
    ipi = _metric(s, "ipi_error_ms")
    d = np.concatenate([np.diff(err[i : i + 20]) for i in range(0, 120, 20)]) * 1000
    assert ipi["n"] == len(d) == 114
    assert ipi["max"] == pytest.approx(np.abs(d).max(), abs=1e-6)
    ((label, per),) = ipi["detail"]["by_protocol"].items()
    assert label.startswith("concurrent") and "50 ms" in label and per["n"] == 114
    assert s["sessions"][0]["qa"]["status"] == "fail"


def test_clean_simulated_session_passes(concurrent_session: Path, tmp_path: Path) -> None:
    s = _analyze(concurrent_session, tmp_path / "out")
    m = _metric(s, "pulse_timing_error_ms")
    assert m["max"] < 1e-3 and m["status"] == "pass"  # the log rounds t to 0.1 µs
    assert _metric(s, "frame_time_ms")["status"] == "n/a"  # no frame stream in a bare folder
    assert s["sessions"][0]["qa"]["status"] == "pass"


def test_cue_pulse_latency(cue_locked_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(cue_locked_session, folder)
    err = np.array([0.0, 0.001, 0.002, 0.0, 0.0, 0.0, 0.012, 0.0])
    shift_pulses(folder, err)
    s = _analyze(folder, tmp_path / "out")
    m = _metric(s, "cue_pulse_latency_error_ms")
    assert m["n"] == 8
    assert m["max"] == pytest.approx(12.0, abs=1e-6) and m["status"] == "fail"
    lat = m["detail"]["latency_ms"]
    # cue times in the log are rounded to 0.1 µs
    assert lat["median"] == pytest.approx(300.0, abs=1e-3)
    assert lat["max"] == pytest.approx(312.0, abs=1e-3)
    assert m["detail"]["planned_latency_ms"] == pytest.approx(300.0, abs=1e-3)


def test_dropped_frames_offsets_and_gaps(concurrent_session: Path, tmp_path: Path) -> None:
    x = tmp_path / "rec.xdf"
    dropped = [100, 101, 102, 500, 900, *range(1000, 1045)]  # 50 frames, one 0.5 s hole
    # offsets: a straight line (drift) plus one 0.8 ms excursion
    offsets = [(t, 0.010 + 1e-5 * t) for t in np.arange(0.0, 14.0, 2.0)]
    offsets[3] = (offsets[3][0], offsets[3][1] + 0.0008)
    facts = write_session_xdf(x, concurrent_session, dropped=dropped, clock_offsets=offsets)
    s = _analyze(x, tmp_path / "out")
    d = _metric(s, "dropped_frames_pct")
    assert d["detail"]["dropped"] == 50 == facts["dropped"]
    assert d["value"] == pytest.approx(100 * 50 / facts["due"], rel=1e-9)
    assert d["status"] == "fail"  # > 2 %
    ft = _metric(s, "frame_time_ms")
    assert ft["median"] == pytest.approx(1000 / 90, abs=1e-6)
    assert ft["max"] == pytest.approx(46 * 1000 / 90, abs=1e-3)
    gaps = _metric(s, "stream_gap_ms")
    # the 46-frame hole is a gap in the frame stream and both pose streams; timestamps are
    # clock-synchronised, so the 10 µs/s drift of the offsets stretches it by 1e-5
    assert gaps["n"] == 3 and gaps["max"] == pytest.approx(46 * 1000 / 90 * (1 + 1e-5), abs=1e-4)
    assert gaps["status"] == "warn"
    off = _metric(s, "clock_offset_jitter_ms")
    assert 0.5 < off["max"] < 0.8 and off["status"] == "warn"
    per = off["detail"]["streams"]["mirrorvr-frames"]
    assert per["median_ms"] == pytest.approx(10.06, abs=0.05)


def test_thresholds_toml_and_cli(concurrent_session: Path, tmp_path: Path) -> None:
    folder = tmp_path / "s"
    shutil.copytree(concurrent_session, folder)
    shift_pulses(folder, np.full(120, 0.003))
    toml = tmp_path / "qa.toml"
    toml.write_text('[thresholds.pulse_timing_error_ms]\nwarn = 4.0\nfail = 8.0\nstat = "p95"\n')
    s = _analyze(folder, tmp_path / "a", "--thresholds", str(toml))
    assert _metric(s, "pulse_timing_error_ms")["status"] == "pass"
    assert s["thresholds"]["pulse_timing_error_ms"] == {"warn": 4.0, "fail": 8.0, "stat": "p95"}
    s = _analyze(folder, tmp_path / "b", "--threshold", "pulse_timing_error_ms=2,8")
    assert _metric(s, "pulse_timing_error_ms")["status"] == "warn"


def test_threshold_errors_are_clear(tmp_path: Path) -> None:
    assert parse_threshold("frame_time_ms=10,20,p95")[1] == Threshold(10, 20, "p95")
    for bad, msg in [
        ("nope=1,2", "unknown metric"),
        ("frame_time_ms=1", "NAME=WARN,FAIL"),
        ("frame_time_ms=a,b", "numbers"),
        ("frame_time_ms=3,2", "warn <= fail"),
        ("frame_time_ms=1,2,p42", "stat"),
    ]:
        with pytest.raises(ThresholdError, match=msg):
            parse_threshold(bad)
    p = tmp_path / "t.toml"
    p.write_text("[thresholds.bogus]\nwarn = 1\n")
    with pytest.raises(ThresholdError, match=r"t\.toml: thresholds\.bogus"):
        load_settings(p)
    res = subprocess.run(
        mirrorvr_cmd("analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--threshold", "x=1"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2 and "NAME=WARN,FAIL" in " ".join(res.stderr.split())
    assert "Traceback" not in res.stderr


def test_run_qa_on_foreign_xdf_without_stimulation(tmp_path: Path) -> None:
    from tests.analysis.test_loader import _foreign

    x = tmp_path / "lab.xdf"
    _foreign(x)
    metrics = {m.name: m for m in run_qa(load_recording(x), QASettings())}
    assert metrics["pulse_timing_error_ms"].status == "n/a"
    assert metrics["frame_time_ms"].detail["stream"] == "Vive"  # pose stream stands in
    assert metrics["dropped_frames_pct"].value == 0.0
    assert metrics["clock_offset_jitter_ms"].max == pytest.approx(0.0, abs=1e-9)
    assert metrics["stream_gap_ms"].status == "pass"

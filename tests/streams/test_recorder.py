"""The recorder records real LSL streams from another process; the file survives SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from mirrorvr.streams.recorder import Recorder
from mirrorvr.streams.xdf_repair import repair_xdf, scan_xdf


def producer(name: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.streams.producers", name, *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def sent(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return int(out.split("sent ")[1].split()[0])


@pytest.mark.parametrize("fmt", ["int16", "double64", "string"])
def test_records_streams_of_another_process(tmp_path: Path, lsl_name: str, fmt: str) -> None:
    path = tmp_path / "rec.xdf"
    statuses: list[tuple[str, dict]] = []
    rec = Recorder(path, [f"name='{lsl_name}'"], on_status=lambda w, d: statuses.append((w, d)))
    rec.start()
    p = producer(lsl_name, "--fmt", fmt, "--channels", "3", "--srate", "200", "--seconds", "1.5")
    n = sent(p)
    deadline = time.monotonic() + 30
    while rec.samples(lsl_name) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    rec.stop()
    (s,), _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    assert s["info"]["name"] == [lsl_name]
    assert s["info"]["desc"][0]["channels"][0]["channel"][2]["label"] == ["ch2"]
    assert len(s["time_stamps"]) == n == 300
    idx = np.arange(n)
    if fmt == "string":
        assert s["time_series"][7] == ["s7"] * 3
    else:
        np.testing.assert_array_equal(s["time_series"][:, 0], idx % 100)
    assert np.all(np.diff(s["time_stamps"]) > 0)
    assert s["clock_times"], "a clock offset is measured when the stream connects"
    assert abs(s["clock_values"][0]) < 0.01  # same machine
    assert s["footer"]["info"]["sample_count"] == [str(n)]
    assert [w for w, _ in statuses][:1] == ["stream_found"]


def test_a_stream_that_goes_and_returns_is_reattached(tmp_path: Path, lsl_name: str) -> None:
    path = tmp_path / "gap.xdf"
    statuses: list[str] = []
    rec = Recorder(path, [f"name='{lsl_name}'"], on_status=lambda w, d: statuses.append(w))
    rec.start()
    first = sent(producer(lsl_name, "--srate", "100", "--seconds", "1", "--linger", "2"))
    # the outlet is gone; the same source id comes back from a new process
    second = sent(producer(lsl_name, "--srate", "100", "--seconds", "1"))
    deadline = time.monotonic() + 30
    while rec.samples(lsl_name) < first + second and time.monotonic() < deadline:
        time.sleep(0.05)
    rec.stop()
    assert "lost" in statuses and "restored" in statuses
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    assert len(streams) == 1  # the returning stream continues the same XDF stream
    assert len(streams[0]["time_stamps"]) == first + second


RECORD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from mirrorvr.streams.recorder import Recorder
    rec = Recorder(sys.argv[1], [f"name='{sys.argv[2]}'"], offset_interval_s=0.5,
                   boundary_interval_s=0.3)
    rec.start()
    while rec.samples(sys.argv[2]) == 0:
        time.sleep(0.01)
    print("recording", flush=True)
    time.sleep(600)
    """
)


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_loadable_file(tmp_path: Path, lsl_name: str) -> None:
    """The recorder is killed mid-recording several times; every file loads and repairs."""
    rng = random.Random(os.getpid())
    prod = producer(lsl_name, "--srate", "2000", "--channels", "8", "--forever")
    try:
        for k in range(6):
            path = tmp_path / f"kill{k}.xdf"
            recp = subprocess.Popen(
                [sys.executable, "-c", RECORD_SCRIPT, str(path), lsl_name],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert recp.stdout is not None
            if k % 2 == 0:  # mid-recording
                assert recp.stdout.readline().strip() == "recording"
                time.sleep(rng.uniform(0.0, 1.5))
            else:  # any moment from start-up on (imports, file creation, first headers)
                time.sleep(rng.uniform(0.0, 3.0))
            recp.send_signal(signal.SIGKILL)
            recp.wait(30)
            if not path.exists():
                assert k % 2 == 1  # killed before the file was created: nothing to load
                continue
            streams, _ = pyxdf.load_xdf(str(path))  # as the crash left it: no footer
            before = {s["info"]["stream_id"]: len(s["time_stamps"]) for s in streams}
            report = repair_xdf(path)
            assert report.footers_added == sorted(before)
            streams2, _ = pyxdf.load_xdf(str(path))
            for s2 in streams2:
                n = before[s2["info"]["stream_id"]]
                assert s2["footer"]["info"]["sample_count"] == [str(n)]
            assert not repair_xdf(path).changed
            if k % 2 == 0:
                assert sum(before.values()) > 0
    finally:
        prod.kill()
        prod.wait()


def test_repair_trims_a_torn_tail_and_adds_footers(tmp_path: Path) -> None:
    from mirrorvr.streams.xdf_writer import XdfWriter

    path = tmp_path / "torn.xdf"
    hdr = (
        '<?xml version="1.0"?><info><name>a</name><channel_count>2</channel_count>'
        "<channel_format>float32</channel_format><nominal_srate>10</nominal_srate></info>"
    )
    w = XdfWriter(path, [hdr, hdr.replace("float32", "string").replace(">a<", ">b<")])
    w.write_samples(1, [1.0, 2.0, 3.0], np.ones((3, 2)))
    w.write_samples(2, [1.5], [["x", "y"]])
    w.write_clock_offset(1, 2.0, 0.25)
    size = path.stat().st_size
    w.write_samples(1, [4.0], [[1.0, 1.0]])
    os.close(w._fd)  # simulate the process dying: nothing more is written
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 3)  # and the last chunk torn
    scan = scan_xdf(path)
    assert scan.valid_end == size and "ends inside a chunk" in scan.problem
    report = repair_xdf(path)
    assert report.torn_bytes > 0 and report.footers_added == [1, 2]
    assert (tmp_path / "torn.xdf.torn").stat().st_size == report.torn_bytes
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    a = next(s for s in streams if s["info"]["name"] == ["a"])
    assert a["footer"]["info"]["sample_count"] == ["3"]
    assert a["footer"]["info"]["last_timestamp"] == ["3.0"]
    assert a["footer"]["info"]["clock_offsets"][0]["offset"][0]["value"] == ["0.25"]

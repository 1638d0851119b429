"""`mirrorvr record`, `mirrorvr xdf repair|info` from the command line."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyxdf

from mirrorvr.streams.xdf_repair import scan_xdf
from mirrorvr.streams.xdf_writer import XdfWriter
from tests.conftest import mirrorvr_cmd

ROOT = Path(__file__).resolve().parents[2]


def test_record_command_records_a_named_stream(tmp_path: Path, lsl_name: str) -> None:
    out = tmp_path / "r.xdf"
    rec = subprocess.Popen(
        mirrorvr_cmd("record", lsl_name, "--out", str(out)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        prod = subprocess.run(
            [*mirrorvr_cmd()[:1], "-m", "tests.streams.producers", lsl_name, "--seconds", "1",
             "--srate", "100"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert prod.returncode == 0, prod.stderr
        deadline = time.monotonic() + 60  # until the file holds every sample (it is live)
        while time.monotonic() < deadline:
            streams = scan_xdf(out).streams if out.exists() else {}
            if any(s.count == 100 for s in streams.values()):
                break
            time.sleep(0.2)
    finally:
        rec.send_signal(signal.SIGTERM)  # stops cleanly: footers written
        stdout, stderr = rec.communicate(timeout=120)
    assert rec.returncode == 0, stderr
    assert f"{lsl_name}: 100 samples" in stdout
    (s,), _ = pyxdf.load_xdf(str(out))
    assert len(s["time_stamps"]) == 100 and s["footer"]


def test_xdf_repair_and_info_commands(tmp_path: Path) -> None:
    f = tmp_path / "crashed.xdf"
    hdr = (
        '<?xml version="1.0"?><info><name>emg</name><channel_count>1</channel_count>'
        "<channel_format>int32</channel_format><nominal_srate>0</nominal_srate></info>"
    )
    w = XdfWriter(f, [hdr])
    w.write_samples(1, [1.0, 2.0], np.array([[1], [2]]))
    import os

    os.close(w._fd)  # the recorder "dies": no footer
    info = subprocess.run(mirrorvr_cmd("xdf", "info", str(f)), capture_output=True, text=True)
    assert info.returncode == 0 and "emg" in info.stdout and "no" in info.stdout
    rep = subprocess.run(mirrorvr_cmd("xdf", "repair", str(f)), capture_output=True, text=True)
    assert rep.returncode == 0 and "footers added for streams [1]" in " ".join(rep.stdout.split())
    assert "kept 3 chunks (samples per stream: emg: 2)" in " ".join(rep.stdout.split())
    again = subprocess.run(mirrorvr_cmd("xdf", "repair", str(f)), capture_output=True, text=True)
    assert "intact" in again.stdout
    missing = subprocess.run(
        mirrorvr_cmd("xdf", "repair", str(tmp_path / "nope.xdf")), capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no such file" in " ".join(missing.stderr.split())
    assert "Traceback" not in missing.stderr
    notxdf = tmp_path / "x.xdf"
    notxdf.write_bytes(b"hello")
    bad = subprocess.run(mirrorvr_cmd("xdf", "info", str(notxdf)), capture_output=True, text=True)
    assert bad.returncode == 2 and "not an XDF file" in " ".join(bad.stderr.split())

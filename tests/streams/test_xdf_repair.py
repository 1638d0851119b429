"""`xdf repair` keeps every chunk it can read past damage inside the file, and never deletes
a byte: what it does not keep is in FILE.torn."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pyxdf

from mirrorvr.streams.xdf_repair import repair_xdf, scan_xdf
from mirrorvr.streams.xdf_writer import XdfWriter

HDR = (
    '<?xml version="1.0"?><info><name>{name}</name><type>EEG</type>'
    "<channel_count>2</channel_count><channel_format>float32</channel_format>"
    "<nominal_srate>100</nominal_srate><desc><channels><channel><label>C3</label></channel>"
    "<channel><label>C4</label></channel></channels></desc></info>"
)


def _recording(path: Path) -> dict[str, int]:
    """Two streams, 10 chunks of 100 samples each, boundaries between; no footers."""
    w = XdfWriter(path, [HDR.format(name="eeg"), HDR.format(name="emg")], fsync_every_s=None)
    for k in range(10):
        t = 100.0 + k + np.arange(100) / 100.0
        w.write_samples(1, t, np.full((100, 2), k, np.float32))
        w.write_samples(2, t, np.full((100, 2), -k, np.float32))
        w.write_clock_offset(1, t[0], 0.0)
        w.write_boundary()
    import os

    os.close(w._fd)  # the recorder dies: no footers
    w._fd = -1
    return {"eeg": 1000, "emg": 1000}


def _counts(path: Path) -> dict[str, int]:
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    return {s["info"]["name"][0]: len(s["time_stamps"]) for s in streams}


def _no_byte_lost(original: bytes, path: Path, report: object) -> None:
    torn = path.with_name(path.name + ".torn").read_bytes()
    assert len(torn) == report.set_aside  # type: ignore[attr-defined]
    # every set-aside range is in .torn, in file order
    assert torn == b"".join(original[r.start : r.end] for r in report.regions)  # type: ignore[attr-defined]


def test_corrupt_stream_header_is_rebuilt_and_every_chunk_kept(tmp_path: Path) -> None:
    x = tmp_path / "rec.xdf"
    _recording(x)
    data = bytearray(x.read_bytes())
    at = data.find(b"</type>")  # break the first stream header's XML, same length
    data[at : at + 7] = b"</ty#e>"
    x.write_bytes(bytes(data))
    report = repair_xdf(x)
    (r,) = report.regions
    assert r.reason.startswith("stream 1 header damaged") and r.reason.endswith("rebuilt")
    assert report.footers_added == [1, 2]
    assert _counts(x) == {"eeg": 1000, "emg": 1000}  # nothing of either stream lost
    streams, _ = pyxdf.load_xdf(str(x))
    eeg = next(s for s in streams if s["info"]["name"] == ["eeg"])
    assert eeg["info"]["desc"][0]["repaired"]  # says the header was rebuilt
    _no_byte_lost(bytes(data), x, report)
    assert "kept" in report.describe() and "eeg: 1000" in report.describe()


def test_broken_chunk_framing_mid_file(tmp_path: Path) -> None:
    x = tmp_path / "rec.xdf"
    _recording(x)
    data = bytearray(x.read_bytes())
    scan = scan_xdf(x)
    assert not scan.regions
    # the 4th samples chunk of stream 1: overwrite its length width byte
    starts = []
    pos = 4
    while pos < len(data):
        w = data[pos]
        n = int.from_bytes(data[pos + 1 : pos + 1 + w], "little")
        tag = struct.unpack_from("<H", data, pos + 1 + w)[0]
        if tag == 3 and struct.unpack_from("<I", data, pos + 3 + w)[0] == 1:
            starts.append(pos)
        pos += 1 + w + n
    data[starts[3]] = 0x07
    x.write_bytes(bytes(data))
    report = repair_xdf(x)
    (r,) = report.regions
    assert r.start == starts[3] and r.reason == "chunk cannot be framed"
    # only that chunk's 100 samples are set aside; the next chunk onwards is kept
    assert _counts(x) == {"eeg": 900, "emg": 1000}
    _no_byte_lost(bytes(data), x, report)


def test_unreadable_header_sets_its_chunks_aside(tmp_path: Path) -> None:
    x = tmp_path / "rec.xdf"
    _recording(x)
    data = bytearray(x.read_bytes())
    at = data.find(b"float32")  # the layout itself is gone: its samples cannot be decoded
    data[at : at + 7] = b"flo#t32"
    x.write_bytes(bytes(data))
    report = repair_xdf(x)
    assert report.orphans == {1: 20}  # 10 samples + 10 clock-offset chunks
    assert _counts(x) == {"emg": 1000}
    _no_byte_lost(bytes(data), x, report)
    assert "header unreadable" in report.describe()


def test_intact_file_unchanged(tmp_path: Path) -> None:
    x = tmp_path / "rec.xdf"
    with XdfWriter(x, [HDR.format(name="eeg")]) as w:
        w.write_samples(1, [1.0, 2.0], np.zeros((2, 2)))
    before = x.read_bytes()
    assert not repair_xdf(x).changed
    assert x.read_bytes() == before


def test_xdf_info_json_names_the_damage(tmp_path: Path) -> None:
    import json
    import subprocess

    from tests.conftest import mirrorvr_cmd

    x = tmp_path / "rec.xdf"
    _recording(x)
    data = bytearray(x.read_bytes())
    at = data.find(b"</type>")
    data[at : at + 7] = b"</ty#e>"
    x.write_bytes(bytes(data))
    res = subprocess.run(
        mirrorvr_cmd("xdf", "info", str(x), "--json"), capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    by = {s["name"]: s for s in info["streams"]}
    assert by["eeg"]["samples"] == by["emg"]["samples"] == 1000
    assert not by["eeg"]["has_footer"] and by["eeg"]["channel_count"] == 2
    (d,) = info["damaged"]
    assert d["rebuilt"] and "stream 1 header damaged" in d["reason"]

"""XDF writer: every channel format round-trips through pyxdf; chunk bytes match the spec."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from mirrorvr.streams.xdf_writer import (
    BOUNDARY_SIGNATURE,
    StreamLayout,
    XdfError,
    XdfWriter,
    chunk,
    encode_samples,
    varlen,
)


def header(name: str, fmt: str, n: int, srate: float = 0.0) -> str:
    return (
        f'<?xml version="1.0"?><info><name>{name}</name><type>Test</type>'
        f"<channel_count>{n}</channel_count><channel_format>{fmt}</channel_format>"
        f"<nominal_srate>{srate}</nominal_srate><desc/></info>"
    )


NUMERIC = {
    "int8": np.array([[-128, 127, 0]]),
    "int16": np.array([[-32768, 32767, 1]]),
    "int32": np.array([[-(2**31), 2**31 - 1, 2]]),
    "int64": np.array([[-(2**63), 2**63 - 1, 3]]),
    "float32": np.array([[1.5, -2.25, np.float32(1e-30)]]),
    "double64": np.array([[np.pi, -1e300, np.nan]]),
}


@pytest.mark.parametrize("fmt", [*NUMERIC, "string"])
def test_every_format_round_trips(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"{fmt}.xdf"
    rng = np.random.default_rng(1)
    ts = np.sort(rng.uniform(100.0, 200.0, 50))
    if fmt == "string":
        values: object = [[f"s{i}", "é✓ unicode", "x" * (i * 7)] for i in range(50)]
    else:
        values = np.repeat(NUMERIC[fmt], 50, axis=0)
    with XdfWriter(path, [header("s", fmt, 3)]) as w:
        w.write_samples(1, ts[:20], values[:20])  # type: ignore[index]
        w.write_clock_offset(1, 150.0, 0.0)
        w.write_boundary()
        w.write_samples(1, ts[20:], values[20:])  # type: ignore[index]
    streams, fh = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    (s,) = streams
    assert s["info"]["channel_format"] == [fmt]
    np.testing.assert_array_equal(s["time_stamps"], ts)
    if fmt == "string":
        assert s["time_series"] == values
    else:
        np.testing.assert_array_equal(s["time_series"], values)
        assert s["time_series"].dtype == np.dtype(fmt.replace("double64", "float64"))
    assert s["footer"]["info"]["sample_count"] == ["50"]
    assert float(s["footer"]["info"]["first_timestamp"][0]) == ts[0]
    assert float(s["footer"]["info"]["last_timestamp"][0]) == ts[-1]
    assert fh["info"]["version"] == ["1.0"]


def test_clock_offsets_are_applied_by_pyxdf(tmp_path: Path) -> None:
    path = tmp_path / "o.xdf"
    ts = np.arange(0, 60, 0.5) + 1000.0
    with XdfWriter(path, [header("m", "float32", 1)]) as w:
        w.write_samples(1, ts, np.zeros((len(ts), 1)))
        for t in range(0, 60, 5):
            w.write_clock_offset(1, 1000.0 + t, 2.5)
    (s,), _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    np.testing.assert_allclose(s["time_stamps"], ts + 2.5, atol=1e-9)
    assert len(s["footer"]["info"]["clock_offsets"][0]["offset"]) == 12


def test_streams_added_later_and_zero_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "late.xdf"
    with XdfWriter(path) as w:
        a = w.add_stream(header("a", "string", 1))
        w.write_samples(a, [0.0], [["at zero"]])  # LabRecorder cannot store t = 0; we can
        b = w.add_stream(header("b", "int16", 2, 10.0))
        w.write_samples(b, [1.0, 1.1], [[1, 2], [3, 4]])
    streams, _ = pyxdf.load_xdf(str(path))
    by_name = {s["info"]["name"][0]: s for s in streams}
    assert by_name["a"]["time_stamps"].tolist() == [0.0]
    assert by_name["b"]["time_series"].tolist() == [[1, 2], [3, 4]]
    assert [a, b] == [1, 2]


def test_chunk_bytes_match_the_reference_examples() -> None:
    # the worked examples of the XDF reference (string sample, boundary chunk)
    layout = StreamLayout(1, "string", 0.0)
    n, body = encode_samples(layout, [1234.5], [["cue_L"]])
    got = chunk(3, struct.pack("<I", 2) + varlen(n) + body)
    assert got.hex() == "011803000200000001010800000000004a934001056375655f4c"
    assert chunk(5, BOUNDARY_SIGNATURE).hex() == "0112050043a546dccbf5410fb30ed5467383cbe4"
    assert varlen(300) == b"\x04\x2c\x01\x00\x00"
    assert varlen(2**40)[:1] == b"\x08"


def test_headers_exist_atomically_and_bad_input_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.xdf"
    w = XdfWriter(path, [header("x", "float32", 2)])
    assert not (tmp_path / "h.xdf.part").exists()
    with pytest.raises(XdfError, match="shape"):
        w.write_samples(1, [1.0], [[1.0, 2.0, 3.0]])
    with pytest.raises(XdfError, match="finite"):
        w.write_samples(1, [float("nan")], [[1.0, 2.0]])
    with pytest.raises(XdfError, match="no stream 9"):
        w.write_samples(9, [1.0], [[1.0]])
    with pytest.raises(XdfError, match="channel_format"):
        w.add_stream(header("bad", "float16", 1))
    w.close()
    with pytest.raises(XdfError, match="already exists"):
        XdfWriter(path)
    # without footers the file still loads (what a killed recorder leaves behind)
    path2 = tmp_path / "nofooter.xdf"
    w2 = XdfWriter(path2, [header("y", "double64", 1)])
    w2.write_samples(1, [5.0, 6.0], [[1.0], [2.0]])
    (s,), _ = pyxdf.load_xdf(str(path2))
    assert s["time_series"].tolist() == [[1.0], [2.0]]
    assert not s.get("footer")
    w2.close()


def test_docs_name_every_stream_and_channel() -> None:
    from mirrorvr.streams.layout import FRAMES, MARKERS, PME, POSE_FIELDS, PULSES, STATE, STIM

    doc = (Path(__file__).resolve().parents[2] / "docs" / "streams.md").read_text("utf-8")
    for spec in (MARKERS, STIM, STATE, FRAMES, PME, PULSES):
        assert f"`{spec.name}`" in doc
        for c in spec.channels:
            assert f"`{c.label}`" in doc, f"docs/streams.md does not explain {spec.name}/{c.label}"
    for f, _, _ in POSE_FIELDS:
        assert f"_{f}" in doc

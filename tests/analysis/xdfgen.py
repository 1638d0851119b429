"""Write XDF test files the way other producers do (LabRecorder layout, foreign conventions).

A small, independent XDF 1.0 writer for tests and benchmarks: file header, stream headers with
any metadata, samples (numeric or string, explicit timestamps), clock offsets, boundaries and
footers. It follows the byte layout in ``shared/reference/lsl-xdf.md`` §4 so the analysis is
tested against files it did not write itself.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

_DTYPES = {
    "int8": "<i1",
    "int16": "<i2",
    "int32": "<i4",
    "int64": "<i8",
    "float32": "<f4",
    "double64": "<f8",
}
_BOUNDARY = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")


def _varlen(n: int) -> bytes:
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 1 << 32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def header_xml(
    name: str,
    type_: str,
    channel_count: int,
    channel_format: str,
    nominal_srate: float = 0.0,
    *,
    labels: list[str] | None = None,
    units: list[str] | None = None,
    can_drop_samples: bool | None = None,
    source_id: str = "",
) -> str:
    """A stream header ``<info>`` like pylsl's ``StreamInfo.as_xml()``."""
    desc = ""
    if labels:
        us = units or [""] * len(labels)
        desc += (
            "<channels>"
            + "".join(
                f"<channel><label>{escape(lab)}</label><unit>{escape(u)}</unit></channel>"
                for lab, u in zip(labels, us, strict=True)
            )
            + "</channels>"
        )
    if can_drop_samples is not None:
        desc += (
            "<synchronization><can_drop_samples>"
            f"{'true' if can_drop_samples else 'false'}</can_drop_samples></synchronization>"
        )
    return (
        f'<?xml version="1.0"?><info><name>{escape(name)}</name><type>{escape(type_)}</type>'
        f"<channel_count>{channel_count}</channel_count>"
        f"<channel_format>{channel_format}</channel_format><source_id>{escape(source_id)}"
        f"</source_id><nominal_srate>{nominal_srate:.15f}</nominal_srate>"
        f"<version>1.100000000000000</version><desc>{desc}</desc></info>"
    )


class XdfFile:
    """Streams are added first; samples, offsets and boundaries are appended in any order."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._fmt: dict[int, tuple[str, int]] = {}
        self._stats: dict[int, list[float]] = {}
        self._f.write(b"XDF:")
        self._f.write(_chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>'))
        for sid, h in enumerate(headers, start=1):
            fmt = h.split("<channel_format>")[1].split("<")[0]
            nch = int(h.split("<channel_count>")[1].split("<")[0])
            self._fmt[sid] = (fmt, nch)
            self._stats[sid] = [np.nan, np.nan, 0]
            self._f.write(_chunk(2, struct.pack("<I", sid) + h.encode()))

    def samples(self, sid: int, timestamps: Any, values: Any, chunk: int = 4096) -> None:
        """Append samples with explicit timestamps, ``chunk`` per Samples chunk."""
        fmt, nch = self._fmt[sid]
        ts = np.asarray(timestamps, dtype="<f8").ravel()
        if not len(ts):
            return
        st = self._stats[sid]
        if np.isnan(st[0]):
            st[0] = float(ts[0])
        st[1] = float(ts[-1])
        st[2] += len(ts)
        for a in range(0, len(ts), chunk):
            t = ts[a : a + chunk]
            if fmt == "string":
                body = b"".join(
                    struct.pack("<Bd", 8, tt)
                    + b"".join(
                        _varlen(len(v.encode())) + v.encode()
                        for v in (row if isinstance(row, list) else [row])
                    )
                    for tt, row in zip(t.tolist(), values[a : a + chunk], strict=True)
                )
            else:
                rec = np.empty(
                    len(t), dtype=[("b", "u1"), ("t", "<f8"), ("v", _DTYPES[fmt], (nch,))]
                )
                rec["b"] = 8
                rec["t"] = t
                rec["v"] = np.asarray(values[a : a + chunk]).reshape(len(t), nch)
                body = rec.tobytes()
            content = struct.pack("<I", sid) + struct.pack("<BI", 4, len(t)) + body
            self._f.write(_chunk(3, content))

    def clock_offset(self, sid: int, collection_time: float, value: float) -> None:
        """A ClockOffset chunk (LabRecorder convention: time in the stream's own clock)."""
        self._f.write(_chunk(4, struct.pack("<Idd", sid, collection_time, value)))

    def boundary(self) -> None:
        """A Boundary chunk."""
        self._f.write(_chunk(5, _BOUNDARY))

    def close(self, footers: bool = True) -> None:
        """Write footers (unless simulating a crash) and close."""
        if footers:
            for sid, (first, last, n) in self._stats.items():
                xml = (
                    f'<?xml version="1.0"?><info><first_timestamp>{first}</first_timestamp>'
                    f"<last_timestamp>{last}</last_timestamp><sample_count>{int(n)}"
                    "</sample_count></info>"
                )
                self._f.write(_chunk(6, struct.pack("<I", sid) + xml.encode()))
        self._f.close()

    def __enter__(self) -> XdfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

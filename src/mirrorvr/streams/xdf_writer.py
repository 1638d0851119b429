"""An XDF 1.0 writer: file header, stream headers, samples of every format, clock offsets,
boundaries, footers — written so that the file stays loadable if the process is killed.

Usage::

    with XdfWriter(path, headers=[spec.header_xml(session)]) as w:   # stream ids 1, 2, ...
        w.write_samples(1, timestamps, values)   # values: (n, channels) array or rows of str
        w.write_clock_offset(1, collection_time, offset)
        w.write_boundary()
    # close() writes every stream's footer

Crash safety: the file header and the initial stream headers are written to ``<path>.part``,
fsync-ed and renamed into place, so ``path`` never exists without them. Every later chunk is
one ``os.write`` of whole chunks (no user-space buffer to lose), so after ``kill -9`` the file
ends at a chunk boundary: pyxdf loads it (no footers; they are redundant with the data —
:func:`mirrorvr.streams.xdf_repair.repair_xdf` adds them). Writes of several pages could in
principle be cut by the kernel at a page boundary when SIGKILL arrives mid-write; a cut
Samples chunk is skipped by pyxdf, and ``repair`` trims any torn tail.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import struct
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mirrorvr import __version__
from mirrorvr.errors import MirrorVRError

MAGIC = b"XDF:"
TAG_FILE_HEADER = 1
TAG_STREAM_HEADER = 2
TAG_SAMPLES = 3
TAG_CLOCK_OFFSET = 4
TAG_BOUNDARY = 5
TAG_STREAM_FOOTER = 6
BOUNDARY_SIGNATURE = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")

#: numpy dtype of each numeric channel format (XDF is little-endian)
NUMERIC_DTYPES: dict[str, str] = {
    "int8": "<i1",
    "int16": "<i2",
    "int32": "<i4",
    "int64": "<i8",
    "float32": "<f4",
    "double64": "<f8",
}
FORMATS = (*NUMERIC_DTYPES, "string")


class XdfError(MirrorVRError):
    """An XDF file cannot be written or read as asked."""


def varlen(n: int) -> bytes:
    """XDF variable-length integer: width byte (1, 4 or 8), then the value, shortest form."""
    if n < 0:
        raise XdfError(f"XDF lengths and counts cannot be negative ({n})")
    if n < 1 << 8:
        return struct.pack("<BB", 1, n)
    if n < 1 << 32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def chunk(tag: int, content: bytes) -> bytes:
    """One chunk: varlen length (tag + content), tag, content."""
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


@dataclass(frozen=True)
class StreamLayout:
    """What the writer needs from a stream header to encode its samples."""

    channel_count: int
    channel_format: str
    nominal_srate: float
    name: str = ""

    @classmethod
    def from_header(cls, header_xml: str) -> StreamLayout:
        """Read ``channel_count``, ``channel_format``, ``nominal_srate`` from ``<info>`` XML."""
        try:
            root = ET.fromstring(header_xml)
        except ET.ParseError as e:
            raise XdfError(f"stream header is not valid XML: {e}") from None
        try:
            count = int(root.findtext("channel_count") or "")
            fmt = (root.findtext("channel_format") or "").strip()
            srate = float(root.findtext("nominal_srate") or "0")
        except ValueError:
            raise XdfError(
                "stream header needs numeric <channel_count> and <nominal_srate>"
            ) from None
        if fmt not in FORMATS:
            raise XdfError(f"stream header: channel_format {fmt!r} is not one of {FORMATS}")
        if count < 1:
            raise XdfError(f"stream header: channel_count must be at least 1, not {count}")
        return cls(count, fmt, srate, (root.findtext("name") or "").strip())


@dataclass
class _StreamState:
    layout: StreamLayout
    first: float | None = None
    last: float | None = None
    count: int = 0
    offsets: list[tuple[float, float]] = field(default_factory=list)
    footer_written: bool = False


def footer_xml(
    first: float | None, last: float | None, count: int, offsets: Sequence[tuple[float, float]]
) -> str:
    """StreamFooter ``<info>`` in LabRecorder's layout (numbers exact: shortest round-trip)."""

    def num(x: float | None) -> str:
        return "0" if x is None else repr(float(x))

    offs = "".join(
        f"<offset><time>{num(t)}</time><value>{num(v)}</value></offset>" for t, v in offsets
    )
    return (
        '<?xml version="1.0"?><info>'
        f"<first_timestamp>{num(first)}</first_timestamp>"
        f"<last_timestamp>{num(last)}</last_timestamp>"
        f"<sample_count>{count}</sample_count>"
        f"<clock_offsets>{offs}</clock_offsets></info>"
    )


def file_header_xml(extra: dict[str, str] | None = None, when: dt.datetime | None = None) -> str:
    """FileHeader XML: version 1.0, local ISO datetime, writer, and ``extra`` fields."""
    stamp = (when or dt.datetime.now().astimezone()).isoformat(timespec="seconds")
    fields = {"version": "1.0", "datetime": stamp, "writer": f"mirrorvr {__version__}"}
    fields.update(extra or {})
    body = "".join(f"<{k}>{_esc(v)}</{k}>" for k, v in fields.items())
    return f'<?xml version="1.0"?><info>{body}</info>'


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def encode_samples(layout: StreamLayout, timestamps: Any, values: Any) -> tuple[int, bytes]:
    """(n, bytes) of ``n`` samples, each with an explicit 8-byte timestamp (pure)."""
    ts = np.asarray(timestamps, dtype="<f8").reshape(-1)
    n = int(ts.shape[0])
    if n and not np.all(np.isfinite(ts)):
        raise XdfError(f"stream {layout.name!r}: timestamps must be finite numbers")
    nch = layout.channel_count
    if layout.channel_format == "string":
        rows = list(values)
        if len(rows) != n:
            raise XdfError(f"stream {layout.name!r}: {n} timestamps but {len(rows)} samples")
        parts: list[bytes] = []
        pack_ts = struct.Struct("<Bd").pack
        for t, row in zip(ts.tolist(), rows, strict=True):
            cells = [row] if isinstance(row, str | bytes) else list(row)
            if len(cells) != nch:
                raise XdfError(
                    f"stream {layout.name!r}: sample has {len(cells)} values, expected {nch}"
                )
            parts.append(pack_ts(8, t))
            for c in cells:
                b = c if isinstance(c, bytes) else str(c).encode("utf-8")
                parts.append(varlen(len(b)))
                parts.append(b)
        return n, b"".join(parts)
    dtype = NUMERIC_DTYPES[layout.channel_format]
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise XdfError(
            f"stream {layout.name!r}: values are not {layout.channel_format}: {e}"
        ) from None
    arr = arr.reshape(n, nch) if arr.size == n * nch else arr
    if arr.shape != (n, nch):
        raise XdfError(
            f"stream {layout.name!r}: values have shape {arr.shape}, expected ({n}, {nch})"
        )
    rec = np.empty(n, dtype=np.dtype([("b", "u1"), ("t", "<f8"), ("v", dtype, (nch,))]))
    rec["b"] = 8
    rec["t"] = ts
    rec["v"] = arr
    return n, rec.tobytes()


class XdfWriter:
    """Writes one XDF file; thread-safe; every chunk reaches the kernel when a call returns.

    ``headers`` are stream header XML documents (``<info>`` with at least ``channel_count``,
    ``channel_format``, ``nominal_srate``) for streams numbered 1, 2, ... in order; they are
    written atomically with the file header. Streams found later are added with
    :meth:`add_stream`. ``fsync_every_s`` bounds what a power cut can lose (``None``: never
    fsync until close; a killed *process* loses nothing either way).
    """

    def __init__(
        self,
        path: str | Path,
        headers: Iterable[str] = (),
        *,
        file_info: dict[str, str] | None = None,
        when: dt.datetime | None = None,
        fsync_every_s: float | None = 5.0,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._streams: dict[int, _StreamState] = {}
        self.fsync_every_s = fsync_every_s
        self._last_sync = _monotonic()
        initial = bytearray(MAGIC)
        initial += chunk(TAG_FILE_HEADER, file_header_xml(file_info, when).encode("utf-8"))
        for i, h in enumerate(headers, start=1):
            initial += self._header_chunk(i, h)
        part = self.path.with_name(self.path.name + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            raise XdfError(f"{self.path} already exists; choose another file name")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, bytes(initial))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        os.replace(part, self.path)  # the file appears complete with its headers, or not at all
        self._fd = fd
        # reopen in append mode is unnecessary: fd's offset is at the end already

    @property
    def stream_ids(self) -> list[int]:
        """Ids of the streams in the file."""
        return list(self._streams)

    def layout(self, stream_id: int) -> StreamLayout:
        """Encoding of ``stream_id``."""
        return self._state(stream_id).layout

    def _header_chunk(self, stream_id: int, header_xml: str) -> bytes:
        if stream_id in self._streams:
            raise XdfError(f"stream id {stream_id} is already in {self.path}")
        layout = StreamLayout.from_header(header_xml)
        self._streams[stream_id] = _StreamState(layout)
        return chunk(TAG_STREAM_HEADER, struct.pack("<I", stream_id) + header_xml.encode("utf-8"))

    def add_stream(self, header_xml: str, stream_id: int | None = None) -> int:
        """Append a StreamHeader; returns its stream id (next free number by default)."""
        with self._lock:
            sid = stream_id if stream_id is not None else max(self._streams, default=0) + 1
            self._write(self._header_chunk(sid, header_xml))
            return sid

    def _state(self, stream_id: int) -> _StreamState:
        try:
            return self._streams[stream_id]
        except KeyError:
            raise XdfError(f"no stream {stream_id} in {self.path}; add its header first") from None

    def write_samples(self, stream_id: int, timestamps: Any, values: Any) -> int:
        """Append a Samples chunk; returns the number of samples written (0 writes nothing)."""
        st = self._state(stream_id)
        n, body = encode_samples(st.layout, timestamps, values)
        if n == 0:
            return 0
        data = chunk(TAG_SAMPLES, struct.pack("<I", stream_id) + varlen(n) + body)
        ts = np.asarray(timestamps, dtype=float).reshape(-1)
        with self._lock:
            self._write(data)
            if st.first is None:
                st.first = float(ts[0])
            st.last = float(ts[-1])
            st.count += n
        return n

    def write_clock_offset(self, stream_id: int, collection_time: float, offset: float) -> None:
        """Append a ClockOffset chunk: at ``collection_time`` (stream clock) add ``offset``."""
        st = self._state(stream_id)
        if not (math.isfinite(collection_time) and math.isfinite(offset)):
            raise XdfError("clock offsets must be finite numbers")
        data = chunk(TAG_CLOCK_OFFSET, struct.pack("<Idd", stream_id, collection_time, offset))
        with self._lock:
            self._write(data)
            st.offsets.append((collection_time, offset))

    def write_boundary(self) -> None:
        """Append a Boundary chunk (readers resynchronise on it after corruption)."""
        with self._lock:
            self._write(chunk(TAG_BOUNDARY, BOUNDARY_SIGNATURE))

    def write_footer(self, stream_id: int) -> None:
        """Append ``stream_id``'s StreamFooter now (``close`` does it for the others)."""
        with self._lock:
            self._footer(stream_id)

    def _footer(self, stream_id: int) -> None:
        st = self._state(stream_id)
        if st.footer_written:
            return
        xml = footer_xml(st.first, st.last, st.count, st.offsets)
        self._write(chunk(TAG_STREAM_FOOTER, struct.pack("<I", stream_id) + xml.encode()))
        st.footer_written = True

    def stats(self, stream_id: int) -> tuple[float | None, float | None, int]:
        """(first timestamp, last timestamp, sample count) written so far."""
        st = self._state(stream_id)
        return st.first, st.last, st.count

    def _write(self, data: bytes) -> None:
        if self._fd < 0:
            raise XdfError(f"{self.path} is closed")
        _write_all(self._fd, data)
        if self.fsync_every_s is not None and _monotonic() - self._last_sync > self.fsync_every_s:
            os.fsync(self._fd)
            self._last_sync = _monotonic()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._fd < 0

    def close(self) -> None:
        """Write the missing footers, fsync and close (idempotent)."""
        with self._lock:
            if self._fd < 0:
                return
            try:
                for sid in self._streams:
                    self._footer(sid)
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> XdfWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _monotonic() -> float:
    import time

    return time.monotonic()

"""Check and repair XDF files: trim a torn tail, add the footers a crashed recorder never wrote.

``scan_xdf`` walks the chunks and reports what it found (streams, sample counts, first and
last timestamps, clock offsets, footers) and where the valid part ends. ``repair_xdf`` cuts
a torn tail (saved to ``<file>.torn``, never deleted) and appends a StreamFooter for every
stream without one. Works on files from any XDF writer (LabRecorder's included).
"""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mirrorvr.streams.xdf_writer import (
    BOUNDARY_SIGNATURE,
    MAGIC,
    NUMERIC_DTYPES,
    TAG_BOUNDARY,
    TAG_CLOCK_OFFSET,
    TAG_FILE_HEADER,
    TAG_SAMPLES,
    TAG_STREAM_FOOTER,
    TAG_STREAM_HEADER,
    StreamLayout,
    XdfError,
    chunk,
    footer_xml,
)


@dataclass
class StreamSummary:
    """One stream as found in a file."""

    stream_id: int
    layout: StreamLayout
    first: float | None = None
    last: float | None = None
    count: int = 0
    offsets: list[tuple[float, float]] = field(default_factory=list)
    has_footer: bool = False


@dataclass
class ScanResult:
    """What ``scan_xdf`` found."""

    size: int
    valid_end: int  # bytes up to the end of the last whole chunk
    chunks: int
    streams: dict[int, StreamSummary]
    problem: str = ""  # why the scan stopped before the end of the file

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last whole chunk."""
        return self.size - self.valid_end


class _Torn(Exception):
    pass


def _read_exact(f: BinaryIO, n: int) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise _Torn(f"file ends inside a chunk (wanted {n} bytes, got {len(b)})")
    return b


def _varlen(buf: bytes, pos: int) -> tuple[int, int]:
    width = buf[pos]
    if width == 1:
        return buf[pos + 1], pos + 2
    if width == 4:
        return struct.unpack_from("<I", buf, pos + 1)[0], pos + 5
    if width == 8:
        return struct.unpack_from("<Q", buf, pos + 1)[0], pos + 9
    raise ValueError(f"invalid variable-length integer width {width}")


def _read_varlen(f: BinaryIO) -> int:
    w = _read_exact(f, 1)[0]
    if w not in (1, 4, 8):
        raise _Torn(f"invalid chunk length width {w}")
    raw = _read_exact(f, w)
    return int.from_bytes(raw, "little")


def _samples(s: StreamSummary, body: bytes) -> None:
    """Update ``s`` with the samples of one Samples chunk body (after the stream id)."""
    n, pos = _varlen(body, 0)
    if n == 0:
        return
    lay = s.layout
    step = 1.0 / lay.nominal_srate if lay.nominal_srate > 0 else 0.0
    if lay.channel_format != "string":
        item = np.dtype(NUMERIC_DTYPES[lay.channel_format]).itemsize * lay.channel_count
        if len(body) - pos == n * (9 + item):
            rec = np.frombuffer(
                body, dtype=np.dtype([("b", "u1"), ("t", "<f8"), ("v", "V", item)]), offset=pos
            )
            if np.all(rec["b"] == 8):  # every stamp explicit: the common fast path
                _update(s, float(rec["t"][0]), float(rec["t"][-1]), n)
                return
    prev = s.last if s.last is not None else 0.0
    first = None
    for _ in range(n):
        tsb = body[pos]
        pos += 1
        if tsb == 8:
            t = struct.unpack_from("<d", body, pos)[0]
            pos += 8
        elif tsb == 0:
            t = prev + step
        else:
            raise ValueError(f"invalid timestamp width {tsb}")
        if lay.channel_format == "string":
            for _c in range(lay.channel_count):
                ln, pos = _varlen(body, pos)
                pos += ln
        else:
            pos += np.dtype(NUMERIC_DTYPES[lay.channel_format]).itemsize * lay.channel_count
        if pos > len(body):
            raise ValueError("sample data runs past the end of its chunk")
        first = t if first is None else first
        prev = t
    assert first is not None
    _update(s, first, prev, n)


def _update(s: StreamSummary, first: float, last: float, n: int) -> None:
    if s.first is None:
        s.first = first
    s.last = last
    s.count += n


def scan_xdf(path: str | Path) -> ScanResult:
    """Walk every chunk; stop at the first torn or invalid one (reported in ``problem``)."""
    p = Path(path)
    size = p.stat().st_size
    streams: dict[int, StreamSummary] = {}
    chunks = 0
    with open(p, "rb") as f:
        if f.read(4) != MAGIC:
            raise XdfError(f"{p} is not an XDF file (it does not start with 'XDF:')")
        valid_end = 4
        problem = ""
        while True:
            start = f.tell()
            if start == size:
                break
            try:
                length = _read_varlen(f)
                if length < 2:
                    raise _Torn(f"chunk length {length} is too short")
                content = _read_exact(f, length)
                tag = struct.unpack_from("<H", content)[0]
                body = content[2:]
                if tag in (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER):
                    if len(body) < 4:
                        raise _Torn("chunk too short for its stream id")
                    sid = struct.unpack_from("<I", body)[0]
                    rest = body[4:]
                    if tag == TAG_STREAM_HEADER:
                        streams[sid] = StreamSummary(
                            sid, StreamLayout.from_header(rest.decode("utf-8", "replace"))
                        )
                    elif sid not in streams:
                        raise _Torn(f"chunk for stream {sid} before its header")
                    elif tag == TAG_SAMPLES:
                        _samples(streams[sid], rest)
                    elif tag == TAG_CLOCK_OFFSET:
                        t, v = struct.unpack("<dd", rest)
                        streams[sid].offsets.append((t, v))
                    else:
                        ET.fromstring(rest)
                        streams[sid].has_footer = True
                elif tag == TAG_FILE_HEADER:
                    ET.fromstring(body)
                elif tag == TAG_BOUNDARY and body != BOUNDARY_SIGNATURE:
                    raise _Torn("boundary chunk with a wrong signature")
            except (_Torn, ValueError, struct.error, ET.ParseError, XdfError, IndexError) as e:
                problem = f"at byte {start}: {e}"
                break
            chunks += 1
            valid_end = f.tell()
    return ScanResult(size, valid_end, chunks, streams, problem)


@dataclass(frozen=True)
class RepairReport:
    """What ``repair_xdf`` did."""

    path: Path
    torn_bytes: int
    problem: str
    footers_added: list[int]
    streams: dict[int, StreamSummary]

    @property
    def changed(self) -> bool:
        """True if the file was (or, dry run, would be) modified."""
        return bool(self.torn_bytes or self.footers_added)


def repair_xdf(path: str | Path, *, dry_run: bool = False) -> RepairReport:
    """Trim a torn tail (kept in ``<path>.torn``) and add missing footers."""
    p = Path(path)
    if not p.exists():
        raise XdfError(f"{p}: no such file")
    scan = scan_xdf(p)
    missing = [sid for sid, s in scan.streams.items() if not s.has_footer]
    report = RepairReport(p, scan.torn_bytes, scan.problem, missing, scan.streams)
    if dry_run or not report.changed:
        return report
    with open(p, "r+b") as f:
        if scan.torn_bytes:
            f.seek(scan.valid_end)
            tail = f.read()
            torn = p.with_name(p.name + ".torn")
            with open(torn, "ab") as t:
                t.write(tail)
            f.truncate(scan.valid_end)
        f.seek(0, os.SEEK_END)
        for sid in missing:
            s = scan.streams[sid]
            xml = footer_xml(s.first, s.last, s.count, s.offsets)
            f.write(chunk(TAG_STREAM_FOOTER, struct.pack("<I", sid) + xml.encode("utf-8")))
        f.flush()
        os.fsync(f.fileno())
    return report

"""Check and repair XDF files: keep every readable chunk, add the footers a crashed recorder
never wrote.

``scan_xdf`` walks the chunks and reports what it found (streams, sample counts, first and
last timestamps, clock offsets, footers) and every range it could not read as it is; past a
damaged chunk it goes on from the next place where chunks can be read again. ``repair_xdf``
cuts a torn tail, sets damaged ranges inside the file aside, rebuilds a stream header with
broken XML from its legible fields, and appends a StreamFooter for every stream without one.
Nothing is deleted: what is not kept goes to ``<file>.torn``. Works on files from any XDF
writer (LabRecorder's included).
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

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

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``mirrorvr xdf info --json``); times in the file's clock seconds."""
        return {
            "id": self.stream_id,
            "name": self.layout.name,
            "channel_format": self.layout.channel_format,
            "channel_count": self.layout.channel_count,
            "nominal_srate_hz": self.layout.nominal_srate,
            "samples": self.count,
            "first_s": self.first,
            "last_s": self.last,
            "clock_offsets": len(self.offsets),
            "has_footer": self.has_footer,
        }


@dataclass
class Region:
    """A byte range of the file that repair does not keep as it is."""

    start: int
    end: int
    reason: str
    #: bytes written in its place (a rebuilt stream header), or b"" (set aside)
    replacement: bytes = b""


@dataclass
class ScanResult:
    """What ``scan_xdf`` found."""

    size: int
    valid_end: int  # bytes up to the end of the last whole chunk
    chunks: int
    streams: dict[int, StreamSummary]
    problem: str = ""  # the first problem met ("" if none)
    #: every range not readable as it is, in file order; a torn tail is the last one
    regions: list[Region] = field(default_factory=list)
    #: chunks of streams whose header is lost (stream id → chunks), set aside
    orphans: dict[int, int] = field(default_factory=dict)

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last whole chunk."""
        return self.size - self.valid_end

    @property
    def set_aside(self) -> int:
        """Bytes repair moves to ``.torn`` (damaged chunks inside the file and a torn tail)."""
        return sum(r.end - r.start for r in self.regions)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``mirrorvr xdf info --json``)."""
        return {
            "size_bytes": self.size,
            "chunks": self.chunks,
            "torn_bytes": self.torn_bytes,
            "set_aside_bytes": self.set_aside,
            "problem": self.problem or None,
            "streams": [s.to_dict() for s in self.streams.values()],
            # every range not readable as it is (repair sets it aside, or rebuilds a header)
            "damaged": [
                {"start": r.start, "end": r.end, "reason": r.reason, "rebuilt": bool(r.replacement)}
                for r in self.regions
            ],
            "orphan_chunks": {str(k): v for k, v in self.orphans.items()},
        }


def _varlen(buf: bytes, pos: int) -> tuple[int, int]:
    width = buf[pos]
    if width == 1:
        return buf[pos + 1], pos + 2
    if width == 4:
        return struct.unpack_from("<I", buf, pos + 1)[0], pos + 5
    if width == 8:
        return struct.unpack_from("<Q", buf, pos + 1)[0], pos + 9
    raise ValueError(f"invalid variable-length integer width {width}")


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


_TAG_RANGE = range(TAG_FILE_HEADER, TAG_STREAM_FOOTER + 1)


def _frame(buf: Any, pos: int) -> tuple[int, int, int] | None:
    """(content start, content end, tag) of a chunk framed at ``pos``, or None."""
    size = len(buf)
    if pos >= size:
        return None
    w = buf[pos]
    if w not in (1, 4, 8) or pos + 1 + w > size:
        return None
    length = int.from_bytes(buf[pos + 1 : pos + 1 + w], "little")
    start = pos + 1 + w
    if length < 2 or start + length > size:
        return None
    tag = int.from_bytes(buf[start : start + 2], "little")
    if tag not in _TAG_RANGE:
        return None
    return start + 2, start + length, tag


def _plausible(buf: Any, pos: int, known: set[int], depth: int = 1) -> bool:
    """Does a chunk that looks like XDF start at ``pos`` (and, ``depth`` deep, one after it)?"""
    fr = _frame(buf, pos)
    if fr is None:
        return False
    a, b, tag = fr
    if tag in (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER):
        if b - a < 4:
            return False
        sid = int.from_bytes(buf[a : a + 4], "little")
        if tag == TAG_STREAM_HEADER:
            if not bytes(buf[a + 4 : a + 9]).lstrip().startswith((b"<?xml", b"<info")):
                return False
        elif sid not in known:
            return False
        if tag == TAG_CLOCK_OFFSET and b - a != 20:
            return False
    elif tag == TAG_BOUNDARY:
        if bytes(buf[a:b]) != BOUNDARY_SIGNATURE:
            return False
    elif tag == TAG_FILE_HEADER and not bytes(buf[a : a + 5]).startswith((b"<?xml", b"<info")):
        return False
    if depth == 0 or b == len(buf):
        return True
    return _plausible(buf, b, known, depth - 1)


def _resync(buf: Any, pos: int, known: set[int]) -> int | None:
    """The next offset after ``pos`` where chunks can be read again, or None."""
    size = len(buf)
    while pos < size:
        # candidates: any width byte; the boundary signature is the surest anchor
        nxt = [
            i
            for i in (buf.find(b"\x01", pos), buf.find(b"\x04", pos), buf.find(b"\x08", pos))
            if i >= 0
        ]
        if not nxt:
            return None
        pos = min(nxt)
        if _plausible(buf, pos, known):
            return pos
        pos += 1
    return None


_LAYOUT_FIELDS = {
    k: re.compile(rf"<{k}>\s*([^<\s]+)\s*</{k}>") for k in (
        "name", "type", "channel_count", "channel_format", "nominal_srate")
}  # fmt: skip


def _salvage_header(xml: str) -> tuple[StreamLayout, str] | None:
    """A stream header whose XML is broken: its layout from the fields still legible, and a
    minimal valid header to write instead (None if the layout cannot be recovered)."""
    got = {k: m.group(1) for k, rx in _LAYOUT_FIELDS.items() if (m := rx.search(xml))}
    try:
        fixed = (
            '<?xml version="1.0"?><info>'
            + "".join(
                f"<{k}>{_xml_escape(got[k])}</{k}>"
                for k in ("name", "type", "channel_count", "channel_format", "nominal_srate")
                if k in got
            )
            + "<desc><repaired>header rebuilt by mirrorvr xdf repair from a damaged one"
            "</repaired></desc></info>"
        )
        return StreamLayout.from_header(fixed), fixed
    except XdfError:
        return None


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def scan_xdf(path: str | Path) -> ScanResult:
    """Walk every chunk; past a damaged one, go on from the next chunk that can be read.

    A chunk whose framing is broken is skipped up to the next place where two chunks in a
    row look like XDF; a stream header with broken XML is rebuilt from its legible fields
    when its layout (channel count, format, rate) can be read; chunks of a stream whose
    header is lost are set aside. Every range not kept as it is, is in ``regions``.
    """
    p = Path(path)
    size = p.stat().st_size
    streams: dict[int, StreamSummary] = {}
    regions: list[Region] = []
    orphans: dict[int, int] = {}
    chunks = 0
    with open(p, "rb") as f:
        if f.read(4) != MAGIC:
            raise XdfError(f"{p} is not an XDF file (it does not start with 'XDF:')")
        if size == 4:
            return ScanResult(size, 4, 0, streams)
        f.seek(0)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            pos = 4
            while pos < size:
                fr = _frame(buf, pos)
                if fr is None:
                    nxt = _resync(buf, pos + 1, set(streams))
                    if nxt is None:
                        why = _why_unframed(buf, pos)
                        regions.append(Region(pos, size, why))
                        break
                    regions.append(Region(pos, nxt, "chunk cannot be framed"))
                    pos = nxt
                    continue
                a, b, tag = fr
                bad = _chunk(buf, a, b, tag, streams, orphans)
                if isinstance(bad, Region):
                    regions.append(Region(pos, b, bad.reason, bad.replacement))
                elif bad:
                    regions.append(Region(pos, b, bad))
                else:
                    chunks += 1
                pos = b
    # a torn tail (the last range set aside, up to the end) is cut; anything else is rewritten
    tail = regions[-1] if regions and regions[-1].end == size else None
    valid_end = tail.start if tail is not None and not tail.replacement else size
    problem = f"at byte {regions[0].start}: {regions[0].reason}" if regions else ""
    return ScanResult(size, valid_end, chunks, streams, problem, regions, orphans)


def _why_unframed(buf: Any, pos: int) -> str:
    w = buf[pos]
    if w not in (1, 4, 8):
        return f"invalid chunk length width {w}; nothing readable after it"
    return "file ends inside a chunk"


def _chunk(
    buf: Any, a: int, b: int, tag: int, streams: dict[int, StreamSummary], orphans: dict[int, int]
) -> str | Region:
    """Read one framed chunk into ``streams``; '' if fine, else why it is set aside (or a
    Region with a replacement chunk)."""
    body = bytes(buf[a:b])
    try:
        if tag in (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER):
            if len(body) < 4:
                return "chunk too short for its stream id"
            sid = struct.unpack_from("<I", body)[0]
            rest = body[4:]
            if tag == TAG_STREAM_HEADER:
                xml = rest.decode("utf-8", "replace")
                try:
                    streams[sid] = StreamSummary(sid, StreamLayout.from_header(xml))
                    return ""
                except XdfError as e:
                    salvaged = _salvage_header(xml)
                    if salvaged is None:
                        return f"stream {sid} header unreadable ({e}); its chunks set aside"
                    layout, fixed = salvaged
                    streams[sid] = StreamSummary(sid, layout)
                    new = chunk(TAG_STREAM_HEADER, struct.pack("<I", sid) + fixed.encode())
                    return Region(0, 0, f"stream {sid} header damaged ({e}); rebuilt", new)
            if sid not in streams:
                orphans[sid] = orphans.get(sid, 0) + 1
                return f"chunk of stream {sid}, whose header is lost"
            if tag == TAG_SAMPLES:
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
            return "boundary chunk with a wrong signature"
    except (ValueError, struct.error, ET.ParseError, XdfError, IndexError) as e:
        return f"{_TAG_NAMES.get(tag, 'chunk')} unreadable ({e})"
    return ""


_TAG_NAMES = {
    TAG_FILE_HEADER: "file header", TAG_STREAM_HEADER: "stream header", TAG_SAMPLES: "samples",
    TAG_CLOCK_OFFSET: "clock offset", TAG_BOUNDARY: "boundary", TAG_STREAM_FOOTER: "footer",
}  # fmt: skip


@dataclass(frozen=True)
class RepairReport:
    """What ``repair_xdf`` did (or, dry run, would do)."""

    path: Path
    torn_bytes: int
    problem: str
    footers_added: list[int]
    streams: dict[int, StreamSummary]
    #: ranges not kept as they were (set aside in ``.torn``, or rebuilt), in file order
    regions: list[Region] = field(default_factory=list)
    chunks_kept: int = 0
    orphans: dict[int, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """True if the file was (or, dry run, would be) modified."""
        return bool(self.torn_bytes or self.footers_added or self.regions)

    @property
    def set_aside(self) -> int:
        """Bytes moved to ``<file>.torn``."""
        return sum(r.end - r.start for r in self.regions)

    def describe(self) -> str:
        """What was kept and what was set aside, in a few lines."""
        kept = ", ".join(
            f"{s.layout.name or s.stream_id}: {s.count}" for s in self.streams.values()
        )
        lines = [f"kept {self.chunks_kept} chunks (samples per stream: {kept or 'none'})"]
        if self.regions:
            lines.append(
                f"set aside {self.set_aside} bytes in {self.path.name}.torn"
                + "".join(f"\n  bytes {r.start}-{r.end}: {r.reason}" for r in self.regions)
            )
        if self.footers_added:
            lines.append(f"footers added for streams {self.footers_added}")
        return "\n".join(lines)


def repair_xdf(path: str | Path, *, dry_run: bool = False) -> RepairReport:
    """Keep every chunk that can be read, set the rest aside, add missing footers.

    A torn tail is cut (kept in ``<path>.torn``, as is everything set aside: no byte is ever
    deleted). Damage inside the file (a chunk that cannot be framed, a stream header with
    broken XML, chunks of a stream whose header is lost) makes repair write the file again:
    every readable chunk as it was, broken headers rebuilt from their legible fields, the
    unreadable ranges appended to ``.torn`` in file order.
    """
    p = Path(path)
    if not p.exists():
        raise XdfError(f"{p}: no such file")
    scan = scan_xdf(p)
    missing = [sid for sid, s in scan.streams.items() if not s.has_footer]
    inner = [r for r in scan.regions if r.start < scan.valid_end]
    report = RepairReport(
        p, scan.torn_bytes, scan.problem, missing, scan.streams, scan.regions, scan.chunks,
        scan.orphans,
    )  # fmt: skip
    if dry_run or not report.changed:
        return report
    torn = p.with_name(p.name + ".torn")
    footers = b"".join(
        chunk(
            TAG_STREAM_FOOTER,
            struct.pack("<I", sid)
            + footer_xml(s.first, s.last, s.count, s.offsets).encode("utf-8"),
        )
        for sid, s in scan.streams.items()
        if sid in missing
    )
    if not inner:
        with open(p, "r+b") as f:
            if scan.torn_bytes:
                f.seek(scan.valid_end)
                with open(torn, "ab") as t:
                    t.write(f.read())
                f.truncate(scan.valid_end)
            f.seek(0, os.SEEK_END)
            f.write(footers)
            f.flush()
            os.fsync(f.fileno())
        return report
    tmp = p.with_name(p.name + ".repairing")
    with open(p, "rb") as src, open(tmp, "wb") as dst, open(torn, "ab") as t:
        pos = 0
        for r in scan.regions:
            _copy(src, dst, pos, r.start)
            _copy(src, t, r.start, r.end)
            dst.write(r.replacement)
            pos = r.end
        _copy(src, dst, pos, scan.size)
        dst.write(footers)
        dst.flush()
        os.fsync(dst.fileno())
        t.flush()
        os.fsync(t.fileno())
    os.replace(tmp, p)
    return report


def _copy(src: BinaryIO, dst: BinaryIO, a: int, b: int) -> None:
    src.seek(a)
    left = b - a
    while left > 0:
        block = src.read(min(left, 1 << 22))
        if not block:
            break
        dst.write(block)
        left -= len(block)

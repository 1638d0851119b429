"""Index of an XDF file: its chunk layout, stream headers and footers, found damage.

Moved out of :mod:`mirrorvr.analysis.xdf_fast` (which re-exports every name).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError, fromstring

MAGIC = b"XDF:"
TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET = 1, 2, 3, 4
TAG_BOUNDARY, TAG_STREAM_FOOTER = 5, 6
BOUNDARY_SIGNATURE = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")
NUMERIC_DTYPES = {
    "int8": "<i1", "int16": "<i2", "int32": "<i4", "int64": "<i8",
    "float32": "<f4", "double64": "<f8",
}  # fmt: skip


class NotFast(Exception):
    """The fast path does not apply to this file (the reason is the message)."""


@dataclass
class Damage:
    """One problem found in a recording: ``kind`` is truncated | corrupt | no_footer |
    clock_reset | time_jump | log_mismatch | log_fallback | gap."""

    kind: str
    message: str


@dataclass
class StreamIndex:
    """Where one stream's chunks are, and what its header and footer say."""

    stream_id: int
    header: dict[str, Any]  # pyxdf's dict-of-lists form of the <info> XML
    fmt: str
    nch: int
    srate: float
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, length, n)
    clock_times: list[float] = field(default_factory=list)
    clock_values: list[float] = field(default_factory=list)
    footer: dict[str, Any] | None = None

    @property
    def count(self) -> int:
        """Samples in the file."""
        return sum(n for _, _, n in self.samples)

    @property
    def name(self) -> str:
        """The stream's name (or ``stream<id>``)."""
        v = self.header["info"].get("name")
        return str(v[0]) if isinstance(v, list) and v and v[0] else f"stream{self.stream_id}"


@dataclass
class XdfIndex:
    """Every stream's chunks, the file header, and the damage found."""

    path: Path
    size: int
    file_header: dict[str, Any] | None
    streams: dict[int, StreamIndex]
    damage: list[Damage]
    #: byte ranges that could not be read (start, end)
    skipped: list[tuple[int, int]] = field(default_factory=list)


def xml2dict(t: Any) -> dict[str, Any]:
    """pyxdf's form of an XML element: {tag: {child: [values...]}} or {tag: text}."""
    from collections import defaultdict

    dd: dict[str, list[Any]] = defaultdict(list)
    for dc in map(xml2dict, list(t)):
        for k, v in dc.items():
            dd[k].append(v)
    return {t.tag: dd or t.text}


def _varlen(f: BinaryIO) -> int | None:
    """A variable-length integer; None at a clean end of file; ValueError if invalid."""
    b = f.read(1)
    if not b:
        return None
    width = b[0]
    if width not in (1, 4, 8):
        raise ValueError(f"invalid length width {width}")
    raw = f.read(width)
    if len(raw) != width:
        raise EOFError
    return int.from_bytes(raw, "little")


def _scan_to_boundary(f: BinaryIO) -> bool:
    """Move past the next Boundary signature; False if there is none."""
    block = 1 << 20
    while True:
        pos = f.tell()
        buf = f.read(block + len(BOUNDARY_SIGNATURE))
        hit = buf.find(BOUNDARY_SIGNATURE)
        if hit >= 0:
            f.seek(pos + hit + len(BOUNDARY_SIGNATURE))
            return True
        if len(buf) <= block:
            f.seek(pos + len(buf))
            return False
        f.seek(pos + block)


def index_xdf(path: str | Path) -> XdfIndex:
    """Walk the chunks of an uncompressed XDF file (see the module docstring)."""
    p = Path(path)
    size = p.stat().st_size
    streams: dict[int, StreamIndex] = {}
    damage: list[Damage] = []
    skipped: list[tuple[int, int]] = []
    file_header: dict[str, Any] | None = None
    with open(p, "rb") as f:
        if f.read(4) != MAGIC:
            raise NotFast("does not start with 'XDF:'")
        while True:
            start = f.tell()
            try:
                length = _varlen(f)
                if length is None:
                    break
                if length < 2:
                    raise ValueError(f"chunk length {length} is too short")
                head = start + (f.tell() - start)
                if head + length > size:
                    raise EOFError
                tag = struct.unpack("<H", f.read(2))[0]
                if tag in (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER):
                    if length < 6:
                        raise ValueError("chunk too short for its stream id")
                    sid = struct.unpack("<I", f.read(4))[0]
                    body_len = length - 6
                    if tag != TAG_STREAM_HEADER and sid not in streams:
                        raise ValueError(f"chunk of stream {sid} before its header")
                    if tag == TAG_STREAM_HEADER:
                        hdr = xml2dict(fromstring(f.read(body_len).decode("utf-8", "replace")))
                        info = hdr["info"]
                        streams[sid] = StreamIndex(
                            sid,
                            hdr,
                            str(info["channel_format"][0]),
                            int(info["channel_count"][0]),
                            float(info["nominal_srate"][0]),
                        )
                    elif tag == TAG_SAMPLES:
                        at = f.tell()
                        n = _varlen(f)
                        if n is None:
                            raise EOFError
                        streams[sid].samples.append((at, body_len, n))
                        f.seek(at + body_len)
                    elif tag == TAG_CLOCK_OFFSET:
                        t, v = struct.unpack("<dd", f.read(16))
                        streams[sid].clock_times.append(t)
                        streams[sid].clock_values.append(v)
                    else:
                        raw = f.read(body_len)
                        try:
                            streams[sid].footer = xml2dict(fromstring(raw))
                        except ParseError:
                            damage.append(
                                Damage("corrupt", f"{p}: footer of stream {sid} is not XML")
                            )
                elif tag == TAG_FILE_HEADER:
                    file_header = xml2dict(fromstring(f.read(length - 2)))
                else:  # boundary and unknown tags: skip by length
                    f.seek(head + length)
            except EOFError:
                damage.append(
                    Damage(
                        "truncated",
                        f"{p}: truncated: the file ends inside a chunk at byte {start} of "
                        f"{size} ({size - start} bytes unread; the recorder was killed or "
                        "the copy is incomplete)",
                    )
                )
                skipped.append((start, size))
                break
            except (ValueError, ParseError, KeyError, IndexError, struct.error) as e:
                f.seek(start + 1)
                found = _scan_to_boundary(f)
                end = f.tell() if found else size
                skipped.append((start, end))
                damage.append(
                    Damage(
                        "corrupt",
                        f"{p}: corrupt chunk at byte {start} ({e}); "
                        + (
                            f"resumed at the next boundary chunk ({end - start} bytes skipped)"
                            if found
                            else f"no boundary chunk after it: the last {size - start} bytes "
                            "are unread"
                        ),
                    )
                )
                if not found:
                    break
    unfooted = [s.name for s in streams.values() if s.footer is None]
    if unfooted:
        damage.append(
            Damage(
                "no_footer",
                f"{p}: no footer for stream(s) {', '.join(unfooted)}: the recording was not "
                f"closed properly (crash?); `mirrorvr xdf repair {p}` adds them",
            )
        )
    return XdfIndex(p, size, file_header, streams, damage, skipped)

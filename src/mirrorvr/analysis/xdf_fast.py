"""Reading XDF for analysis: index the chunks first, then read only what is needed, in bulk.

``index_xdf`` walks the file chunk by chunk with seeks (headers, footers and clock offsets are
read; sample chunks are only located and counted), and names every kind of damage it meets:
a file that ends inside a chunk (truncated), a chunk that cannot be framed (corrupt: it
resumes at the next Boundary chunk, as pyxdf does), streams without a footer.

``read_xdf`` then reads the samples of the chosen streams: numeric chunks whose samples all
carry an explicit 8-byte timestamp (mirrorvr's writer always does) are parsed with one
``numpy.frombuffer`` over the chunk's record layout, straight into arrays allocated once from
the index (no per-chunk lists to concatenate). Streams whose values are not wanted get their
timestamps only, and a loader that reads the values on first use. Clock synchronisation and
dejittering are pyxdf's own steps, run on these arrays, so the result is what
``pyxdf.load_xdf`` gives; files the fast path does not cover (gzip-compressed, corrupt
chunks, LabRecorder's omitted timestamps) raise :class:`NotFast` and the loader uses pyxdf.

The chunk layout is XDF 1.0 (``/work/shared/reference/lsl-xdf.md`` §4); the tag numbers
and formats are the same as in :mod:`mirrorvr.streams.xdf_writer` (a test checks they agree).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import ParseError, fromstring

import numpy as np

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


def _read_numeric(
    f: BinaryIO, s: StreamIndex, *, values: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """All timestamps (and values) of a numeric stream, parsed in bulk per chunk."""
    item = np.dtype(NUMERIC_DTYPES[s.fmt]).itemsize * s.nch
    rec = np.dtype([("b", "u1"), ("t", "<f8"), ("v", NUMERIC_DTYPES[s.fmt], (s.nch,))])
    total = s.count
    ts = np.empty(total)
    vals = np.empty((total, s.nch), dtype=NUMERIC_DTYPES[s.fmt]) if values else None
    o = 0
    for at, length, n in s.samples:
        f.seek(at)
        buf = f.read(length)
        pos = 1 + (4 if buf[0] == 4 else 8 if buf[0] == 8 else 1)
        if len(buf) - pos != n * (9 + item):
            raise NotFast(f"stream {s.name}: samples without their own timestamps")
        r = np.frombuffer(buf, dtype=rec, offset=pos, count=n)
        if not np.all(r["b"] == 8):
            raise NotFast(f"stream {s.name}: samples without their own timestamps")
        ts[o : o + n] = r["t"]
        if vals is not None:
            vals[o : o + n] = r["v"]
        o += n
    return ts, vals


def _read_strings(f: BinaryIO, s: StreamIndex) -> tuple[np.ndarray, list[list[str]]]:
    ts: list[float] = []
    rows: list[list[str]] = []
    last, step = 0.0, (1.0 / s.srate if s.srate > 0 else 0.0)
    for at, length, _n in s.samples:
        f.seek(at)
        buf = f.read(length)
        n, pos = _buf_varlen(buf, 0)
        for _ in range(n):
            if buf[pos] != 0:
                last = struct.unpack_from("<d", buf, pos + 1)[0]
                pos += 9
            else:
                last += step
                pos += 1
            row = []
            for _c in range(s.nch):
                ln, pos = _buf_varlen(buf, pos)
                row.append(buf[pos : pos + ln].decode(errors="replace"))
                pos += ln
            ts.append(last)
            rows.append(row)
    return np.asarray(ts, dtype=float), rows


def _buf_varlen(buf: bytes, pos: int) -> tuple[int, int]:
    w = buf[pos]
    if w == 1:
        return buf[pos + 1], pos + 2
    if w == 4:
        return struct.unpack_from("<I", buf, pos + 1)[0], pos + 5
    if w == 8:
        return struct.unpack_from("<Q", buf, pos + 1)[0], pos + 9
    raise NotFast(f"invalid variable-length integer width {w}")


@dataclass
class LazyValues:
    """Values of a stream not read yet: ``load()`` reads them all (the first ``n`` samples),
    ``rows(a, b)`` only the chunks holding samples ``a:b``."""

    n: int
    nch: int
    load: Callable[[], np.ndarray]
    rows: Callable[[int, int], np.ndarray]

    def __len__(self) -> int:
        return self.n


def read_xdf(
    path: str | Path,
    *,
    values: Callable[[StreamIndex], bool] | None = None,
    synchronize_clocks: bool = True,
    dejitter: bool = True,
    index: XdfIndex | None = None,
) -> tuple[list[dict[str, Any]], XdfIndex]:
    """Streams in ``pyxdf.load_xdf``'s form (a list of dicts), and the file's index.

    ``values(stream)`` says whether a numeric stream's values are read now; others carry a
    :class:`LazyValues` as ``time_series``. String streams are always read.
    Raises :class:`NotFast` where pyxdf must read the file instead.
    """
    from pyxdf import pyxdf as px  # pyxdf's own clock sync and dejitter: the same result

    p = Path(path)
    if p.name.lower().endswith((".xdfz", ".gz")):
        raise NotFast("compressed")
    needed = (
        "StreamData",
        "_truncate_corrupted_offsets",
        "_clock_sync",
        "_stream_can_drop_samples",
    )
    if not all(hasattr(px, n) for n in needed):  # pyxdf's steps this reader reuses (>= 1.17.4)
        raise NotFast("this pyxdf version lacks the steps the fast reader reuses")
    idx = index or index_xdf(p)
    if any(d.kind == "corrupt" for d in idx.damage):
        raise NotFast("corrupt chunks (pyxdf resumes at boundaries its own way)")
    if not all(s.fmt in NUMERIC_DTYPES or s.fmt == "string" for s in idx.streams.values()):
        raise NotFast("unknown channel format")
    temp: dict[int, Any] = {}
    headers: dict[int, dict[str, Any]] = {}
    with open(p, "rb") as f:
        for sid, s in idx.streams.items():
            hdr = s.header
            if s.footer is not None:
                hdr["footer"] = s.footer
            headers[sid] = hdr
            sd = px.StreamData(hdr)
            if s.fmt == "string":
                sd.time_stamps, sd.time_series = _read_strings(f, s)
            else:
                want = values is None or values(s)
                ts, vals = _read_numeric(f, s, values=want)
                sd.time_stamps = ts
                sd.time_series = vals if vals is not None else np.empty((len(ts), 0))
                if vals is None:
                    sd.lazy = True
            sd.clock_times = list(s.clock_times)
            sd.clock_values = list(s.clock_values)
            temp[sid] = sd
    if synchronize_clocks:
        temp = px._truncate_corrupted_offsets(temp, headers)
        temp = px._clock_sync(temp)
    if dejitter:
        temp = dejitter_streams(temp, headers)
    else:
        for sd in temp.values():
            if sd.srate != 0 and len(sd.time_stamps) > 1:
                sd.effective_srate = (len(sd.time_stamps) - 1) / (
                    sd.time_stamps[-1] - sd.time_stamps[0]
                )
            if len(sd.time_stamps):
                sd.segments.append((0, len(sd.time_stamps) - 1))
    out = []
    for sid, hdr in headers.items():
        sd = temp[sid]
        info = hdr["info"]
        info["stream_id"] = sid
        info["effective_srate"] = sd.effective_srate
        info["segments"] = sd.segments
        info["clock_segments"] = sd.clock_segments
        series = sd.time_series
        if getattr(sd, "lazy", False):
            series = LazyValues(
                len(sd.time_stamps),
                idx.streams[sid].nch,
                _loader(p, idx.streams[sid], len(sd.time_stamps)),
                _RowReader(p, idx.streams[sid], len(sd.time_stamps)),
            )
        out.append(
            {
                "info": info,
                "footer": hdr.get("footer"),
                "time_series": series,
                "time_stamps": sd.time_stamps,
                "clock_times": sd.clock_times,
                "clock_values": sd.clock_values,
            }
        )
    return out, idx


_BLOCK = 1 << 20  # samples per block in the dejitter sums: bounded temporary memory


def dejitter_streams(
    temp: dict[int, Any],
    headers: dict[int, dict[str, Any]],
    threshold_seconds: float = 1.0,
    threshold_samples: int = 500,
) -> dict[int, Any]:
    """pyxdf's jitter removal (same segments, same straight-line fit per segment, same
    effective rate), with the least-squares line from running sums over blocks instead of
    ``numpy.linalg.lstsq`` on an (n, 2) matrix: an hour of 2 kHz EMG needs ~60 MB here, not
    ~400. Timestamps agree with pyxdf's to well under a microsecond (rounding only)."""
    import logging

    from pyxdf import pyxdf as px

    log = logging.getLogger("pyxdf.pyxdf")
    for sid, st in temp.items():
        st.effective_srate = 0
        n = len(st.time_stamps)
        if n == 0:
            continue
        if st.srate == 0:
            st.segments.append((0, n - 1))
            continue
        if px._stream_can_drop_samples(headers.get(sid)):
            st.segments.append((0, n - 1))
            if n > 1:
                duration = st.time_stamps[-1] - st.time_stamps[0]
                if duration > 0:
                    st.effective_srate = (n - 1) / duration
            continue
        ts = st.time_stamps
        limit = max(threshold_seconds, threshold_samples * st.tdiff)
        breaks = np.nonzero(np.abs(np.diff(ts)) > limit)[0]
        start_idx = np.hstack(([0], breaks + 1))
        stop_idx = np.hstack((breaks, n - 1))
        segments = list(zip(start_idx.tolist(), stop_idx.tolist(), strict=True))
        st.segments.extend(segments)
        for a, b in segments:
            _fit_line(ts, a, b + 1)
        counts = (stop_idx + 1) - start_idx
        if np.any(counts > 1):
            durations = ts[stop_idx] - ts[start_idx]
            st.effective_srate = np.sum(counts - 1) / np.sum(durations)
        if abs(st.srate - st.effective_srate) / st.srate > 0.1:
            log.warning(
                "Stream %d: Calculated effective sampling rate %.4f Hz is different from "
                "specified rate %.4f Hz.",
                sid,
                st.effective_srate,
                st.srate,
            )
    return temp


def _fit_line(ts: np.ndarray, a: int, b: int) -> None:
    """Replace ``ts[a:b]`` by its least-squares line over the sample index, in place."""
    m = b - a
    if m == 1:
        return  # one point: the line through it is itself
    # centred sums (index centre is exact): sxy = sum((i - ci) * (t - mt)), sxx in closed form
    ci = (a + b - 1) / 2.0
    mt = 0.0
    for k in range(a, b, _BLOCK):
        mt += float(np.sum(ts[k : min(k + _BLOCK, b)]))
    mt /= m
    sxy = 0.0
    for k in range(a, b, _BLOCK):
        e = min(k + _BLOCK, b)
        sxy += float(np.dot(np.arange(k, e) - ci, ts[k:e] - mt))
    sxx = m * (m * m - 1) / 12.0
    slope = sxy / sxx
    for k in range(a, b, _BLOCK):
        e = min(k + _BLOCK, b)
        ts[k:e] = mt + slope * (np.arange(k, e) - ci)


def _loader(path: Path, s: StreamIndex, n: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        with open(path, "rb") as f:
            _ts, vals = _read_numeric(f, s, values=True)
        assert vals is not None
        return vals[:n]

    return load


class _RowReader:
    """Samples ``a:b`` of a numeric stream from the chunks that hold them; the last chunk read
    is kept, since the windows asked for (around pulses of a train) tend to share chunks."""

    def __init__(self, path: Path, s: StreamIndex, n: int) -> None:
        self.path, self.s, self.n = path, s, n
        self.starts = np.cumsum([0] + [k for _, _, k in s.samples])
        self.rec = np.dtype([("b", "u1"), ("t", "<f8"), ("v", NUMERIC_DTYPES[s.fmt], (s.nch,))])
        self._cached: tuple[int, np.ndarray] | None = None

    def _chunk(self, i: int) -> np.ndarray:
        if self._cached is not None and self._cached[0] == i:
            return self._cached[1]
        at, length, k = self.s.samples[i]
        with open(self.path, "rb") as f:
            f.seek(at)
            buf = f.read(length)
        pos = 1 + (4 if buf[0] == 4 else 8 if buf[0] == 8 else 1)
        vals = np.frombuffer(buf, dtype=self.rec, offset=pos, count=k)["v"].copy()
        self._cached = (i, vals)
        return vals

    def __call__(self, a: int, b: int) -> np.ndarray:
        a, b = max(0, a), min(b, self.n)
        if b <= a:
            return np.empty((0, self.s.nch), dtype=NUMERIC_DTYPES[self.s.fmt])
        first = int(np.searchsorted(self.starts, a, side="right")) - 1
        last = int(np.searchsorted(self.starts, b - 1, side="right")) - 1
        parts = [self._chunk(i) for i in range(first, last + 1)]
        block = parts[0] if len(parts) == 1 else np.concatenate(parts)
        off = a - int(self.starts[first])
        return block[off : off + (b - a)]


def wants_values(
    roles: Collection[str], classify: Callable[..., str]
) -> Callable[[StreamIndex], bool]:
    """A ``values`` predicate for :func:`read_xdf`: read values of streams in these roles."""

    def want(s: StreamIndex) -> bool:
        info = s.header["info"]
        name = str((info.get("name") or [""])[0] or "")
        type_ = str((info.get("type") or [""])[0] or "")
        return classify(name, type_, s.fmt, s.srate, None) in roles

    return want

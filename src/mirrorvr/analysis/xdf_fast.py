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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mirrorvr.analysis.xdf_dejitter import (
    _BLOCK as _BLOCK,
)
from mirrorvr.analysis.xdf_dejitter import (
    _fit_line as _fit_line,
)
from mirrorvr.analysis.xdf_dejitter import (
    dejitter_streams as dejitter_streams,
)
from mirrorvr.analysis.xdf_index import (
    BOUNDARY_SIGNATURE as BOUNDARY_SIGNATURE,
)
from mirrorvr.analysis.xdf_index import (
    MAGIC as MAGIC,
)
from mirrorvr.analysis.xdf_index import (
    NUMERIC_DTYPES as NUMERIC_DTYPES,
)
from mirrorvr.analysis.xdf_index import (
    TAG_BOUNDARY as TAG_BOUNDARY,
)
from mirrorvr.analysis.xdf_index import (
    TAG_CLOCK_OFFSET as TAG_CLOCK_OFFSET,
)
from mirrorvr.analysis.xdf_index import (
    TAG_FILE_HEADER as TAG_FILE_HEADER,
)
from mirrorvr.analysis.xdf_index import (
    TAG_SAMPLES as TAG_SAMPLES,
)
from mirrorvr.analysis.xdf_index import (
    TAG_STREAM_FOOTER as TAG_STREAM_FOOTER,
)
from mirrorvr.analysis.xdf_index import (
    TAG_STREAM_HEADER as TAG_STREAM_HEADER,
)
from mirrorvr.analysis.xdf_index import (
    Damage as Damage,
)
from mirrorvr.analysis.xdf_index import (
    NotFast as NotFast,
)
from mirrorvr.analysis.xdf_index import (
    StreamIndex as StreamIndex,
)
from mirrorvr.analysis.xdf_index import (
    XdfIndex as XdfIndex,
)
from mirrorvr.analysis.xdf_index import (
    _scan_to_boundary as _scan_to_boundary,
)
from mirrorvr.analysis.xdf_index import (
    _varlen as _varlen,
)
from mirrorvr.analysis.xdf_index import (
    index_xdf as index_xdf,
)
from mirrorvr.analysis.xdf_index import (
    xml2dict as xml2dict,
)


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

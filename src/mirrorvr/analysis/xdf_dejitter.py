"""Dejittering of XDF stream timestamps: a straight-line fit per clock segment, in bounded blocks.

Moved out of :mod:`mirrorvr.analysis.xdf_fast` (which re-exports every name).
"""

from __future__ import annotations

from typing import Any

import numpy as np

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

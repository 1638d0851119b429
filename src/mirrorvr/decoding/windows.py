"""Overlapping analysis windows over a multichannel signal (pure)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def window_samples(length_s: float, increment_s: float, fs: float) -> tuple[int, int]:
    """(window length, increment) in samples for a sampling rate ``fs`` (each at least 1)."""
    if fs <= 0 or length_s <= 0 or increment_s <= 0:
        raise ValueError("window length, increment and sampling rate must be positive")
    return max(1, round(length_s * fs)), max(1, round(increment_s * fs))


def window_starts(n_samples: int, length: int, increment: int) -> NDArray[np.int64]:
    """First sample of every whole window in ``n_samples`` samples (empty if none fits)."""
    if length < 1 or increment < 1:
        raise ValueError("window length and increment must be at least one sample")
    if n_samples < length:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - length + 1, increment, dtype=np.int64)


def sliding_windows(x: NDArray[np.floating], length: int, increment: int) -> NDArray[np.float64]:
    """``x`` (samples × channels) cut into windows: an array (windows × length × channels).

    A read-only view where possible (no copy): windows share samples when they overlap.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    starts = window_starts(a.shape[0], length, increment)
    if len(starts) == 0:
        return np.zeros((0, length, a.shape[1]))
    view = np.lib.stride_tricks.sliding_window_view(a, length, axis=0)  # (n-L+1, ch, L)
    return np.swapaxes(view[starts], 1, 2)

"""Time-domain EMG features per channel (Hudgins et al. 1993; the field's standard set).

For a window of one channel ``x[0..N-1]``:

``MAV``  mean absolute value, ``mean |x|`` (amplitude)
``WL``   waveform length, ``sum |x[i] − x[i−1]|`` (amplitude and frequency together)
``ZC``   zero crossings: sign changes with ``|x[i] − x[i−1]| ≥ threshold``
``SSC``  slope sign changes: local extrema with either slope ``≥ threshold``

ZC and SSC count only changes bigger than a threshold, so baseline noise does not count (a
threshold a little above the amplifier's noise; in µV). Counts and WL are divided by the
window length, so the features mean the same for any window length. All functions take a
stack of windows (windows × samples × channels) and return (windows × channels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
#: feature names in the order :func:`feature_matrix` lays them out
DEFAULT_FEATURES = ("MAV", "WL", "ZC", "SSC")
#: µV: counting threshold for ZC and SSC (surface amplifiers have a few µV RMS noise)
DEFAULT_THRESHOLD_UV = 2.0


def mav(w: Array) -> Array:
    """Mean absolute value per window and channel."""
    return np.mean(np.abs(w), axis=1)


def wl(w: Array) -> Array:
    """Waveform length per sample (sum of absolute first differences / window length)."""
    return np.sum(np.abs(np.diff(w, axis=1)), axis=1) / w.shape[1]


def zc(w: Array, threshold: float = DEFAULT_THRESHOLD_UV) -> Array:
    """Fraction of sample pairs that cross zero by at least ``threshold``."""
    a, b = w[:, :-1], w[:, 1:]
    crossing = (a * b < 0) & (np.abs(a - b) >= threshold)
    return np.sum(crossing, axis=1) / w.shape[1]


def ssc(w: Array, threshold: float = DEFAULT_THRESHOLD_UV) -> Array:
    """Fraction of samples where the slope changes sign by at least ``threshold``."""
    left = w[:, 1:-1] - w[:, :-2]
    right = w[:, 1:-1] - w[:, 2:]
    change = (left * right > 0) & ((np.abs(left) >= threshold) | (np.abs(right) >= threshold))
    return np.sum(change, axis=1) / w.shape[1]


_FEATURES: dict[str, Callable[[Array, float], Array]] = {
    "MAV": lambda w, th: mav(w),
    "WL": lambda w, th: wl(w),
    "ZC": zc,
    "SSC": ssc,
}


def feature_names(names: Sequence[str], channels: int) -> list[str]:
    """Column names of :func:`feature_matrix` (``MAV_1``, ``MAV_2``, ..., ``SSC_8``)."""
    return [f"{n}_{c + 1}" for n in names for c in range(channels)]


def feature_matrix(
    windows: Array,
    names: Sequence[str] = DEFAULT_FEATURES,
    threshold: float = DEFAULT_THRESHOLD_UV,
) -> Array:
    """Features of every window: (windows × (features · channels)), feature-major."""
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] < 3:
        raise ValueError("windows must be (windows × samples × channels) with ≥ 3 samples")
    unknown = [n for n in names if n not in _FEATURES]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; known: {', '.join(_FEATURES)}")
    return np.concatenate([_FEATURES[n](w, threshold) for n in names], axis=1)

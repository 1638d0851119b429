"""Motor evoked potentials (MEPs): measure one per pulse from EMG. Pure, numpy only.

The API is three functions and three small records::

    settings = MepSettings()                                   # 15-50 ms window, 50 µV, ...
    results = measure_meps(emg_uv, timestamps, pulse_times, settings)   # one MepResult per pulse
    summary = summarize_meps(results)                          # medians over accepted trials

EMG is one channel in microvolts with LSL timestamps (seconds, same clock as the pulses).
Per pulse the measure

1. takes the pre-pulse baseline window (default −55…−5 ms): its mean is the DC offset that is
   removed, its RMS gates relaxation (a trial with baseline RMS above ``max_baseline_rms_uv``
   is rejected: even a few µV of pre-activation raises MEP probability);
2. blanks the stimulus artefact (``artefact_ms`` after the pulse) and rejects the trial if the
   artefact has not decayed by the start of the MEP window, or if the amplifier saturated;
3. measures peak-to-peak amplitude in the MEP window (default 15–50 ms after the pulse) and the
   onset latency: the first sample in the window whose deviation from the baseline exceeds
   ``onset_sd`` baseline standard deviations (and ``onset_min_uv``), if the MEP is positive;
4. calls the trial positive if accepted and peak-to-peak is strictly above ``criterion_uv``.

Peak-to-peak amplitudes are skewed, so summaries are medians, quartiles and geometric means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class MepSettings:
    """How MEPs are measured. Times in ms relative to the pulse, amplitudes in µV."""

    window_ms: tuple[float, float] = (15.0, 50.0)
    baseline_ms: tuple[float, float] = (-55.0, -5.0)
    #: samples this long after the pulse are never measured (the stimulus artefact)
    artefact_ms: float = 5.0
    #: reject if the artefact still deviates more than this from baseline at the window start
    artefact_settle_uv: float = 50.0
    #: relaxation gate: reject if baseline RMS (after removing its mean) exceeds this
    max_baseline_rms_uv: float | None = 10.0
    #: positive MEP: peak-to-peak strictly above this (50 µV at rest, 100 µV active)
    criterion_uv: float = 50.0
    #: amplifier range: a sample at or beyond ± this in the measured span means saturation
    clip_uv: float | None = None
    onset_sd: float = 5.0
    onset_min_uv: float = 10.0

    def __post_init__(self) -> None:
        lo, hi = self.window_ms
        blo, bhi = self.baseline_ms
        if not 0 <= lo < hi:
            raise ValueError(f"window_ms must be 0 <= start < end, got {self.window_ms}")
        if not blo < bhi <= 0:
            raise ValueError(f"baseline_ms must be start < end <= 0, got {self.baseline_ms}")
        if not 0 <= self.artefact_ms <= lo:
            raise ValueError(
                f"artefact_ms ({self.artefact_ms}) must lie between 0 and the window start ({lo})"
            )


@dataclass(frozen=True)
class MepResult:
    """One pulse's MEP. ``pp_uv`` is measured even for rejected trials (None if no data)."""

    pulse_t: float
    pp_uv: float | None
    latency_ms: float | None
    baseline_rms_uv: float | None
    accepted: bool
    positive: bool
    reason: str = ""  # why rejected ("" if accepted)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for event payloads (floats rounded to what the measurement supports)."""
        d = asdict(self)
        for k in ("pp_uv", "baseline_rms_uv"):
            if d[k] is not None:
                d[k] = round(d[k], 2)
        if d["latency_ms"] is not None:
            d["latency_ms"] = round(d["latency_ms"], 2)
        return d


@dataclass(frozen=True)
class MepSummary:
    """Robust summary over the accepted trials."""

    n: int
    n_accepted: int
    n_positive: int
    median_pp_uv: float | None
    q25_pp_uv: float | None
    q75_pp_uv: float | None
    geomean_pp_uv: float | None
    median_latency_ms: float | None


def _rejected(
    pulse_t: float, reason: str, pp: float | None = None, rms: float | None = None
) -> MepResult:
    return MepResult(pulse_t, pp, None, rms, accepted=False, positive=False, reason=reason)


def measure_mep(
    emg_uv: np.ndarray, timestamps: np.ndarray, pulse_t: float, settings: MepSettings
) -> MepResult:
    """Measure the MEP after one pulse (arrays as from :func:`measure_meps`)."""
    s = settings
    ms = 1e-3
    t_rel = timestamps - pulse_t
    b0, b1 = np.searchsorted(t_rel, [s.baseline_ms[0] * ms, s.baseline_ms[1] * ms])
    w0, w1 = np.searchsorted(t_rel, [s.window_ms[0] * ms, s.window_ms[1] * ms], side="right")
    a1 = int(np.searchsorted(t_rel, s.artefact_ms * ms, side="right"))
    if len(timestamps) < 2 or b1 - b0 < 3 or w1 - w0 < 3:
        return _rejected(pulse_t, "no EMG covering the baseline and MEP windows")
    # the windows must be covered end to end, not just touched
    dt = float(np.median(np.diff(timestamps[b0:w1])))
    if (
        t_rel[b0] - s.baseline_ms[0] * ms > 2 * dt
        or s.window_ms[1] * ms - t_rel[w1 - 1] > 2 * dt
        or float(np.max(np.diff(timestamps[b0:w1]))) > 5 * dt
    ):
        return _rejected(pulse_t, "gap in the EMG around the pulse")
    base = emg_uv[b0:b1]
    offset = float(np.mean(base))
    sd = float(np.std(base))
    rms = sd  # RMS after removing the DC offset
    win = emg_uv[w0:w1] - offset
    pp = float(np.max(win) - np.min(win))
    if s.clip_uv is not None and float(np.max(np.abs(emg_uv[b0:w1]))) >= s.clip_uv:
        return _rejected(pulse_t, "amplifier saturated", pp, rms)
    if s.max_baseline_rms_uv is not None and rms > s.max_baseline_rms_uv:
        return _rejected(
            pulse_t,
            f"baseline EMG {rms:.1f} µV RMS above {s.max_baseline_rms_uv:g} µV (not relaxed)",
            pp,
            rms,
        )
    settle = emg_uv[max(a1, w0 - max(1, round(1e-3 / dt))) : w0 + 1] - offset
    if len(settle) and float(np.max(np.abs(settle))) > s.artefact_settle_uv and _decaying(settle):
        return _rejected(pulse_t, "stimulus artefact not decayed by the MEP window", pp, rms)
    positive = pp > s.criterion_uv
    latency = None
    if positive:
        # searched inside the window only: the artefact's tail must never pass for an onset
        seg = np.abs(win)
        above = np.nonzero(seg > max(s.onset_sd * sd, s.onset_min_uv))[0]
        if len(above):
            latency = float(t_rel[w0 + above[0]]) / ms
    return MepResult(pulse_t, pp, latency, rms, accepted=True, positive=positive)


def _decaying(settle: np.ndarray) -> bool:
    # An artefact tail is a large deviation shrinking towards baseline; an early MEP rising at
    # the window start is growing. Only the former rejects the trial.
    return bool(abs(settle[0]) >= abs(settle[-1]))


def measure_meps(
    emg_uv: ArrayLike,
    timestamps: ArrayLike,
    pulse_times: Sequence[float] | ArrayLike,
    settings: MepSettings | None = None,
) -> list[MepResult]:
    """One :class:`MepResult` per pulse, in the order given.

    Parameters
    ----------
    emg_uv:
        One EMG channel in µV (1-D).
    timestamps:
        LSL time of each sample (s), increasing.
    pulse_times:
        LSL time of each pulse (s), on the same clock.
    settings:
        Windows, criterion and gates (default :class:`MepSettings`).
    """
    x = np.asarray(emg_uv, dtype=float).ravel()
    ts = np.asarray(timestamps, dtype=float).ravel()
    if x.shape != ts.shape:
        raise ValueError(f"EMG has {x.size} samples but {ts.size} timestamps")
    s = settings or MepSettings()
    return [measure_mep(x, ts, float(p), s) for p in np.asarray(pulse_times, dtype=float).ravel()]


def summarize_meps(results: Sequence[MepResult]) -> MepSummary:
    """Medians, quartiles and geometric mean of peak-to-peak over accepted trials."""
    acc = [r for r in results if r.accepted and r.pp_uv is not None]
    pps = np.array([r.pp_uv for r in acc], dtype=float)
    lats = [r.latency_ms for r in acc if r.latency_ms is not None]
    if not len(pps):
        return MepSummary(len(results), 0, 0, None, None, None, None, None)
    q25, med, q75 = (float(v) for v in np.percentile(pps, [25, 50, 75]))
    geo = float(math.exp(np.mean(np.log(np.maximum(pps, 1e-3)))))
    return MepSummary(
        n=len(results),
        n_accepted=len(acc),
        n_positive=sum(r.positive for r in acc),
        median_pp_uv=med,
        q25_pp_uv=q25,
        q75_pp_uv=q75,
        geomean_pp_uv=geo,
        median_latency_ms=float(np.median(lats)) if lats else None,
    )

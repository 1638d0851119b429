"""A simulated hand muscle: EMG that answers TMS pulses with MEPs. Pure synthesis, numpy only.

The body model (:class:`BodyModel`) turns a pulse of a given intensity into an MEP through a
sigmoid recruitment curve around a true resting motor threshold. Trial-to-trial variability is
a Gaussian jitter of the effective intensity (SD ``spread_frac`` × threshold), and the curve
gives exactly ``criterion_uv`` at the threshold, so the probability of a positive MEP is
Φ((x − MT) / (spread·MT)): the configured threshold *is* the 50 % point that the 5/10 rule and
ML-PEST estimate (additive EMG noise aside).

:class:`EmgGenerator` renders the signal sample by sample at ``fs`` (2 kHz by default): white
noise, a little mains hum, occasional bursts of baseline muscle activity (a pulse during one
gets a facilitated MEP, which a relaxation gate should reject), a stimulus artefact decaying
over a millisecond or so, and the MEP (a windowed biphasic wave at ~22 ms). The same generator
serves the real-time LSL publisher (pulses arrive from the emulated device while it renders)
and the fast path (:func:`synthesize_emg`: all pulses known up front, one array out).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class BodyModel:
    """The simulated patient's corticospinal response and EMG properties."""

    true_threshold_pct_mso: float = 48.0
    #: SD of the trial-to-trial threshold jitter, as a fraction of the threshold
    spread_frac: float = 0.07
    max_mep_uv: float = 3000.0
    #: sigmoid slope of the recruitment curve (% MSO per e-fold)
    slope_pct_mso: float = 4.0
    #: the amplitude the curve passes through at the threshold (the 50 µV rest criterion)
    criterion_uv: float = 50.0
    latency_ms: float = 22.0
    latency_sd_ms: float = 1.0
    mep_duration_ms: float = 12.0
    noise_rms_uv: float = 3.0
    mains_uv: float = 1.0
    mains_hz: float = 50.0
    #: mean time between bursts of baseline muscle activity (0 = never)
    activity_interval_s: float = 20.0
    activity_duration_s: tuple[float, float] = (0.5, 1.5)
    activity_rms_uv: float = 30.0
    #: a pulse during a burst meets a pre-activated muscle: effectively this much stronger
    activity_facilitation_pct_mso: float = 5.0
    artefact_uv: float = 800.0
    artefact_tau_ms: float = 1.0
    fs: float = 2000.0

    def __post_init__(self) -> None:
        if not 0 < self.true_threshold_pct_mso <= 150:
            raise ValueError("true_threshold_pct_mso must be in (0, 150]")
        if self.max_mep_uv <= self.criterion_uv:
            raise ValueError("max_mep_uv must exceed criterion_uv")

    def curve_uv(self, effective_pct_mso: float) -> float:
        """Noise-free recruitment curve: MEP peak-to-peak at an effective intensity."""
        t, k = self.true_threshold_pct_mso, self.slope_pct_mso
        half = t + k * math.log(self.max_mep_uv / self.criterion_uv - 1.0)
        z = (effective_pct_mso - half) / k
        return self.max_mep_uv / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def p_positive(self, intensity_pct_mso: float) -> float:
        """Probability that a pulse at rest gives an MEP above the criterion (noise aside)."""
        sd = self.spread_frac * self.true_threshold_pct_mso
        return 0.5 * math.erfc(
            -(intensity_pct_mso - self.true_threshold_pct_mso) / sd / math.sqrt(2)
        )


@dataclass(frozen=True)
class PulseTruth:
    """What the body did with one pulse (ground truth for tests and benchmarks)."""

    t: float
    intensity_pct_mso: float
    mep_uv: float  # peak-to-peak of the MEP waveform added to the EMG
    latency_ms: float
    active: bool  # the pulse fell in a burst of baseline muscle activity


def _mep_shape(n: int) -> np.ndarray:
    # one sine cycle under a sin² window: a smooth biphasic wave, normalised to peak-to-peak 1
    u = np.linspace(0.0, 1.0, n, endpoint=False) + 0.5 / n
    w = np.sin(2 * np.pi * u) * np.sin(np.pi * u) ** 2
    return w / float(w.max() - w.min())


@dataclass
class EmgGenerator:
    """Renders EMG at ``model.fs`` from ``t0`` on; pulses may be added while rendering.

    A pulse must be added before samples past its time are rendered (the real-time publisher
    renders with a lag for this); a pulse added later still gets its MEP from the next sample on.
    """

    model: BodyModel = field(default_factory=BodyModel)
    t0: float = 0.0
    seed: int = 0
    _rng: np.random.Generator = field(init=False, repr=False)
    _next: int = field(init=False, default=0)  # index of the next sample to render
    _events: list[tuple[int, np.ndarray]] = field(init=False, default_factory=list)
    _bursts: list[tuple[float, float]] = field(init=False, default_factory=list)
    _burst_horizon: float = field(init=False, default=0.0)
    truths: list[PulseTruth] = field(init=False, default_factory=list)
    #: the coil is off the hotspot: pulses are effectively this much weaker (% MSO)
    coil_offset_pct_mso: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._burst_horizon = self.t0

    @property
    def next_t(self) -> float:
        """Time of the next sample to be rendered."""
        return self.t0 + self._next / self.model.fs

    def _extend_bursts(self, until: float) -> None:
        m = self.model
        if m.activity_interval_s <= 0:
            return
        while self._burst_horizon < until:
            start = self._burst_horizon + float(self._rng.exponential(m.activity_interval_s))
            dur = float(self._rng.uniform(*m.activity_duration_s))
            self._bursts.append((start, start + dur))
            self._burst_horizon = start + dur

    def active_at(self, t: float) -> bool:
        """Whether the muscle is in a burst of baseline activity at ``t``."""
        self._extend_bursts(t + 1.0)
        return any(a <= t < b for a, b in self._bursts)

    def add_pulse(self, t: float, intensity_pct_mso: float) -> PulseTruth:
        """The body receives a pulse at ``t``: schedule its artefact and MEP."""
        m = self.model
        active = self.active_at(t)
        jitter = float(self._rng.normal(0.0, m.spread_frac * m.true_threshold_pct_mso))
        eff = (
            intensity_pct_mso
            + jitter
            + (m.activity_facilitation_pct_mso if active else 0.0)
            - self.coil_offset_pct_mso
        )
        amp = m.curve_uv(eff) if intensity_pct_mso > 0 else 0.0
        lat = max(8.0, float(self._rng.normal(m.latency_ms, m.latency_sd_ms)))
        fs = m.fs
        k0 = math.ceil((t - self.t0) * fs - 1e-9)  # first sample at or after the pulse
        # the artefact: a sharp deflection decaying exponentially, sign alternating at first
        n_art = max(1, int(10 * m.artefact_tau_ms * 1e-3 * fs))
        dt_art = (self.t0 + (k0 + np.arange(n_art)) / fs) - t
        art = m.artefact_uv * np.exp(-dt_art / (m.artefact_tau_ms * 1e-3))
        art[1::2] *= -0.6
        self._events.append((k0, art))
        if amp > 0:
            n_mep = max(4, round(m.mep_duration_ms * 1e-3 * fs))
            k_mep = math.ceil((t + lat * 1e-3 - self.t0) * fs)
            self._events.append((k_mep, amp * _mep_shape(n_mep)))
        truth = PulseTruth(t, intensity_pct_mso, amp, lat, active)
        self.truths.append(truth)
        return truth

    def skip_to(self, t: float) -> None:
        """Jump ahead to ``t`` without rendering (the fast path renders only epochs it needs)."""
        k = math.ceil((t - self.t0) * self.model.fs - 1e-9)
        if k > self._next:
            self._next = k
            self._events = [(k_ev, w) for k_ev, w in self._events if k_ev + len(w) > k]

    def render(self, until: float) -> tuple[np.ndarray, np.ndarray]:
        """Samples (µV) and timestamps from the next unrendered sample up to ``until``."""
        m = self.model
        n = math.floor((until - self.t0) * m.fs) - self._next + 1
        if n <= 0:
            return np.zeros(0), np.zeros(0)
        k = self._next + np.arange(n)
        ts = self.t0 + k / m.fs
        x = self._rng.normal(0.0, m.noise_rms_uv, n)
        x += m.mains_uv * np.sin(2 * np.pi * m.mains_hz * ts)
        if m.activity_interval_s > 0:
            self._extend_bursts(float(ts[-1]))
            for a, b in self._bursts:
                if b > ts[0] and a <= ts[-1]:
                    sel = (ts >= a) & (ts < b)
                    x[sel] += self._rng.normal(0.0, m.activity_rms_uv, int(sel.sum()))
        keep: list[tuple[int, np.ndarray]] = []
        for k_ev, wave in self._events:
            lo, hi = max(k_ev, k[0]), min(k_ev + len(wave), k[-1] + 1)
            if lo < hi:
                x[lo - k[0] : hi - k[0]] += wave[lo - k_ev : hi - k_ev]
            if k_ev + len(wave) > k[-1] + 1:
                keep.append((k_ev, wave))
        self._events = keep
        self._next += n
        return x, ts


@dataclass(frozen=True)
class EmgTrace:
    """A rendered EMG record with the body's ground truth per pulse."""

    emg_uv: np.ndarray
    timestamps: np.ndarray
    truths: list[PulseTruth]


def synthesize_emg(
    pulses: Sequence[tuple[float, float]],
    model: BodyModel | None = None,
    *,
    seed: int = 0,
    t0: float | None = None,
    t1: float | None = None,
) -> EmgTrace:
    """EMG for a list of ``(time, intensity % MSO)`` pulses, rendered in one go (fast path).

    The record runs from ``t0`` (default: 1 s before the first pulse) to ``t1`` (default: 0.5 s
    after the last).
    """
    ordered = sorted(pulses)
    start = t0 if t0 is not None else (ordered[0][0] - 1.0 if ordered else 0.0)
    end = t1 if t1 is not None else (ordered[-1][0] + 0.5 if ordered else start + 1.0)
    gen = EmgGenerator(model or BodyModel(), t0=start, seed=seed)
    for t, x in ordered:
        gen.add_pulse(t, x)
    emg, ts = gen.render(end)
    return EmgTrace(emg, ts, list(gen.truths))


class SimulatedEmg:
    """The fast-path EMG source: the body hears each pulse from the procedure itself.

    Used on the simulated clock (``mirrorvr sim --fast``, tests, benchmarks), where nothing
    runs in real time: only the epochs the MEP measure asks for are rendered. In real time the
    body listens to the emulated device instead (:mod:`mirrorvr.sim.emg_stream`).
    """

    def __init__(
        self,
        model: BodyModel | None = None,
        *,
        seed: int = 0,
        t0: float = 0.0,
        site_offsets: dict[str, float] | None = None,
    ) -> None:
        self.generator = EmgGenerator(model or BodyModel(), t0=t0, seed=seed)
        self.site_offsets = site_offsets
        self.site: str | None = None

    def move_coil(self, site: str) -> None:
        """The (simulated) operator places the coil at ``site``.

        Off the hotspot the muscle needs more output: ``site_offsets`` gives the extra % MSO
        per site; unknown sites get a stable pseudo-random 0-12 % (from the label).
        """
        self.site = site
        if self.site_offsets is not None and site in self.site_offsets:
            off = self.site_offsets[site]
        else:
            off = (zlib.crc32(site.encode()) % 1201) / 100.0
        self.generator.coil_offset_pct_mso = off

    @property
    def truths(self) -> list[PulseTruth]:
        """Ground truth of every pulse received."""
        return self.generator.truths

    def pulse_delivered(self, t: float, intensity_pct_mso: float) -> None:
        """The body receives a pulse."""
        self.generator.skip_to(t - 0.5)
        self.generator.add_pulse(t, intensity_pct_mso)

    def epoch(self, t: float, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Render ``t + start_s`` … ``t + end_s``."""
        self.generator.skip_to(t + start_s)
        return self.generator.render(t + end_s)

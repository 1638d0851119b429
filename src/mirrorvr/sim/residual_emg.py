"""Simulated surface EMG of a residual forearm: a patient executing phantom movements.

Pure synthesis, numpy only. Each motion class has a *spatial pattern* over the electrodes
around the stump (two Gaussian lobes on a ring of ``channels`` electrodes, placed per patient
with a little seeded jitter; rest has none). A contraction's envelope multiplies band-limited
noise on every channel by that pattern; then

* **cross-talk** mixes each channel with its ring neighbours (volume conduction);
* **fatigue** raises the amplitude with accumulated contraction time (at constant effort the
  surface EMG of a tiring muscle grows);
* **electrode shift** (day to day: the cuff never sits exactly where it did) rotates every
  pattern around the ring by a fraction of an inter-electrode distance;
* **baseline noise** and mains hum are added everywhere.

:class:`ResidualLimbEmg` renders samples up to a time from the executions it has been told
about (:meth:`~ResidualLimbEmg.execute`), in any chunking; :class:`ResidualPatient` is the
simulated patient who hears cues and executes the cued motion after a reaction time, at a
variable strength, and sometimes executes the wrong one.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
import zlib
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

#: lobe centres (in electrodes around the ring) of each motion's pattern: primary, secondary.
#: Primaries are spread evenly round the ring (flexor side first, extensor side opposite); the
#: secondary lobes overlap other motions' primaries, as muscles under the cuff share electrodes.
PATTERN_CENTRES: dict[str, tuple[float, float]] = {
    "hand_close": (0.0, 2.0),
    "wrist_flexion": (1.33, 7.0),
    "pronation": (2.67, 0.5),
    "hand_open": (4.0, 6.0),
    "wrist_extension": (5.33, 3.0),
    "supination": (6.67, 4.5),
}
REST = "rest"


@dataclass(frozen=True)
class ResidualEmgModel:
    """Electrodes, signal levels and the imperfections of the simulated recording."""

    channels: int = 8
    fs: float = 1000.0
    #: RMS (µV) on a pattern's peak electrode at full effort
    contraction_uv: float = 40.0
    noise_rms_uv: float = 3.0
    mains_uv: float = 1.5
    mains_hz: float = 50.0
    #: lobe width (electrodes, SD of the Gaussian) and the secondary lobe's weight
    lobe_width: float = 0.9
    secondary: float = 0.45
    #: per-patient jitter of the lobe centres (electrodes)
    centre_jitter: float = 0.25
    #: share of each channel's signal that leaks to each ring neighbour
    crosstalk: float = 0.18
    #: amplitude growth per minute of accumulated contraction
    fatigue_per_min: float = 0.06
    #: rotation of the cuff since calibration (electrodes; a day-to-day shift is ~0.1–0.5)
    electrode_shift: float = 0.0
    #: how fast a contraction builds up (s)
    ramp_s: float = 0.15
    #: contraction-to-contraction variability of each electrode's share (SD, relative): no
    #: two repetitions recruit the muscles exactly alike
    pattern_sd: float = 0.25

    def __post_init__(self) -> None:
        if self.channels < 2 or self.fs <= 0:
            raise ValueError("need at least 2 channels and a positive sampling rate")

    def pattern(self, motion: str, seed: int = 0) -> Array:
        """Spatial pattern of ``motion`` (one weight per electrode, peak about 1; rest: 0)."""
        if motion == REST:
            return np.zeros(self.channels)
        try:
            c1, c2 = PATTERN_CENTRES[motion]
        except KeyError:
            raise ValueError(
                f"no EMG pattern for motion {motion!r} (known: {', '.join(PATTERN_CENTRES)})"
            ) from None
        rng = random.Random(seed * 1_000_003 + zlib.crc32(motion.encode()))
        scale = self.channels / 8.0  # centres are given for 8 electrodes
        out = np.zeros(self.channels)
        ch = np.arange(self.channels, dtype=np.float64)
        for centre, weight in ((c1, 1.0), (c2, self.secondary)):
            c = centre * scale + rng.uniform(-1, 1) * self.centre_jitter + self.electrode_shift
            d = np.abs((ch - c + self.channels / 2) % self.channels - self.channels / 2)
            out += weight * np.exp(-0.5 * (d / (self.lobe_width * scale)) ** 2)
        return out / out.max()

    def mixing(self) -> Array:
        """Cross-talk matrix (channels × channels): each channel leaks to its ring neighbours."""
        n = self.channels
        m = np.eye(n) * (1.0 - 2 * self.crosstalk)
        for i in range(n):
            m[i, (i - 1) % n] += self.crosstalk
            m[i, (i + 1) % n] += self.crosstalk
        return m


@dataclass(frozen=True)
class Execution:
    """The patient executes ``motion`` at ``level`` (1 = as in calibration) from ``start``."""

    motion: str
    start: float
    duration: float
    level: float = 1.0
    #: this contraction's pattern (the motion's, varied)
    pattern: tuple[float, ...] = ()


@dataclass
class ResidualLimbEmg:
    """Renders the residual limb's EMG on a fixed sample grid from ``t0`` (any chunking)."""

    model: ResidualEmgModel = field(default_factory=ResidualEmgModel)
    t0: float = 0.0
    seed: int = 0
    #: seed of the patient's patterns (the same patient every session: same patterns)
    patient_seed: int = 0

    def __post_init__(self) -> None:
        m = self.model
        self._rng = np.random.default_rng(self.seed)
        self._pattern_rng = np.random.default_rng(self.seed + 7_777_777)
        self._patterns = {k: m.pattern(k, self.patient_seed) for k in (*PATTERN_CENTRES, REST)}
        self._mix = m.mixing()
        self._executions: list[Execution] = []
        self._starts: list[float] = []
        self._n = 0  # samples rendered
        self._active_s = 0.0  # accumulated contraction (fatigue)
        self._last_white = np.zeros(m.channels)
        # the real-time publisher renders on its thread while the session's patient acts
        self._lock = threading.Lock()

    @property
    def rendered_until(self) -> float:
        """Time of the next sample to render."""
        return self.t0 + self._n / self.model.fs

    def execute(self, motion: str, start: float, duration: float, level: float = 1.0) -> None:
        """From ``start`` for ``duration`` s, contract for ``motion`` (a later start wins)."""
        if motion != REST and motion not in PATTERN_CENTRES:
            raise ValueError(f"no EMG pattern for motion {motion!r}")
        with self._lock:
            base = self._patterns[motion]
            vary = 1.0 + self.model.pattern_sd * self._pattern_rng.standard_normal(len(base))
            e = Execution(motion, start, duration, level, tuple(base * np.clip(vary, 0.2, None)))
            i = bisect.bisect_right(self._starts, start)
            self._starts.insert(i, start)
            self._executions.insert(i, e)

    def current(self, t: float) -> Execution | None:
        """The execution under way at ``t`` (``None``: resting, nothing told yet)."""
        with self._lock:
            i = bisect.bisect_right(self._starts, t) - 1
            if i < 0:
                return None
            e = self._executions[i]
        return e if t < e.start + e.duration else None

    def intended(self, t: float) -> str:
        """The motion being executed at ``t`` (``rest`` if none)."""
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return REST
        e = self._executions[i]
        return e.motion if t < e.start + e.duration else REST

    def _envelope(self, ts: Array) -> Array:
        """(samples × channels) contraction envelope at times ``ts``."""
        m = self.model
        env = np.zeros((len(ts), m.channels))
        if not self._executions:
            return env
        idx = np.searchsorted(np.asarray(self._starts), ts, side="right") - 1
        for i in np.unique(idx[idx >= 0]):
            e = self._executions[int(i)]
            sel = idx == i
            dt = ts[sel] - e.start
            on = (dt >= 0) & (dt < e.duration)
            ramp = np.clip(dt / max(m.ramp_s, 1e-9), 0.0, 1.0) * on * e.level
            env[sel] = ramp[:, None] * np.asarray(e.pattern)[None, :]
        return env

    def render(self, until: float) -> tuple[Array, Array]:
        """Samples from where the last call ended up to ``until``: (samples × channels), times."""
        with self._lock:
            return self._render(until)

    def _render(self, until: float) -> tuple[Array, Array]:
        m = self.model
        n_end = math.floor((until - self.t0) * m.fs + 1e-9) + 1
        n = max(0, n_end - self._n)
        k = self._n + np.arange(n)
        ts = self.t0 + k / m.fs
        self._n += n
        if n == 0:
            return np.zeros((0, m.channels)), ts
        env = self._envelope(ts)
        active = np.any(env > 0.05, axis=1)
        fatigue = 1.0 + m.fatigue_per_min * (self._active_s + np.cumsum(active) / m.fs) / 60.0
        self._active_s += float(np.sum(active)) / m.fs
        # band-limited carrier: first difference of white noise (removes slow components) then a
        # two-sample mean (tames the top), scaled back to unit RMS
        white = self._rng.standard_normal((n, m.channels))
        prev = np.vstack([self._last_white[None, :], white[:-1]])
        self._last_white = white[-1].copy()
        carrier = (white - prev) / math.sqrt(2.0)
        source = carrier * env * fatigue[:, None] * m.contraction_uv
        emg = source @ self._mix.T
        emg += self._rng.standard_normal((n, m.channels)) * m.noise_rms_uv
        emg += m.mains_uv * np.sin(2 * math.pi * m.mains_hz * ts)[:, None]
        return emg, ts


@dataclass
class ResidualPatient:
    """A simulated amputee executing cued phantom movements, not always perfectly."""

    limb: ResidualLimbEmg
    seed: int = 0
    #: probability of executing another motion than the cued one
    wrong_p: float = 0.05
    reaction_s: tuple[float, float] = (0.25, 0.5)
    #: contraction strength: mean and SD relative to the calibration level
    level: tuple[float, float] = (0.8, 0.12)
    #: closed loop: a contraction the phantom does not follow is retried after this long
    retry_s: float = 1.5

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reaction(self) -> float:
        """A reaction time (s)."""
        return self._rng.uniform(*self.reaction_s)

    def strength(self) -> float:
        """A contraction strength."""
        return max(0.2, self._rng.gauss(*self.level))

    def cued(self, motion: str, onset: float, duration: float, choices: list[str]) -> str:
        """Execute the cued ``motion`` (or, sometimes, another of ``choices``); returns which."""
        done = motion
        others = [c for c in choices if c != motion and c != REST]
        if motion != REST and others and self._rng.random() < self.wrong_p:
            done = self._rng.choice(others)
        start = onset + self.reaction()
        self.limb.execute(done, start, max(0.0, onset + duration - start), self.strength())
        return done

    def act(self, motion: str, t: float, level: float | None = None) -> None:
        """Switch to ``motion`` at ``t`` (closed loop: the patient steers what they see).

        ``level`` grades the effort (people slow down as they near a target); asked for the
        same motion at the same effort for longer than ``retry_s``, the patient relaxes
        briefly and contracts afresh (a new contraction, a slightly different pattern), as
        people do when the phantom does not follow.
        """
        current = self.limb.current(t)
        if current is not None and current.motion == motion:
            steady = level is None or abs(current.level - level) < 0.15
            if motion == REST or (steady and t - current.start < self.retry_s):
                return
            if steady:  # the phantom did not follow: relax, then try again
                self.limb.execute(REST, t, 0.3)
                t += 0.3
        self.limb.execute(motion, t, 3600.0, self.strength() if level is None else level)


class SimulatedResidualFeed:
    """The simulated limb as an EMG feed on the simulated clock (rendered when polled)."""

    def __init__(self, limb: ResidualLimbEmg) -> None:
        self.limb = limb
        self.fs = limb.model.fs
        self.channels = limb.model.channels

    def poll(self, until: float) -> tuple[Array, Array]:
        """Render up to ``until``."""
        return self.limb.render(until)

    def problem(self) -> str | None:
        """A simulated feed is never lost."""
        return None

    def close(self) -> None:
        """Nothing to release."""

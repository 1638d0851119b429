"""ML-PEST: maximum-likelihood threshold hunting (Awiszus 2003), as the reference specifies.

Model: P(positive | x; t) = Φ((x − t) / (0.07 t)), intensities as fractions of MSO, one free
parameter t on the grid 0.002 … 1.300. Two pseudo-trials (negative at 0, positive at 1.302)
keep the estimate finite. After each trial the log-likelihood L(t) is updated; non-finite
values count as −1e5; the estimate is the mean of all grid points tied at the maximum (ties
are common early, where Φ saturates in double precision — so Φ is always computed the same
way here, 0.5·erfc(−z/√2), and 1 − Φ literally, and a regression vector pins the behaviour).
The next pulse is given at the estimate, rounded to the stimulator's resolution.

Stopping: after ``max_trials`` (fixed count), or once the likelihood-ratio 95 % interval
({t : L(t) ≥ max L − 1.92}) has a half-width ≤ ``ci_half_width_pct`` % MSO and at least
``min_trials`` trials were given. The result records which rule ended the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mirrorvr.threshold.estimate import ThresholdEstimate, Trial

GRID_STEP = 0.002
GRID = np.arange(1, 651) * GRID_STEP  # 0.002 … 1.300 (fractions of MSO)
SPREAD = 0.07  # s = 0.07 · t
NONFINITE_LL = -1e5
#: half of the χ²(1) 95 % quantile: the likelihood-ratio interval's drop from the maximum
LR_DROP_95 = 1.920729

_erfc = np.frompyfunc(math.erfc, 1, 1)


def phi(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF via erfc, elementwise (the one way Φ is computed here)."""
    return np.asarray(0.5 * _erfc(-z / math.sqrt(2.0)), dtype=float)


def trial_loglik(x_frac: float, positive: bool, grid: np.ndarray = GRID) -> np.ndarray:
    """Log-likelihood of one trial at intensity ``x_frac`` for every candidate threshold."""
    p = phi((x_frac - grid) / (SPREAD * grid))
    with np.errstate(divide="ignore"):
        return np.log(p) if positive else np.log(1.0 - p)


@dataclass
class MLPest:
    """ML-PEST estimator. Intensities in % MSO; ``resolution_pct`` is the stimulator's step."""

    start_pct_mso: float = 60.0
    max_trials: int = 20
    ci_half_width_pct: float | None = None
    min_trials: int = 8
    resolution_pct: float = 1.0
    min_pct_mso: float = 1.0
    max_pct_mso: float = 100.0
    method: str = "ml-pest"
    loglik: np.ndarray = field(init=False, repr=False)
    trials: list[Trial] = field(init=False, default_factory=list)
    estimates: list[float] = field(init=False, default_factory=list)  # % MSO, unrounded

    def __post_init__(self) -> None:
        if self.max_trials < 1:
            raise ValueError("max_trials must be at least 1")
        if not 0 < self.min_pct_mso <= self.start_pct_mso <= self.max_pct_mso:
            raise ValueError(
                f"start intensity {self.start_pct_mso} % MSO must lie in "
                f"[{self.min_pct_mso}, {self.max_pct_mso}]"
            )
        self.loglik = trial_loglik(0.0, False) + trial_loglik(1.302, True)

    def _clean(self) -> np.ndarray:
        return np.where(np.isfinite(self.loglik), self.loglik, NONFINITE_LL)

    @property
    def estimate_frac(self) -> float:
        """Current ML estimate as a fraction of MSO (mean of the tied maxima)."""
        ll = self._clean()
        return float(np.mean(GRID[ll == ll.max()]))

    @property
    def n_tied(self) -> int:
        """Grid points tied at the maximum likelihood."""
        ll = self._clean()
        return int(np.count_nonzero(ll == ll.max()))

    def interval_pct(self) -> tuple[float, float]:
        """Likelihood-ratio 95 % interval of the threshold, % MSO."""
        ll = self._clean()
        inside = GRID[ll >= ll.max() - LR_DROP_95]
        return float(inside.min() * 100), float(inside.max() * 100)

    def _round(self, pct: float) -> float:
        r = self.resolution_pct
        x = math.floor(pct / r + 0.5) * r  # half up, not banker's rounding
        return float(min(self.max_pct_mso, max(self.min_pct_mso, round(x, 6))))

    def _stop_reason(self) -> str:
        n = len(self.trials)
        if self.ci_half_width_pct is not None and n >= self.min_trials:
            lo, hi = self.interval_pct()
            if (hi - lo) / 2 <= self.ci_half_width_pct:
                return f"95 % interval half-width ≤ {self.ci_half_width_pct:g} % MSO"
        if n >= self.max_trials:
            return f"fixed count of {self.max_trials} trials"
        return ""

    def next_intensity(self) -> float | None:
        """The start intensity, then the rounded current estimate; None once a rule stops."""
        if self._stop_reason():
            return None
        if not self.trials:
            return self._round(self.start_pct_mso)
        return self._round(self.estimate_frac * 100)

    def record(self, intensity_pct_mso: float, positive: bool) -> None:
        """Add one trial's log-likelihood."""
        self.loglik = self.loglik + trial_loglik(intensity_pct_mso / 100.0, positive)
        self.trials.append(Trial(intensity_pct_mso, positive))
        self.estimates.append(self.estimate_frac * 100)

    def result(self) -> ThresholdEstimate:
        """Estimate (unrounded % MSO), interval and the rule that stopped the run."""
        if not self.trials:
            return ThresholdEstimate(self.method, None, 0, "no trials")
        est = self.estimate_frac * 100
        reason = self._stop_reason() or "stopped early"
        found: float | None = round(est, 2)
        if est > self.max_pct_mso + self.resolution_pct / 2:
            # never tested there: an extrapolation is not a measured threshold
            found = None
            reason = (
                f"threshold above the highest allowed intensity ({self.max_pct_mso:g} % MSO; "
                f"estimate {est:.1f} %); {reason}"
            )
        return ThresholdEstimate(
            method=self.method,
            mt_pct_mso=found,
            n_trials=len(self.trials),
            stop_reason=reason,
            ci_pct_mso=self.interval_pct(),
            trials=tuple(self.trials),
        )

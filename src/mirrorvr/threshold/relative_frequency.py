"""The relative-frequency ("5 of 10", Rossini–Rothwell) motor-threshold method.

From the start intensity, go up in ``step_up_pct`` steps until a level gives ≥ 5 of 10
positive MEPs; then go down in ``step_down_pct`` steps until a level gives fewer than 5 of 10;
the threshold is the last level that met the criterion. Each level stops early once the
criterion is met (5 positives) or can no longer be met (6 negatives), as in the reference
simulations; ``needed``/``per_level`` give the 10/20 variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mirrorvr.threshold.estimate import ThresholdEstimate, Trial


@dataclass
class RelativeFrequency:
    """5/10 estimator. Intensities in % MSO."""

    start_pct_mso: float = 50.0
    step_up_pct: float = 5.0
    step_down_pct: float = 1.0
    needed: int = 5
    per_level: int = 10
    min_pct_mso: float = 1.0
    max_pct_mso: float = 100.0
    max_trials: int = 400
    method: str = "5-10"
    trials: list[Trial] = field(init=False, default_factory=list)
    level: float = field(init=False, default=0.0)
    phase: str = field(init=False, default="up")  # up | down | done
    last_met: float | None = field(init=False, default=None)
    _pos: int = field(init=False, default=0)
    _neg: int = field(init=False, default=0)
    _reason: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not 0 < self.needed <= self.per_level:
            raise ValueError("needed must be in 1..per_level")
        if not self.min_pct_mso <= self.start_pct_mso <= self.max_pct_mso:
            raise ValueError(
                f"start intensity {self.start_pct_mso} % MSO must lie in "
                f"[{self.min_pct_mso}, {self.max_pct_mso}]"
            )
        self.level = self.start_pct_mso

    def next_intensity(self) -> float | None:
        """The current level's intensity, or None when finished."""
        if self.phase == "done":
            return None
        if len(self.trials) >= self.max_trials:
            self._finish(f"trial limit of {self.max_trials} reached")
            return None
        return self.level

    def _finish(self, reason: str) -> None:
        self.phase, self._reason = "done", reason

    def _next_level(self, level: float) -> None:
        self.level, self._pos, self._neg = round(level, 6), 0, 0

    def record(self, intensity_pct_mso: float, positive: bool) -> None:
        """Count the trial at the current level and move levels when a level is decided."""
        self.trials.append(Trial(intensity_pct_mso, positive))
        if positive:
            self._pos += 1
        else:
            self._neg += 1
        met = self._pos >= self.needed
        failed = self._neg > self.per_level - self.needed
        if not (met or failed):
            return
        if met:
            self.last_met = self.level
            nxt = self.level - self.step_down_pct
            self.phase = "down"
            if nxt < self.min_pct_mso:
                self._finish("criterion met at the lowest allowed intensity")
            else:
                self._next_level(nxt)
        elif self.phase == "up":
            nxt = self.level + self.step_up_pct
            if self.level >= self.max_pct_mso:
                self._finish(
                    f"fewer than {self.needed}/{self.per_level} MEPs at the highest "
                    f"allowed intensity ({self.max_pct_mso:g} % MSO)"
                )
            else:
                self._next_level(min(nxt, self.max_pct_mso))
        else:
            self._finish(f"fewer than {self.needed}/{self.per_level} MEPs one step below")

    def result(self) -> ThresholdEstimate:
        """The last level that met the criterion (None if none did)."""
        return ThresholdEstimate(
            method=self.method,
            mt_pct_mso=self.last_met,
            n_trials=len(self.trials),
            stop_reason=self._reason or "stopped early",
            trials=tuple(self.trials),
        )

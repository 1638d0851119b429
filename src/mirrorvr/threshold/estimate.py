"""What every threshold estimator offers, and the result it hands back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Trial:
    """One accepted pulse as an estimator saw it."""

    intensity_pct_mso: float
    positive: bool


@dataclass(frozen=True)
class ThresholdEstimate:
    """A finished (or stopped) estimate of the resting motor threshold.

    ``mt_pct_mso`` is ``None`` when the method could not find a threshold (e.g. no MEPs at the
    highest allowed intensity). ``stop_reason`` says which rule ended the run.
    """

    method: str
    mt_pct_mso: float | None
    n_trials: int
    stop_reason: str
    ci_pct_mso: tuple[float, float] | None = None
    trials: tuple[Trial, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for events and JSON files (trials left out: they are logged per pulse)."""
        d = asdict(self)
        d.pop("trials")
        if self.ci_pct_mso is not None:
            d["ci_pct_mso"] = [round(v, 2) for v in self.ci_pct_mso]
        return d


class ThresholdEstimator(Protocol):
    """A pure, stepwise estimator: ask for the next intensity, report the response."""

    method: str

    def next_intensity(self) -> float | None:
        """Intensity (% MSO, at the stimulator's resolution) of the next pulse; None = done."""
        ...

    def record(self, intensity_pct_mso: float, positive: bool) -> None:
        """Feed one accepted trial (rejected trials are not fed: the pulse is repeated)."""
        ...

    def result(self) -> ThresholdEstimate:
        """The estimate so far (final once ``next_intensity`` returns None)."""
        ...

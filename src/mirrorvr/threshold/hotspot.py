"""Hotspot search: a few pulses per coil position at a fixed intensity, MEPs logged per site.

The operator names each coil position (a label such as ``C3``, ``C3+1cm-N`` or a
neuronavigation target id) and places the coil; the procedure fires ``pulses_per_site`` single
pulses at one intensity through the same governed path as threshold hunting and logs every
pulse and MEP with the site label. The hotspot is the site with the largest median MEP
(ties: more positive MEPs). Positions are the operator's; mirrorvr records them, it does not
move a coil.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mirrorvr.analysis.mep import summarize_meps
from mirrorvr.threshold.estimate import ThresholdEstimate, Trial
from mirrorvr.threshold.procedure import ThresholdProcedure


@dataclass
class FixedIntensity:
    """An estimator-shaped sequence: ``n`` accepted trials at one intensity (no estimate)."""

    intensity_pct_mso: float
    n: int
    method: str = "hotspot"
    trials: list[Trial] = field(default_factory=list)

    def next_intensity(self) -> float | None:
        """The fixed intensity until ``n`` trials were accepted."""
        return self.intensity_pct_mso if len(self.trials) < self.n else None

    def record(self, intensity_pct_mso: float, positive: bool) -> None:
        """Count one accepted trial."""
        self.trials.append(Trial(intensity_pct_mso, positive))

    def result(self) -> ThresholdEstimate:
        """No threshold: a hotspot search only measures MEPs."""
        return ThresholdEstimate(
            self.method,
            None,
            len(self.trials),
            f"{len(self.trials)} pulses at the site",
            trials=tuple(self.trials),
        )


@dataclass(frozen=True)
class SiteResult:
    """MEPs at one coil position."""

    site: str
    pulses: int
    accepted: int
    positive: int
    median_pp_uv: float | None


@dataclass(frozen=True)
class HotspotResult:
    """Every site searched and the one chosen."""

    intensity_pct_mso: float
    sites: tuple[SiteResult, ...]
    best: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "intensity_pct_mso": self.intensity_pct_mso,
            "best": self.best,
            "sites": [asdict(s) for s in self.sites],
        }


def choose_hotspot(sites: Sequence[SiteResult]) -> str | None:
    """The site with the largest median MEP (ties: more positives); None if no MEP measured."""
    measured = [s for s in sites if s.median_pp_uv is not None]
    if not measured:
        return None
    return max(measured, key=lambda s: (s.median_pp_uv, s.positive)).site


def run_hotspot_search(
    proc: ThresholdProcedure,
    sites: Sequence[str],
    *,
    intensity_pct_mso: float,
    pulses_per_site: int = 5,
    move_coil: Callable[[str], None] | None = None,
) -> HotspotResult:
    """Fire ``pulses_per_site`` pulses at each site (coil placed via ``move_coil``)."""
    results: list[SiteResult] = []
    for site in sites:
        if move_coil is not None:
            move_coil(site)
        proc.site = site
        outcome = proc.run(FixedIntensity(intensity_pct_mso, pulses_per_site))
        summ = summarize_meps(outcome.meps)
        res = SiteResult(site, outcome.pulses, summ.n_accepted, summ.n_positive, summ.median_pp_uv)
        results.append(res)
        proc.log.append(
            "hotspot_site",
            proc.clock.now(),
            durable=True,
            intensity_pct_mso=intensity_pct_mso,
            **asdict(res),
        )
        if outcome.status != "completed":
            break
    best = choose_hotspot(results)
    return HotspotResult(intensity_pct_mso, tuple(results), best)

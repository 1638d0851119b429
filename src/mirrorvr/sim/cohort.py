"""A simulated cohort for courses and trials: pain that changes over weeks, not just in a session.

Each simulated patient has a baseline pain (NRS) and a *course effect*: a fractional reduction
of pain that builds with every session towards the arm's full effect (``effect[stimulation]``,
with a time constant of ``build_sessions`` sessions) and decays exponentially between visits
(time constant ``decay_days``). Sham carries a placebo response (a smaller full effect), so
active > sham with a placebo response in both. On top: day-to-day noise, a small acute drop
from pre to post within a session, missed visits, dropouts and adverse events.

The defaults follow Malavera 2016 (VAS −53 % active vs −23 % sham at the end of ten daily
sessions; gone by 30 days after): with ``decay_days`` = 30 the effect halves in about three
weeks and is mostly gone by three months. Deterministic per seed. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CohortModel:
    """The simulation's parameters (what the trial's result should recover)."""

    baseline_mean: float = 6.8
    baseline_sd: float = 1.3
    #: full fractional pain reduction a course builds towards, per stimulation condition
    effect: dict[str, float] = field(default_factory=lambda: {"active": 0.53, "sham": 0.23})
    build_sessions: float = 3.0
    decay_days: float = 30.0
    noise_sd: float = 0.6
    #: NRS points from pre to post within a session (both arms)
    acute_drop: float = 0.4
    p_missed_visit: float = 0.04
    p_dropout_per_visit: float = 0.008
    #: per session: (description, probability active, probability sham, severity, relatedness)
    adverse_events: tuple[tuple[str, float, float, str, str], ...] = (
        ("headache", 0.10, 0.07, "mild", "possible"),
        ("scalp discomfort", 0.06, 0.02, "mild", "probable"),
        ("worsened pain during stimulation", 0.02, 0.02, "moderate", "possible"),
    )


@dataclass
class SimulatedCoursePatient:
    """One simulated patient over a whole course (ratings are NRS integers 0-10)."""

    stimulation: str
    seed: int
    model: CohortModel = field(default_factory=CohortModel)
    baseline: float = field(init=False)
    level: float = field(init=False, default=0.0)
    last_day: dt.date | None = field(init=False, default=None)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.stimulation not in self.model.effect:
            raise ValueError(f"stimulation '{self.stimulation}' has no effect in the model")
        self._rng = random.Random(self.seed)
        m = self.model
        self.baseline = min(10.0, max(3.0, self._rng.gauss(m.baseline_mean, m.baseline_sd)))

    def _level_on(self, day: dt.date) -> float:
        if self.last_day is None:
            return 0.0
        days = max(0, (day - self.last_day).days)
        return self.level * math.exp(-days / self.model.decay_days)

    def expected_pain(self, day: dt.date) -> float:
        """Mean pain on ``day`` without noise."""
        return self.baseline * (1.0 - self._level_on(day))

    def _nrs(self, mean: float) -> int:
        return int(min(10, max(0, round(self._rng.gauss(mean, self.model.noise_sd)))))

    def rate(self, day: dt.date) -> int:
        """A rating outside a session (follow-up, baseline)."""
        return self._nrs(self.expected_pain(day))

    def session(self, day: dt.date) -> tuple[int, int]:
        """(pre, post) ratings of a session on ``day``; the course effect builds."""
        pre = self._nrs(self.expected_pain(day))
        full = self.model.effect[self.stimulation]
        lv = self._level_on(day)
        self.level = lv + (full - lv) * (1.0 - math.exp(-1.0 / self.model.build_sessions))
        self.last_day = day
        post = self._nrs(self.expected_pain(day) - self.model.acute_drop)
        return pre, post

    def misses(self) -> bool:
        """Whether the patient misses this visit."""
        return self._rng.random() < self.model.p_missed_visit

    def drops_out(self) -> bool:
        """Whether the patient leaves the study before this visit."""
        return self._rng.random() < self.model.p_dropout_per_visit

    def adverse_events(self) -> list[tuple[str, str, str]]:
        """Adverse events of one session: (description, severity, relatedness)."""
        i = 1 if self.stimulation == "active" else 2
        return [
            (ae[0], ae[3], ae[4])
            for ae in self.model.adverse_events
            if self._rng.random() < float(ae[i])
        ]

    def follow_up(self, day: dt.date) -> dict[str, float]:
        """Follow-up instruments: pain now and last week, PLP frequency, interference."""
        now = self.rate(day)
        week = sum(self.expected_pain(day - dt.timedelta(days=k)) for k in range(7)) / 7
        last_week = round(min(10.0, max(0.0, week + self._rng.gauss(0, 0.3))), 1)
        freq = min(4, max(0, round(now / 2.5)))
        interference = round(min(10.0, max(0.0, 0.7 * now + self._rng.gauss(0, 0.8))), 1)
        return {
            "nrs_now": float(now),
            "nrs_last_week": float(last_week),
            "plp_frequency": float(freq),
            "bpi_interference": float(interference),
        }

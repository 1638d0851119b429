"""A simulated patient: answers pain ratings and laterality trials, deterministically per seed.

Pain ratings start from a baseline and fall by a configurable treatment effect from the pre to
the post rating ("during" ratings fall by half of it); across sessions part of each session's
effect carries over (``carryover``), so the baseline drifts down over a course of sessions
(``session_index`` 0, 1, 2, ...); laterality answers get slower and less accurate with rotation angle, as in
published laterality-recognition norms (accuracy ≈ 80–90 %, RT ≈ 1–2.5 s).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass
class SimulatedPatient:
    """Deterministic stand-in for the person in the headset."""

    seed: int = 0
    baseline_pain: float = 6.0
    treatment_effect: float = 1.5  # mean drop in NRS points from pre to post
    rating_rt_s: tuple[float, float] = (2.0, 6.0)
    #: sessions already done in this course of treatment
    session_index: int = 0
    #: fraction of each session's effect still there at the next session
    carryover: float = 0.0
    #: mean agreement (0-10) with each embodiment statement
    embodiment_mean: dict[str, float] = field(
        default_factory=lambda: {"ownership": 6.0, "agency": 7.5, "location": 5.5}
    )
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pain_rating(self, timepoint: str) -> tuple[int, float]:
        """(NRS 0-10, seconds taken to answer)."""
        start = max(
            0.0, self.baseline_pain - self.carryover * self.treatment_effect * self.session_index
        )
        drop = {"post": 1.0, "during": 0.5}.get(timepoint, 0.0) * self.treatment_effect
        mean = start - drop
        value = int(min(10, max(0, round(self._rng.gauss(mean, 0.8)))))
        return value, self._rng.uniform(*self.rating_rt_s)

    def embodiment_rating(self, item: str) -> tuple[int, float]:
        """(agreement 0-10 with embodiment statement ``item``, seconds taken to answer).

        Agency is felt most (the limb moves with the patient), location least; sessions later
        in a course feel a little more embodied.
        """
        mean = self.embodiment_mean.get(item, 5.5) + 0.1 * self.session_index
        value = int(min(10, max(0, round(self._rng.gauss(mean, 1.0)))))
        return value, self._rng.uniform(*self.rating_rt_s)

    def laterality_answer(self, side: str, angle_deg: int) -> tuple[str, float]:
        """(answered side, reaction time in s); harder at larger rotations."""
        a = abs(((angle_deg + 180) % 360) - 180) / 180.0
        p_correct = 0.95 - 0.15 * a
        answer = (
            side if self._rng.random() < p_correct else ("left" if side == "right" else "right")
        )
        rt = 0.9 + 0.9 * a + abs(self._rng.gauss(0.0, 0.25)) + 0.1 * math.sin(angle_deg)
        return answer, max(0.3, rt)

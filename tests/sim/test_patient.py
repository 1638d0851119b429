"""The simulated patient's pain ratings: treatment effect within and across sessions."""

from __future__ import annotations

import statistics

from mirrorvr.sim.patient import SimulatedPatient


def _mean(p: SimulatedPatient, timepoint: str, n: int = 300) -> float:
    return statistics.mean(p.pain_rating(timepoint)[0] for _ in range(n))


def test_ratings_fall_with_the_treatment_effect_and_drift_across_sessions() -> None:
    p = SimulatedPatient(seed=1, baseline_pain=6.0, treatment_effect=2.0)
    pre, during, post = _mean(p, "pre"), _mean(p, "during"), _mean(p, "post")
    assert abs(pre - 6.0) < 0.3 and abs(during - 5.0) < 0.3 and abs(post - 4.0) < 0.3
    later = SimulatedPatient(
        seed=1, baseline_pain=6.0, treatment_effect=2.0, session_index=5, carryover=0.2
    )
    assert abs(_mean(later, "pre") - 4.0) < 0.3  # 6 - 0.2 * 2 * 5
    none = SimulatedPatient(seed=1, baseline_pain=6.0, treatment_effect=0.0)
    assert abs(_mean(none, "post") - _mean(none, "pre")) < 0.3
    assert SimulatedPatient(seed=3).pain_rating("pre") == SimulatedPatient(seed=3).pain_rating(
        "pre"
    )

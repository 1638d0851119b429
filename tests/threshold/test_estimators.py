"""The pure estimators: ML-PEST against the reference regression vector, 5/10 step by step."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorvr.threshold.estimate import ThresholdEstimator
from mirrorvr.threshold.mlpest import GRID, MLPest, phi, trial_loglik
from mirrorvr.threshold.relative_frequency import RelativeFrequency

# clinical-workflow.md §8.3: deterministic subject responding iff x >= 0.45, start 0.60,
# intensities rounded to 1 % MSO. (trial, intensity, response, estimate after, tied points)
REGRESSION = [
    (1, 0.60, True, 0.190, 189),
    (2, 0.19, False, 0.392, 1),
    (3, 0.39, False, 0.492, 1),
    (4, 0.49, True, 0.438, 1),
    (5, 0.44, False, 0.464, 1),
    (6, 0.46, True, 0.446, 1),
    (7, 0.45, True, 0.436, 1),
    (8, 0.44, False, 0.446, 1),
]


def run(est: ThresholdEstimator, respond: object) -> list[float]:
    given_: list[float] = []
    while (x := est.next_intensity()) is not None:
        given_.append(x)
        est.record(x, respond(x))  # type: ignore[operator]
    return given_


def test_mlpest_reproduces_the_regression_vector() -> None:
    est = MLPest(start_pct_mso=60, max_trials=8)
    for _trial, x, resp, after, tied in REGRESSION:
        nxt = est.next_intensity()
        assert nxt == pytest.approx(x * 100)
        assert (nxt / 100 >= 0.45) == resp
        est.record(nxt, resp)
        assert est.estimate_frac == pytest.approx(after, abs=1e-9)
        assert est.n_tied == tied
    assert est.next_intensity() is None
    res = est.result()
    assert res.method == "ml-pest" and res.n_trials == 8
    assert res.mt_pct_mso == pytest.approx(44.6)
    assert "fixed count" in res.stop_reason
    assert res.ci_pct_mso is not None and res.ci_pct_mso[0] < 44.6 < res.ci_pct_mso[1]


def test_mlpest_model_pieces() -> None:
    assert GRID[0] == pytest.approx(0.002) and GRID[-1] == pytest.approx(1.3) and len(GRID) == 650
    assert phi(np.array([0.0]))[0] == 0.5
    # 1 - Φ saturates to exactly 0 far above threshold: that is what makes -inf (then -1e5)
    ll = trial_loglik(0.6, False)
    assert np.isneginf(ll[GRID < 0.3]).all() and np.isfinite(ll[GRID > 0.6]).all()


def test_mlpest_stops_on_interval_width_and_records_the_rule() -> None:
    est = MLPest(start_pct_mso=60, max_trials=60, ci_half_width_pct=2.0, min_trials=5)
    given_ = run(est, lambda x: x >= 45)
    res = est.result()
    assert "interval" in res.stop_reason and len(given_) < 60
    assert res.ci_pct_mso is not None
    assert (res.ci_pct_mso[1] - res.ci_pct_mso[0]) / 2 <= 2.0
    assert res.mt_pct_mso is not None and abs(res.mt_pct_mso - 45) < 2


def test_mlpest_respects_intensity_limits() -> None:
    est = MLPest(start_pct_mso=60, max_trials=15, max_pct_mso=70)
    given_ = run(est, lambda x: False)  # nobody home: the estimate climbs past the cap
    assert max(given_) == 70 and min(given_) >= 1
    res = est.result()
    assert res.mt_pct_mso is None and "above the highest allowed" in res.stop_reason
    with pytest.raises(ValueError, match="start intensity"):
        MLPest(start_pct_mso=80, max_pct_mso=70)


@settings(max_examples=20, deadline=None)
@given(mt=st.floats(25.0, 85.0), seed=st.integers(0, 10_000))
def test_mlpest_converges_on_a_stochastic_subject(mt: float, seed: int) -> None:
    rng = random.Random(seed)
    sd = 0.07 * mt

    def respond(x: float) -> bool:
        return x + rng.gauss(0, sd) > mt

    est = MLPest(start_pct_mso=60, max_trials=30)
    run(est, respond)
    res = est.result()
    assert res.mt_pct_mso is not None and abs(res.mt_pct_mso - mt) < 0.2 * mt


def test_five_of_ten_walks_up_then_down() -> None:
    # deterministic subject: positive iff x >= 47
    est = RelativeFrequency(start_pct_mso=40)
    given_ = run(est, lambda x: x >= 47)
    # up: 40 (6 neg), 45 (6 neg), 50 (5 pos); down: 49, 48, 47 (5 pos each), 46 (6 neg)
    levels = [x for i, x in enumerate(given_) if i == 0 or x != given_[i - 1]]
    assert levels == [40, 45, 50, 49, 48, 47, 46]
    assert len(given_) == 6 + 6 + 5 * 4 + 6
    res = est.result()
    assert res.mt_pct_mso == 47 and res.method == "5-10" and "below" in res.stop_reason


def test_five_of_ten_start_above_threshold_and_edges() -> None:
    est = RelativeFrequency(start_pct_mso=60)
    run(est, lambda x: x >= 52)
    assert est.result().mt_pct_mso == 52
    none = RelativeFrequency(start_pct_mso=90, max_pct_mso=95)
    run(none, lambda x: False)
    r = none.result()
    assert r.mt_pct_mso is None and "highest" in r.stop_reason
    cap = RelativeFrequency(start_pct_mso=50, max_trials=12)
    run(cap, lambda x: x > 70)
    assert cap.result().n_trials == 12 and "limit" in cap.result().stop_reason
    with pytest.raises(ValueError):
        RelativeFrequency(needed=11)


def test_five_of_ten_mixed_level_counts() -> None:
    # a level with 5 positives out of 9 is met; a 4/10 level fails after its 6th negative
    seq = iter(
        [True, False, True, False, True, False, True, False, True] + [False, True] * 3 + [False] * 3
    )
    est = RelativeFrequency(start_pct_mso=50)
    run(est, lambda x: next(seq))
    assert est.result().mt_pct_mso == 50
    assert len(est.trials) == 9 + 9

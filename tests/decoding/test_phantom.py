"""The phantom's degrees of freedom and the target tasks (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mirrorvr.tracking.phantom import (
    MOTION_DOF,
    PhantomState,
    TaskScorer,
    TaskTarget,
    advance,
    phantom_params,
    pursue,
)
from mirrorvr.tracking.skeleton import HandParams

motions = st.sampled_from(["rest", *MOTION_DOF])
values = st.floats(-1, 1)


@given(values, values, values, st.floats(0, 2), st.floats(0, 1))
def test_rest_never_moves_the_phantom(
    h: float, w: float, r: float, speed: float, dt: float
) -> None:
    s = PhantomState(h, w, r)
    assert advance(s, "rest", speed, dt) == s


@given(st.lists(st.tuples(motions, st.floats(0, 1.5), st.floats(0, 0.2)), max_size=40))
def test_state_stays_in_range(moves: list[tuple[str, float, float]]) -> None:
    s = PhantomState()
    for m, speed, dt in moves:
        s = advance(s, m, speed, dt)
        assert all(-1.0 <= v <= 1.0 for v in s.as_tuple())


def test_each_motion_moves_its_dof_its_way() -> None:
    for motion, (dof, sign) in MOTION_DOF.items():
        s = advance(PhantomState(), motion, 1.0, 0.5)
        assert s.get(dof) * sign > 0
        assert sum(abs(v) for v in s.as_tuple()) == abs(s.get(dof))
    assert phantom_params(PhantomState()) == HandParams()
    assert phantom_params(PhantomState(hand=1.0)).curl_index == 1.0
    assert phantom_params(PhantomState(hand=-1.0)).spread == 1.0


def test_task_completes_after_the_hold_and_fails_at_the_limit() -> None:
    target = TaskTarget("hand", 0.6, tolerance=0.15, hold_s=1.0, limit_s=5.0)
    sc = TaskScorer(target, onset=10.0)
    s = PhantomState()
    t = 10.0
    result = None
    while result is None:
        t += 0.05
        s = advance(s, pursue(s, target), 1.0, 0.05)
        result = sc.update(t, s)
    assert result.completed and result.completion_s is not None
    assert 1.0 < result.completion_s < 5.0
    idle = TaskScorer(target, onset=0.0)
    for k in range(1, 200):
        r = idle.update(k * 0.05, PhantomState())
        if r is not None:
            break
    assert r is not None and not r.completed and r.completion_s is None


@given(
    values,
    values,
    values,
    st.sampled_from(list(MOTION_DOF)),
    st.sets(st.sampled_from(list(MOTION_DOF))),
)
def test_pursuit_only_uses_trained_motions(
    h: float, w: float, r: float, goal: str, trained: set[str]
) -> None:
    dof, sign = MOTION_DOF[goal]
    target = TaskTarget(dof, 0.7 * sign)
    assert pursue(PhantomState(h, w, r), target, available=trained) in trained | {"rest"}

"""Properties of the timeline compiler over generated plans."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mirrorvr.config.loader import load_plan, plan_from_dict
from mirrorvr.errors import PlanError
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim.safety.counts import planned_pulses


@st.composite
def plans(draw):
    mode = draw(st.sampled_from(["none", "priming", "concurrent", "post", "cue-locked"]))
    interval = draw(st.sampled_from([0.02, 0.05, 0.1, 0.2, 1.0]))
    per_train = draw(st.integers(1, 30))
    train_dur = round(per_train * interval, 6)
    spacing = round(train_dur + draw(st.floats(0.5, 20.0)), 3)
    n_trains = draw(st.integers(1, 8))
    blocks = [{"kind": "rating", "timepoint": "pre"}]
    for _ in range(draw(st.integers(1, 3))):
        blocks.append(
            {
                "kind": draw(st.sampled_from(["mirror", "imagery"])),
                "repetitions": draw(st.integers(1, 12)),
                "cue_s": draw(st.floats(0.5, 3.0)),
                "rest_s": draw(st.floats(0.0, 15.0)),
                "randomise": draw(st.booleans()),
                "movements": draw(
                    st.lists(
                        st.sampled_from(["fist", "pronation", "reach"]), min_size=1, max_size=3
                    )
                ),
            }
        )
    if draw(st.booleans()):
        blocks.append({"kind": "rest", "duration_s": draw(st.floats(1.0, 30.0))})
    blocks.append({"kind": "rating", "timepoint": "post"})
    stim: dict = {"mode": mode}
    if mode != "none":
        stim["motor_threshold"] = {"rmt_pct_mso": 50, "measured_on": "2026-01-01"}
        stim["protocol"] = {
            "pulse_repetition_interval_s": interval,
            "levels": [
                {"duration_s": train_dur, "repetition_interval_s": spacing},
                {"duration_s": round(spacing * n_trains, 6)},
            ],
        }
        if mode == "cue-locked":
            stim["cue_locked"] = {
                "delay_ms": draw(st.floats(0, 500)),
                "jitter_ms": draw(st.floats(0, 50)),
            }
            if draw(st.booleans()):
                del stim["protocol"]
    return {
        "session": {"seed": draw(st.integers(0, 10_000))},
        "patient": {"id": "P", "amputation_side": "left"},
        "blocks": blocks,
        "stimulation": stim,
    }


def _compile(data):
    try:
        plan = plan_from_dict(data)
        return plan, compile_timeline(plan)
    except PlanError:
        return None, None


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(plans())
def test_timeline_properties(data) -> None:
    plan, tl = _compile(data)
    assume(tl is not None)  # plans the compiler refuses say nothing about timelines
    assert plan is not None and tl is not None
    mode = plan.stimulation.mode
    # deterministic for a seed
    assert compile_timeline(plan) == tl
    # ordered
    assert all(a.t <= b.t for a, b in zip(tl.steps, tl.steps[1:], strict=False))
    n_cues = sum(1 for s in tl.steps if s.kind == "cue")
    proto = plan.stimulation.protocol
    # the arithmetic count (checked before expanding) is exactly what the compiler expands
    assert planned_pulses(plan) == tl.total_pulses
    # total pulses equal what the plan implies
    if mode == "none":
        assert tl.total_pulses == 0
    elif mode == "cue-locked":
        per = proto.pulses_per_train if proto else 1
        assert tl.total_pulses == n_cues * per
    else:
        assert tl.total_pulses == proto.total_pulses
    # exercise steps never overlap each other
    ex = [s for s in tl.steps if s.kind in ("cue", "window", "rest", "rating", "laterality_trial")]
    for a, b in itertools.pairwise(ex):
        assert a.end <= b.t + 1e-9
    # stimulation never overlaps stimulation
    stim = tl.stim_steps
    for a, b in itertools.pairwise(stim):
        assert a.t + a.data["offsets"][-1] < b.t
    if mode == "concurrent":
        rests = [s for s in tl.steps if s.kind == "rest"]
        for train in stim:
            last_pulse = train.t + train.data["offsets"][-1]
            assert any(r.t <= train.t and last_pulse <= r.end + 1e-9 for r in rests), train
        onsets = [s.t for s in stim]
        spacing = proto.levels[0].repetition_interval_s
        assert all(b - a >= spacing - 1e-9 for a, b in itertools.pairwise(onsets))
    if mode in ("priming", "post"):
        first_ex = min(s.t for s in ex)
        last_ex = max(s.end for s in ex)
        for train in stim:
            if mode == "priming":
                assert train.t + train.duration <= first_ex + 1e-9
            else:
                assert train.t >= last_ex - 1e-9


def test_seed_changes_randomised_order_but_not_counts() -> None:
    plan = load_plan(None)
    other = plan.model_copy(update={"session": plan.session.model_copy(update={"seed": 1})})
    a, b = compile_timeline(plan), compile_timeline(other)
    moves_a = [s.data["movement"] for s in a.steps if s.kind == "cue"]
    moves_b = [s.data["movement"] for s in b.steps if s.kind == "cue"]
    assert moves_a != moves_b and sorted(moves_a) == sorted(moves_b)
    assert a.total_pulses == b.total_pulses == 1200


def test_default_plan_is_about_twenty_minutes_with_trains_only_in_rests() -> None:
    tl = compile_timeline(load_plan(None))
    assert 19 * 60 <= tl.duration <= 22 * 60
    assert {s.data["phase"] for s in tl.stim_steps} == {"concurrent"}

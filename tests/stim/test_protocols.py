"""Exact pulse times of every protocol the engine expands (planned times, session seconds)."""

from __future__ import annotations

import pytest

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.session.timeline import compile_timeline
from tests.stim.helpers import CTBS, ITBS, plan_dict, rtms


def _pulses(d):
    tl = compile_timeline(plan_from_dict(d))
    return tl, tl.pulse_times()


@pytest.mark.parametrize(
    ("freq", "pulses", "trains", "period"),
    [(1, 10, 2, 30.0), (5, 10, 3, 20.0), (10, 50, 2, 30.0), (20, 40, 3, 30.0)],
)
def test_conventional_rtms_pulse_times(freq, pulses, trains, period) -> None:
    tl, times = _pulses(plan_dict(rtms(freq, pulses, trains, period)))
    expected = [t * period + k / freq for t in range(trains) for k in range(pulses)]
    assert times == pytest.approx(expected, abs=1e-9)
    steps = tl.stim_steps
    assert [s.data["pattern"] for s in steps] == ["rtms"] * trains
    assert [s.data["group"] for s in steps] == list(range(trains))
    assert all(s.data["frequency_hz"] == pytest.approx(freq) for s in steps)


def test_itbs_is_600_pulses_in_20_trains_of_10_bursts() -> None:
    tl, times = _pulses(plan_dict(ITBS, intensity_pct_rmt=80))
    expected = [
        train * 10.0 + burst * 0.2 + k * 0.02
        for train in range(20)
        for burst in range(10)
        for k in range(3)
    ]
    assert len(times) == 600
    assert times == pytest.approx(expected, abs=1e-9)
    steps = tl.stim_steps
    assert {s.data["pattern"] for s in steps} == {"tbs"}
    # a safety train (group) is a 2-s train of 10 bursts
    assert [s.data["group"] for s in steps] == [g for g in range(20) for _ in range(10)]
    assert times[-1] == pytest.approx(190 + 1.84)


def test_ctbs_is_200_continuous_bursts() -> None:
    tl, times = _pulses(plan_dict(CTBS, intensity_pct_rmt=80))
    expected = [burst * 0.2 + k * 0.02 for burst in range(200) for k in range(3)]
    assert times == pytest.approx(expected, abs=1e-9)
    assert {s.data["group"] for s in tl.stim_steps} == {0}
    assert times[-1] == pytest.approx(39.84)


def test_single_pulses_every_5_s() -> None:
    proto = {
        "pulse_repetition_interval_s": 5.0,
        "levels": [{"duration_s": 5.0, "repetition_interval_s": 5.0}, {"duration_s": 50.0}],
    }
    tl, times = _pulses(plan_dict(proto))
    assert times == pytest.approx([5.0 * k for k in range(10)])
    assert {s.data["pattern"] for s in tl.stim_steps} == {"single"}


def test_one_single_pulse_without_levels() -> None:
    tl, times = _pulses(plan_dict({"pulse_repetition_interval_s": 1.0}))
    assert times == [0.0]
    assert tl.stim_steps[0].data["pattern"] == "single"


def test_paired_pulses_every_6_s_at_3_ms() -> None:
    proto = {
        "pulse_repetition_interval_s": 6.0,
        "paired_pulse_interval_ms": 3.0,
        "levels": [{"duration_s": 6.0, "repetition_interval_s": 6.0}, {"duration_s": 30.0}],
    }
    tl, times = _pulses(plan_dict(proto))
    expected = [x for k in range(5) for x in (6.0 * k, 6.0 * k + 0.003)]
    assert times == pytest.approx(expected, abs=1e-9)
    assert {s.data["pattern"] for s in tl.stim_steps} == {"paired"}


def _cue_plan(jitter_ms: float, seed: int = 4):
    d = plan_dict(None, mode="cue-locked", cue_locked={"delay_ms": 300, "jitter_ms": jitter_ms})
    d["session"]["seed"] = seed
    d["blocks"][1] = {
        "kind": "imagery",
        "repetitions": 8,
        "cue_s": 2.0,
        "imagery_s": 3.0,
        "rest_s": 3.0,
    }
    return plan_from_dict(d)


def test_cue_locked_pulse_is_delay_after_each_cue() -> None:
    tl = compile_timeline(_cue_plan(0.0))
    cues = {s.index: s for s in tl.steps if s.kind == "cue"}
    pulses = [s for s in tl.steps if s.kind == "cue_pulse"]
    assert len(pulses) == 8
    for p in pulses:
        cue = cues[p.data["cue_step"]]
        assert p.t == pytest.approx(cue.t + 0.300, abs=1e-12)
        assert p.data["offsets"] == (0.0,) and p.data["pattern"] == "single"
    # cues every 8 s from 1 s (after the 1-s pre rating)
    assert [p.t for p in pulses] == pytest.approx([1.0 + 8 * k + 0.3 for k in range(8)])


def test_cue_locked_jitter_is_bounded_and_reproducible() -> None:
    tl = compile_timeline(_cue_plan(50.0))
    delays = [s.data["delay_s"] for s in tl.steps if s.kind == "cue_pulse"]
    assert all(0.250 <= d <= 0.350 for d in delays)
    assert len(set(delays)) == len(delays)  # actually jittered
    assert delays == [
        s.data["delay_s"] for s in compile_timeline(_cue_plan(50.0)).steps if s.kind == "cue_pulse"
    ]
    other = [
        s.data["delay_s"]
        for s in compile_timeline(_cue_plan(50.0, seed=5)).steps
        if s.kind == "cue_pulse"
    ]
    assert other != delays


def test_cue_locked_train_of_a_protocol() -> None:
    d = plan_dict(rtms(20, 10, 1, 10.0), mode="cue-locked", cue_locked={"delay_ms": 100})
    d["blocks"][1] = {
        "kind": "mirror",
        "repetitions": 3,
        "cue_s": 1.0,
        "movement_s": 2.0,
        "rest_s": 6.0,
    }
    tl = compile_timeline(plan_from_dict(d))
    pulses = [s for s in tl.steps if s.kind == "cue_pulse"]
    assert [p.data["offsets"] for p in pulses] == [tuple(k * 0.05 for k in range(10))] * 3
    assert pulses[0].t == pytest.approx(1.1)

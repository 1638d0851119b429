"""The pulse-stream checker judges pulse times, whatever the protocol is called."""

from __future__ import annotations

import pytest

from mirrorvr.config.plan import SafetyOverride, SafetyProfile, StimulatorDevice
from mirrorvr.stim.factory import DRIVERS
from mirrorvr.stim.safety.ceilings import ceilings, paired_limits
from mirrorvr.stim.safety.limits import ceiling_problems, effective_limits
from mirrorvr.stim.safety.pulse_stream import (
    DEVICE_TIMED_PAIR_KINDS,
    PairedDevice,
    Pulse,
    check_pulses,
)

LIM = effective_limits(SafetyProfile())


def _train(t0: float, n: int, hz: float, rmt: float = 90.0) -> list[Pulse]:
    return [Pulse(t0 + k / hz, rmt, 45.0) for k in range(n)]


def _dev(interval_ms: float, power_b: float = 0.0) -> PairedDevice:
    """A device that confirmed pairs at this interval (and power B, % MSO) by read-back."""
    return PairedDevice(interval_ms, power_b, "test device")


def _rules(pulses: list[Pulse], **kw: object) -> set[str]:
    return {f.rule for f in check_pulses(pulses, LIM, **kw)}  # type: ignore[arg-type]


def test_trains_are_found_from_times_and_the_table_applies() -> None:
    assert _rules(_train(0, 40, 20) + _train(10, 40, 20)) == set()  # 2 s at 20 Hz: ≤ 2.05
    assert _rules(_train(0, 60, 20)) == {"max_train_duration_s"}  # 3 s at 20 Hz
    # two legal trains 2 s apart: the inter-train interval
    assert _rules(_train(0, 40, 20) + _train(3.95, 40, 20)) == {"min_intertrain_interval_s"}


def test_coincident_triggers_are_refused() -> None:
    p = _train(0, 5, 10)
    assert "coincident_triggers" in _rules([*p, Pulse(0.2, 90.0, 45.0)])


def test_pairs_only_when_the_device_times_them() -> None:
    pairs = [
        x for k in range(3) for x in (Pulse(5.0 * k, 90, 45), Pulse(5.0 * k + 0.01, 90, 45, True))
    ]
    assert _rules(pairs) >= {"paired_pulse_device"}
    assert _rules(pairs, paired_device=_dev(10)) == set()
    close = [
        x for k in range(3) for x in (Pulse(2.0 * k, 90, 45), Pulse(2.0 * k + 0.01, 90, 45, True))
    ]
    assert _rules(close, paired_device=_dev(10)) == {"paired_pulse_repetition"}  # ≤ 0.25 Hz
    wide = [Pulse(0, 90, 45), Pulse(0.5, 90, 45, True)]
    assert _rules(wide, paired_device=_dev(500)) == {"paired_pulse_interval"}
    assert paired_limits().min_pair_interval_s == 4.0


def test_theta_burst_is_recognised_by_its_times() -> None:
    itbs = [
        Pulse(10.0 * tr + 0.2 * b + 0.02 * k, 80, 40)
        for tr in range(3)
        for b in range(10)
        for k in range(3)
    ]
    assert _rules(itbs) == set()
    four = [Pulse(0.2 * b + 0.02 * k, 80, 40) for b in range(10) for k in range(4)]
    assert _rules(four) >= {"max_train_duration_s", "tbs_max_pulses_per_burst"}
    hot = [Pulse(x.t, 90, 45) for x in itbs]
    assert _rules(hot) == {"tbs_max_intensity_pct_rmt"}


def test_single_pulses_without_rest_count_on_the_slowest_row() -> None:
    # 1 Hz at 120 % MT: table 360 s; 400 pulses (400 s) without a 5-s rest are too long
    assert _rules([Pulse(float(k), 120, 60) for k in range(400)]) == {"max_train_duration_s"}
    assert _rules([Pulse(float(k), 120, 60) for k in range(300)]) == set()


def test_hunting_pulses_are_single_pulses() -> None:
    assert _rules([Pulse(5.0 * k, None, 60) for k in range(20)]) == set()
    assert "threshold_hunt_single_pulses" in _rules([Pulse(0.3 * k, None, 60) for k in range(5)])


def test_budgets_say_how_many_remain() -> None:
    f = check_pulses(_train(0, 40, 20), LIM, pulses_today=2980)
    assert [x.rule for x in f] == ["max_pulses_per_day"] and "20 remain" in f[0].message


def _override(rule: str, value: float, **kw: float) -> SafetyOverride:
    return SafetyOverride(
        rule=rule,  # type: ignore[arg-type]
        value=value,
        reason="documented clinical decision",
        approved_by="Dr B",
        approved_on="2026-03-02",  # type: ignore[arg-type]
        **kw,
    )


@pytest.mark.parametrize(
    ("rule", "value", "kw"),
    [
        ("max_train_duration_s", 1e6, {"frequency_hz": 10.0, "up_to_pct_rmt": 90.0}),
        ("max_pulses_per_day", 1e6, {}),
        ("min_intertrain_interval_s", 0.1, {}),
        ("tbs_max_pulses_per_session", 1e5, {}),
    ],
)
def test_no_signature_lifts_a_hard_ceiling(rule: str, value: float, kw: dict[str, float]) -> None:
    profile = SafetyProfile(overrides=[_override(rule, value, **kw)])
    problems = ceiling_problems(profile)
    assert len(problems) == 1 and "hard ceiling" in problems[0].message
    lim = effective_limits(profile)  # even unchecked, the limits in force stay under the ceiling
    if rule == "max_train_duration_s":
        assert lim.train_overrides[0].max_duration_s <= 10.0
    else:
        c = ceilings()[rule]
        assert not c.breached_by(float(getattr(lim.profile, rule)))


def test_a_signed_override_within_the_ceiling_is_accepted() -> None:
    profile = SafetyProfile(
        overrides=[_override("max_train_duration_s", 6.0, frequency_hz=10.0, up_to_pct_rmt=90.0)]
    )
    assert ceiling_problems(profile) == []
    assert not check_pulses(_train(0, 60, 10), effective_limits(profile))


def test_a_threshold_hunt_faster_than_single_pulses_is_refused_at_validate() -> None:
    import datetime as dt

    from mirrorvr.config.loader import plan_from_dict
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor
    from tests.stim.helpers import DAY, plan_dict, rtms

    d = plan_dict(rtms(10, 20, 2, 30.0))
    del d["stimulation"]["motor_threshold"]
    d["stimulation"]["threshold_estimate"] = {"isi_s": [0.5, 0.6]}
    plan = plan_from_dict(d)
    problems = governor.check_plan(plan, compile_timeline(plan), today=dt.date.fromisoformat(DAY))
    assert any(
        p.where == "stimulation.threshold_estimate" and "threshold_hunt_single_pulses" in p.message
        for p in problems
    ), problems
    d["stimulation"]["threshold_estimate"] = {"isi_s": [4.0, 6.0]}
    plan = plan_from_dict(d)
    assert governor.check_plan(plan, compile_timeline(plan), today=dt.date.fromisoformat(DAY)) == []


def test_the_run_time_gate_judges_the_times_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A step labelled 'single' carrying 100 pulses 10 ms apart is refused before any trigger."""
    from mirrorvr.config.loader import plan_from_dict
    from mirrorvr.session.clock import SimClock
    from mirrorvr.session.eventlog import EventLog
    from mirrorvr.session.timeline import Step, compile_timeline
    from mirrorvr.sim.emulate import EmulatorThread
    from mirrorvr.stim.executor import StimulationExecutor, TrainResult
    from mirrorvr.stim.ttl_box import TTLBox
    from tests.stim.helpers import plan_dict, rtms

    plan = plan_from_dict(plan_dict(rtms(1, 1, 1, 10.0)))
    lying = Step(
        index=0,
        t=0.0,
        duration=1.0,
        kind="train",
        block=None,
        data={
            "offsets": [0.01 * k for k in range(100)],
            "intensity_pct_mso": 45.0,
            "intensity_pct_rmt": 90.0,
            "frequency_hz": 0.0,
            "pattern": "single",
            "train": 0,
            "group": 0,
            "phase": "priming",
        },
    )
    with (
        EmulatorThread("ttl-box", tmp_path / "box", tmp_path / "emu.jsonl"),
        TTLBox(str(tmp_path / "box")) as box,
        EventLog(tmp_path / "events.jsonl") as log,
    ):
        ex = StimulationExecutor(
            stimulator=box,
            log=log,
            clock=SimClock(0.0),
            plan=plan,
            timeline=compile_timeline(plan),
            budget=1000,
        )
        res = ex.admit(lying, 1.0)
    assert isinstance(res, TrainResult) and res.status == "refused"
    assert res.reason.startswith("rule ")
    assert '"action":"pulse"' not in (tmp_path / "emu.jsonl").read_text()


def _pairs(n: int, every_s: float, ipi_s: float, mso_b: float = 45.0) -> list[Pulse]:
    return [
        x
        for k in range(n)
        for x in (Pulse(every_s * k, 90, 45), Pulse(every_s * k + ipi_s, 90, mso_b, True))
    ]


def test_device_timed_pairs_keep_the_paired_limits() -> None:
    pl = paired_limits()
    assert _rules(_pairs(3, 5.0, 0.010), paired_device=_dev(10)) == set()  # legal pair, 0.2 Hz
    # a 100 Hz train of pairs is still a train of pairs: refused even when the device times them
    assert "paired_pulse_repetition" in _rules(_pairs(50, 0.01, 0.002), paired_device=_dev(2))
    # inter-pulse intervals just outside the shipped range
    below = _pairs(1, 5.0, (pl.min_interval_ms - 0.5) / 1000)
    above = _pairs(1, 5.0, (pl.max_interval_ms + 1) / 1000)
    # (a pair refused as a pair is then judged as the two pulses it is)
    assert "paired_pulse_interval" in _rules(below, paired_device=_dev(pl.min_interval_ms - 0.5))
    assert "paired_pulse_interval" in _rules(above, paired_device=_dev(pl.max_interval_ms + 1))


def test_power_b_keeps_the_intensity_caps() -> None:
    # the second pulse of a device-timed pair is power B: it used to be merged unchecked
    hot_b = _pairs(2, 5.0, 0.010, mso_b=LIM.profile.max_intensity_pct_mso + 10)
    assert _rules(hot_b, paired_device=_dev(10)) == {"paired_power_b"}
    assert _rules(_pairs(2, 5.0, 0.010, mso_b=30.0), paired_device=_dev(10)) == set()
    # what the device confirmed counts when it is higher than what the plan asked for
    hot_device = _dev(10, LIM.profile.max_intensity_pct_mso + 5)
    assert _rules(_pairs(2, 5.0, 0.010, mso_b=30.0), paired_device=hot_device) == {"paired_power_b"}


def test_pairs_go_by_the_interval_the_device_confirmed() -> None:
    # no confirmed pair (every device but a BiStim² that read its pair back): refused
    assert "paired_pulse_device" in _rules(_pairs(3, 5.0, 0.010))
    # a device that confirmed another interval than the plan's: refused, saying both
    found = check_pulses(_pairs(3, 5.0, 0.010), LIM, paired_device=_dev(12))
    assert {f.rule for f in found} >= {"paired_pulse_device"}
    assert any("12 ms apart" in f.message for f in found if f.rule == "paired_pulse_device")
    # 0.1-ms resolution: 2.5 ms planned, 2.5 ms confirmed
    assert _rules(_pairs(2, 5.0, 0.0025), paired_device=_dev(2.5)) == set()


@pytest.mark.parametrize("kind", sorted(DRIVERS))
def test_only_drivers_that_time_pairs_are_assumed_to_at_validate(kind: str) -> None:
    # the kinds `validate` trusts with pairs are exactly the drivers that can set and read
    # back power B and the interval (the registry is iterated, never re-listed)
    driver = DRIVERS[kind](StimulatorDevice(kind=kind), "/dev/null")
    assert driver.capabilities.device_timed_pairs == (kind in DEVICE_TIMED_PAIR_KINDS)
    assert set(DRIVERS) >= DEVICE_TIMED_PAIR_KINDS

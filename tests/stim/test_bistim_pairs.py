"""BiStim² paired pulses against the emulator over a real pty, and the stimulation process's
guard for pairs: one trigger gives two pulses, power B and the interval set and read back.

The oracle is docs/stimulators.md ("BiStim² paired pulses"): unit A fires at the trigger, unit B
``interval`` later at power B; a pair counts as two pulses; a unit that does not report back what
was set is refused before anything is armed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.errors import ReadbackMismatch
from mirrorvr.stim.guard import GuardLimits, PulseGuard
from mirrorvr.stim.magstim.models import BiStim

FAST = ["--timing", "fast", "--no-line-delay"]


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line]


@pytest.mark.parametrize(("interval_ms", "power_b"), [(10.0, 55.4), (2.5, 38.0), (100.0, 70.0)])
def test_one_trigger_gives_a_pair_at_the_read_back_interval_and_power_b(
    tmp_path: Path, interval_ms: float, power_b: float
) -> None:
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", log, extra_args=FAST):
        with BiStim(str(tmp_path / "stim")) as d:
            d.set_intensity(45)
            pair = d.set_paired_pulse(interval_ms, power_b)
            # what the device confirmed: the interval as asked, power B in whole percent (down)
            assert pair.interval_ms == interval_ms and pair.power_b_pct_mso == int(power_b)
            d.arm()
            d.trigger()
            d.trigger()
    recs = records(log)
    triggers = [r for r in recs if r.get("action") == "trigger"]
    pulses = [r for r in recs if r.get("action") == "pulse"]
    assert len(triggers) == 2 and len(pulses) == 4  # two triggers, two pulses each
    for k, trig in enumerate(triggers):
        a, b = pulses[2 * k], pulses[2 * k + 1]
        assert (a["unit"], a["intensity"], a["t"]) == ("A", 45, trig["t"])
        assert (b["unit"], b["intensity"]) == ("B", int(power_b))
        assert b["t"] - a["t"] == pytest.approx(interval_ms / 1000.0, abs=1e-9)
    fires = [r for r in recs if r.get("rx") == "454872"]  # EHr: one fire frame per pair
    assert len(fires) == 2


def test_single_pulses_silence_unit_b(tmp_path: Path) -> None:
    # the emulated unit starts with power B 30 and 10 ms (magstim-serial.md §5's example reply):
    # a fire would give a pair until power B is set to 0
    log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", log, extra_args=FAST):
        with BiStim(str(tmp_path / "stim")) as d:
            assert d.power_b == 30 and d.interval_raw == 10
            d.arm()
            d.trigger()
            d.disarm()
            d.set_single_pulse()
            assert d.power_b == 0
            d.arm()
            d.trigger()
    pulses = [r for r in records(log) if r.get("action") == "pulse"]
    assert [p["unit"] for p in pulses] == ["A", "B", "A"]


def test_a_unit_that_does_not_report_back_the_pair_is_never_armed(tmp_path: Path) -> None:
    log = tmp_path / "emu.jsonl"
    extra = [*FAST, "--stale-interval"]
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", log, extra_args=extra):
        with BiStim(str(tmp_path / "stim")) as d:
            with pytest.raises(
                ReadbackMismatch, match="interval set to 20 but the BiStim² reports"
            ):
                d.set_paired_pulse(20, 50)
            with pytest.raises(ReadbackMismatch):
                d.arm()
    recs = records(log)
    assert not any(r.get("action") in ("armed", "pulse") for r in recs)


# ---------------------------------------------------------------- the child's guard


def _guard(**kw: Any) -> PulseGuard:
    lim: dict[str, Any] = dict(max_intensity_pct_mso=45, max_rate_hz=0.25, max_pulses=4)
    g = PulseGuard(GuardLimits(**{**lim, **kw}))
    g.armed = True
    return g


def test_the_guard_counts_a_pair_as_two_pulses_and_checks_it() -> None:
    g = _guard(pair_interval_ms=10.0, max_intensity_b_pct_mso=55.0)
    assert g.check(0.0, 45, pair=(10.0, 55.0)) is None
    g.fired_at(0.0, 2)
    assert g.check(4.0, 45, pair=(10.0, 55.0)) is None
    g.fired_at(4.0, 2)
    assert "used up" in (g.check(8.0, 45, pair=(10.0, 55.0)) or "")  # 4 pulses = 2 pairs
    h = _guard(pair_interval_ms=10.0, max_intensity_b_pct_mso=55.0)
    assert "12 ms apart" in (h.check(0.0, 45, pair=(12.0, 55.0)) or "")  # not the plan's
    assert "power B 60" in (h.check(0.0, 45, pair=(10.0, 60.0)) or "")
    assert h.check(1.0, 45, pair=(10.0, 55.0)) is None
    h.fired_at(1.0, 2)
    assert "faster than" in (h.check(2.0, 45, pair=(10.0, 55.0)) or "")  # triggers ≤ 0.25 Hz


def test_the_guard_refuses_pairs_a_plan_does_not_have() -> None:
    g = _guard()
    assert g.check(0.0, 45, pair=(10.0, 30.0)) == "this plan has no paired pulses"
    g2 = _guard(max_pulses=1, pair_interval_ms=10.0, max_intensity_b_pct_mso=55.0)
    assert "used up" in (g2.check(0.0, 45, pair=(10.0, 50.0)) or "")  # one pulse left: no pair


# ---------------------------------------------------------------- the stimulation process


def _paired_plan(tmp_path: Path) -> Path:
    from tests.stim.test_paired_cli import _plan

    p = tmp_path / "paired.toml"
    p.write_text(_plan())
    return p


def test_pairs_run_in_the_stimulation_process_one_trigger_each(tmp_path: Path) -> None:
    from mirrorvr.config.loader import load_plan
    from mirrorvr.session.clock import RealClock
    from mirrorvr.session.eventlog import EventLog, read_events
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor
    from mirrorvr.stim.journal import read_journal
    from mirrorvr.stim.process import ProcessExecutor, StimulationProcess, guard_limits

    plan = load_plan(_paired_plan(tmp_path))
    tl = compile_timeline(plan)
    budget = governor.session_budget(plan, tl.total_pulses)
    pairs = [s for s in tl.steps if s.kind == "train"]
    guard = guard_limits(plan, tl, budget, 0, 0.005)
    assert (guard.pair_interval_ms, guard.max_intensity_b_pct_mso) == (10.0, 55.0)
    assert guard.max_rate_hz == pytest.approx(1.0)  # pair onsets (≥ 1 s), not 100 Hz
    emu_log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", emu_log, extra_args=FAST):
        with EventLog(tmp_path / "events.jsonl") as log:
            sp = StimulationProcess(
                plan.devices.stimulator, str(tmp_path / "stim"), tmp_path, guard
            )
            ex = ProcessExecutor(
                process=sp.start(), log=log, clock=RealClock(), plan=plan, timeline=tl,
                budget=budget,
            )  # fmt: skip
            try:
                ex.paired = ex.stimulator.set_paired_pulse(10.0, plan.stimulation.power_b_pct_mso)
                assert ex.recheck(plan.stimulation.motor_threshold.measured_on) == []  # type: ignore[union-attr]
                ex.stimulator.arm()
                t0 = RealClock().now() + 0.3 - pairs[0].t
                for s in pairs[:2]:
                    RealClock().sleep_until(t0 + s.t - 0.2)
                    ex.submit(s, t0 + s.t)
                assert ex.wait_idle(30)
            finally:
                ex.stimulator.close()
    events = read_events(tmp_path / "events.jsonl").events
    pulses = [e for e in events if e.kind == "pulse"]
    missed = [e for e in events if e.kind == "pulse_missed"]
    assert len(pulses) + len(missed) == 4  # two pairs, two pulses each
    assert len(missed) % 2 == 0  # a late trigger takes both pulses of its pair with it
    for a, b in zip(pulses[0::2], pulses[1::2], strict=True):
        assert (a["unit"], b["unit"]) == ("A", "B")
        assert b.t - a.t == pytest.approx(0.010, abs=1e-6)  # the interval read back
        assert b["intensity_pct_mso"] == 55.0
    journal = [r for r in read_journal(tmp_path / "stim-journal.jsonl") if r["kind"] == "pulse"]
    assert [r["i"] for r in journal] == [e["i"] for e in pulses]
    emu = records(emu_log)
    assert len([r for r in emu if r.get("action") == "trigger"]) == len(pulses) // 2
    outcomes = [e for e in events if e.kind == "train_outcome"]
    assert sum(o["delivered"] for o in outcomes) == len(pulses)
    assert {o["timing"] for o in outcomes} == {"paired"}


def test_the_childs_guard_refuses_a_pair_the_device_never_confirmed(tmp_path: Path) -> None:
    # a paired train reaching the child of a BiStim² whose pair was never set and read back
    from mirrorvr.config.loader import load_plan
    from mirrorvr.session.clock import RealClock
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor
    from mirrorvr.stim.journal import read_journal
    from mirrorvr.stim.process import StimulationProcess, guard_limits

    plan = load_plan(_paired_plan(tmp_path))
    tl = compile_timeline(plan)
    guard = guard_limits(plan, tl, governor.session_budget(plan, tl.total_pulses), 0, 0.005)
    emu_log = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", emu_log, extra_args=FAST):
        sp = StimulationProcess(plan.devices.stimulator, str(tmp_path / "stim"), tmp_path, guard)
        sp.start()
        try:
            sp.call("arm", timeout=30.0)
            now = RealClock().now()
            sp.send({"op": "train", "step": 0, "train": 0, "times": [now + 0.2, now + 0.21],
                     "intensity_pct_mso": 45.0, "frequency_hz": 0.2, "timing": "paired",
                     "paired": True, "intensity_b_pct_mso": 55.0})  # fmt: skip
            deadline = time.monotonic() + 10
            path = tmp_path / "stim-journal.jsonl"
            while time.monotonic() < deadline and not any(
                r["kind"] == "train_outcome" for r in read_journal(path)
            ):
                time.sleep(0.02)
        finally:
            sp.close()
    journal = read_journal(tmp_path / "stim-journal.jsonl")
    refused = [r for r in journal if r["kind"] == "guard_refused"]
    assert refused and "no device-timed pair confirmed" in refused[0]["reason"]
    assert not any(r.get("action") == "pulse" for r in records(emu_log))


def test_a_reconnected_bistim_sets_and_reads_back_its_pair_again(tmp_path: Path) -> None:
    # a device-fault pause reconnects the unit: its pair is unknown until set and read back
    from mirrorvr.config.loader import load_plan
    from mirrorvr.session.clock import SimClock
    from mirrorvr.session.eventlog import EventLog, read_events
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor
    from mirrorvr.stim.executor import StimulationExecutor

    plan = load_plan(_paired_plan(tmp_path))
    tl = compile_timeline(plan)
    log_path = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", log_path, extra_args=FAST):
        with BiStim(str(tmp_path / "stim")) as d, EventLog(tmp_path / "events.jsonl") as log:
            ex = StimulationExecutor(
                stimulator=d, log=log, clock=SimClock(), plan=plan, timeline=tl,
                budget=governor.session_budget(plan, tl.total_pulses),
            )  # fmt: skip
            assert ex.paired is None  # nothing confirmed yet: the governor refuses the pairs
            day = plan.stimulation.motor_threshold.measured_on  # type: ignore[union-attr]
            assert any("rule paired_pulse_device" in p for p in ex.recheck(day))
            ex.set_pairs()
            assert ex.recheck(day) == []
            assert ex.reconnect() is None
            assert ex.paired is not None and ex.paired.interval_ms == 10.0
    events = read_events(tmp_path / "events.jsonl").events
    whats = [e.get("what") for e in events if e.kind == "device"]
    assert whats == ["paired_set", "paired_set", "reconnected"]
    actions = [r.get("action") for r in records(log_path)]
    assert actions.count("power B 55") == 2 and actions.count("power B 0") == 1


def test_the_run_time_gate_keeps_the_paired_repetition_limit(tmp_path: Path) -> None:
    # pairs 2 s apart at run time (closer than planned), with a clinic's 1-s inter-train interval
    # (SHORT_PLAN's override): the second pair is refused (≥ 4 s, paired_limits.csv)
    from mirrorvr.config.loader import load_plan
    from mirrorvr.session.clock import SimClock
    from mirrorvr.session.eventlog import EventLog
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor
    from mirrorvr.stim.executor import StimulationExecutor

    plan = load_plan(_paired_plan(tmp_path))
    assert plan.safety.overrides[0].rule == "min_intertrain_interval_s"
    tl = compile_timeline(plan)
    pairs = [s for s in tl.steps if s.kind == "train"]
    log_path = tmp_path / "emu.jsonl"
    with EmulatorProcess("magstim-bistim", tmp_path / "stim", log_path, extra_args=FAST):
        with BiStim(str(tmp_path / "stim")) as d, EventLog(tmp_path / "events.jsonl") as log:
            clock = SimClock()
            ex = StimulationExecutor(
                stimulator=d, log=log, clock=clock, plan=plan, timeline=tl,
                budget=governor.session_budget(plan, tl.total_pulses),
            )  # fmt: skip
            ex.set_pairs()
            d.arm()
            assert ex.execute(pairs[0], 10.0).status == "completed"
            second = ex.execute(pairs[1], 12.0)
            assert second.status == "refused" and "paired_pulse_repetition" in second.reason
            assert ex.execute(pairs[2], 16.01).status == "completed"  # 4 s after the last pulse
    assert sum(r.get("action") == "pulse" for r in records(log_path)) == 4

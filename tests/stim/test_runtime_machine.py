"""A hypothesis state machine over the run-time calls (deliver, pause, resume, abort, e-stop,
crash/resume) on the simulated clock, against a real emulated TTL box: no pulse ever goes out
beyond the limits, while stopped, or without being in the log.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.session.clock import SimClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.session.summary import delivered_pulses
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim import governor
from mirrorvr.stim.executor import StimulationExecutor, last_stimulation_time
from mirrorvr.stim.ttl_box import TTLBox
from tests.stim.helpers import DAY, plan_dict, rtms

TODAY = dt.date.fromisoformat(DAY)
PLAN = plan_from_dict(plan_dict(rtms(20, 20, 8, 8.0)))  # 8 trains of 1 s, 7.05-s gaps
TIMELINE = compile_timeline(PLAN)
BUDGET = governor.session_budget(PLAN, TIMELINE.total_pulses)
LIMITS = governor.effective_limits(PLAN.safety).profile


def _emulated_pulses(log: Path) -> int:
    return sum(1 for x in log.read_text().splitlines() if json.loads(x).get("action") == "pulse")


class StimMachine(RuleBasedStateMachine):
    """One session's stimulation, driven call by call."""

    box: TTLBox
    emu_log: Path

    @initialize()
    def start(self) -> None:
        assert governor.check_plan(PLAN, TIMELINE, today=TODAY) == []
        self.dir = Path(tempfile.mkdtemp(prefix="stim-machine-"))
        self.log = EventLog(self.dir / "events.jsonl")
        self.clock = SimClock(0.0)
        self.emu_base = _emulated_pulses(self.emu_log)
        self.steps = TIMELINE.stim_steps
        self.next = 0
        self.shift = 0.0
        self.stopped = False
        self.aborted = False
        self.pulses_when_stopped = 0
        self.box.arm()
        self.executor = self._executor(governor.Ledger(), None)

    def _executor(self, ledger, last_t) -> StimulationExecutor:
        return StimulationExecutor(
            stimulator=self.box,
            log=self.log,
            clock=self.clock,
            plan=PLAN,
            timeline=TIMELINE,
            budget=BUDGET,
            ledger=ledger,
            last_stim_t=last_t,
        )

    def _events(self):
        return read_events(self.dir / "events.jsonl").events

    def _pulses(self):
        return [e for e in self._events() if e.kind == "pulse"]

    # ---- runtime calls -------------------------------------------------------------------
    @precondition(lambda self: not self.aborted and self.next < len(self.steps))
    @rule()
    def deliver_next(self) -> None:
        step = self.steps[self.next]
        onset = step.t + self.shift
        if onset < self.clock.now():  # the runner only ever shifts later
            self.shift += self.clock.now() - onset
            onset = self.clock.now()
        self.executor.submit(step, onset)
        self.next += 1

    @precondition(lambda self: not self.aborted)
    @rule(wait=st.floats(0.0, 20.0))
    def pause(self, wait: float) -> None:
        self.executor.cancel("pause")
        self.box.disarm()
        self._stopped()
        self.clock.advance(wait)

    @precondition(lambda self: not self.aborted)
    @rule()
    def estop(self) -> None:
        self.executor.estop("state machine")
        assert not self.box.status().armed
        self._stopped()

    def _stopped(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.pulses_when_stopped = len(self._pulses())

    @precondition(lambda self: self.stopped and not self.aborted)
    @rule(wait=st.floats(0.0, 20.0))
    def resume(self, wait: float) -> None:
        self.clock.advance(wait)
        assert self.executor.recheck(TODAY) == []  # the governor looks again before resuming
        self.executor.resume()
        self.box.arm()
        self.stopped = False

    @rule(wait=st.floats(0.0, 30.0))
    def time_passes(self, wait: float) -> None:
        self.clock.advance(wait)

    @precondition(lambda self: not self.aborted)
    @rule()
    def abort(self) -> None:
        self.executor.cancel("abort")
        self.box.disarm()
        self._stopped()
        self.aborted = True

    @precondition(lambda self: not self.aborted)
    @rule(restart_s=st.floats(0.0, 3.0))
    def crash_and_resume(self, restart_s: float) -> None:
        """The process dies; a new one continues from the log, as `mirrorvr resume` does."""
        self.log.close()
        events = self._events()
        self.log = EventLog(self.dir / "events.jsonl")
        self.clock = SimClock(events[-1].t + restart_s if events else restart_s)
        _, possible = delivered_pulses(events)
        self.executor = self._executor(
            governor.Ledger(possible, possible), last_stimulation_time(events)
        )
        # like the runner on resume: the rest of the timeline starts now
        if self.next < len(self.steps):
            self.shift = self.clock.now() - self.steps[self.next].t
        self.box.arm()
        self.stopped = False

    # ---- what must always hold -----------------------------------------------------------
    @invariant()
    def within_limits(self) -> None:
        if not hasattr(self, "log"):
            return
        events = self._events()
        pulses = [e for e in events if e.kind == "pulse"]
        assert len(pulses) <= BUDGET
        assert delivered_pulses(events)[1] <= BUDGET
        if self.stopped:
            assert len(pulses) == self.pulses_when_stopped, "a pulse went out while stopped"
        for e in pulses:
            assert e["intensity_pct_mso"] <= LIMITS.max_intensity_pct_mso
        per_train: dict[int, list[float]] = {}
        for e in pulses:
            per_train.setdefault(e["train"], []).append(e.t)
        for ts in per_train.values():
            assert len(ts) <= 20
            assert ts[-1] - ts[0] <= 1.0  # never longer than the planned (allowed) train
        trains = sorted(per_train.values(), key=lambda ts: ts[0])
        for a, b in itertools.pairwise(trains):
            assert b[0] - a[-1] >= LIMITS.min_intertrain_interval_s - 1e-6

    def teardown(self) -> None:
        if not hasattr(self, "log"):
            return
        self.box.disarm()
        n = len(self._pulses())
        self.log.close()
        deadline = time.monotonic() + 10
        while _emulated_pulses(self.emu_log) - self.emu_base < n and time.monotonic() < deadline:
            time.sleep(0.02)
        # the box saw exactly the pulses the log claims
        assert _emulated_pulses(self.emu_log) - self.emu_base == n


@pytest.mark.slow
def test_no_pulse_outside_limits_whatever_the_calls(tmp_path: Path) -> None:
    emu_log = tmp_path / "emu.jsonl"
    with (
        EmulatorProcess("ttl-box", tmp_path / "box", emu_log),
        TTLBox(str(tmp_path / "box"), pulse_width_s=0.0002) as box,
    ):
        StimMachine.box = box
        StimMachine.emu_log = emu_log
        run_state_machine_as_test(
            StimMachine,
            settings=settings(
                max_examples=40,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )

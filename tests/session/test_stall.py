"""A display that stalls costs no dose: the timeline shifts, or pauses, or (by choice) refuses.

Deterministic: the presenter stalls on the simulated clock (it advances the clock as a frozen
display would), against the real runner, governor, event log and an emulated box on a pty.
"""

from __future__ import annotations

from pathlib import Path

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.clock import SimClock
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.presenter import HeadlessPresenter
from mirrorvr.session.timeline import Step
from mirrorvr.sim.patient import SimulatedPatient


class StallingPresenter(HeadlessPresenter):
    """Freezes for ``stall_s`` while showing the ``nth`` rest (as a display loading assets)."""

    def __init__(self, clock: SimClock, patient: SimulatedPatient, stall_s: float, nth: int):
        super().__init__(clock, patient)
        self.stall_s, self.nth, self.rests = stall_s, nth, 0

    def present(self, step: Step) -> float:
        if step.kind == "rest":
            self.rests += 1
            if self.rests == self.nth:
                self.clock.advance(self.stall_s)  # type: ignore[attr-defined]
        return super().present(step)


def _run(tmp_path: Path, short_plan: Path, stall_s: float, extra: str = "") -> list[Event]:
    if extra:  # a [session] key of the plan
        text = short_plan.read_text().replace("seed = 5\n", f"seed = 5\n{extra}\n", 1)
        short_plan.write_text(text)
    opts = LaunchOptions(
        out=tmp_path / "s",
        presenter_factory=lambda clock, patient: StallingPresenter(clock, patient, stall_s, 2),  # type: ignore[arg-type]
    )
    run_session(load_plan(short_plan), opts)
    return read_events(tmp_path / "s" / "events.jsonl").events


def _trains_inside_rests(events: list[Event]) -> None:
    rests = [e for e in events if e.kind == "rest"]
    nexts = [e.t for e in events if e.kind in ("cue", "block_end")]
    for r in rests:
        end = min(t for t in nexts if t > r.t)
        inside = [p.t for p in events if p.kind == "pulse" and r.t <= p.t < end]
        assert inside, f"no train inside the rest shown at {r.t}"


def test_a_stall_shifts_the_rest_of_the_timeline_and_every_pulse_is_delivered(
    tmp_path: Path, short_plan: Path
) -> None:
    events = _run(tmp_path, short_plan, 1.5)
    shifts = [e for e in events if e.kind == "timeline_shift"]
    assert len(shifts) == 1 and shifts[0]["source"] == "display"
    assert abs(shifts[0]["late_s"] - 1.5) < 1e-6 and shifts[0]["paused"] is False
    assert sum(e.kind == "pulse" for e in events) == 120
    assert not any(e.kind == "pulse_missed" for e in events)
    _trains_inside_rests(events)


def test_a_stall_past_the_plans_limit_is_logged_as_a_pause_and_the_session_goes_on(
    tmp_path: Path, short_plan: Path
) -> None:
    events = _run(tmp_path, short_plan, 9.4, "max_stall_shift_s = 2.0")
    states = [(e["to"], e["reason"]) for e in events if e.kind == "state"]
    paused = [r for to, r in states if to == "paused"]
    assert len(paused) == 1 and "display stalled 9.40 s" in paused[0]
    assert ("running", "resumed after the stall") in states
    assert states[-1][0] == "completed"
    assert sum(e.kind == "pulse" for e in events) == 120
    _trains_inside_rests(events)


def test_a_plan_that_refuses_late_trains_logs_the_stall_and_the_missed_pulses(
    tmp_path: Path, short_plan: Path
) -> None:
    events = _run(tmp_path, short_plan, 1.5, 'on_stall = "refuse"')
    assert not any(e.kind == "timeline_shift" for e in events)
    stall = [e for e in events if e.kind == "stall"]
    assert stall and "refuse" in stall[0]["action"]
    missed = sum(e.kind == "pulse_missed" for e in events)
    assert missed > 0 and missed + sum(e.kind == "pulse" for e in events) == 120

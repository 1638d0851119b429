"""The session runner: a state machine that drives a timeline on one clock.

``idle → checks → running ⇄ paused → completed | aborted``

The runner owns no devices: it gets a presenter (display seam), a stimulation executor
(stimulation seam, always behind the safety governor) and an event log. ``pause``, ``resume``,
``abort`` and ``estop`` may be called from any thread; the emergency stop disarms the
stimulator from the calling thread at once rather than waiting for the runner's loop.

The rest of the timeline is only ever shifted *later* (pauses, slow answers, stalls), so the
intervals the compiler guaranteed still hold.

Stalls: when the display shows a step late, or the runner itself reaches a step late, by more
than the plan's ``session.stall_tolerance_s``, the rest of the timeline shifts later by the lag
(event ``timeline_shift``): a train placed in a rest still starts inside that rest as it was
shown, and no pulse is lost to the stall. A stall longer than ``session.max_stall_shift_s``
is logged as a pause (reason, governor re-check) before the session goes on. With
``session.on_stall = "refuse"`` nothing shifts: the stall is logged and late pulses are logged
missed, as the plan asked.

Device faults (a lost link, a keep-alive that failed, the unit's error bits) reach the runner
from the executor at once, armed or not. ``stimulation.on_device_fault = "estop"`` (default)
e-stops. ``"pause"`` disarms too (outcome logged as truthfully as an e-stop's: ``device``
``fault_disarm``), pauses the session with the reason, and while paused tries to bring the
stimulator back every ``RECONNECT_EVERY_S``; a resume is refused until it answers again, and then
passes the governor's re-check and re-arms before the next train. A stimulator that has not come
back ``stimulation.device_fault_wait_s`` after the fault ends the session (aborted). Where a
pause cannot be held safely (the stimulation process died) the runner e-stops and says so.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mirrorvr.config.plan import SessionPlan
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.presenter import Presenter, ToneOutcome
from mirrorvr.session.stimulation import Stimulation
from mirrorvr.session.timeline import Step, Timeline
from mirrorvr.stim import governor
from mirrorvr.stim.base import disarm_outcome

#: how often a real-time wait wakes to notice pause/abort requests
_POLL_S = 0.05
#: a real-time session starts this long after ``run`` is called (time to settle)
START_LEAD_S = 0.5
#: real time: a train is handed to the pulse scheduler this long before its first pulse, so
#: its governor check and durable intent are done before the deadline
STIM_LOOKAHEAD_S = 0.3
#: a session paused by a device fault tries to reconnect the stimulator this often (seconds)
RECONNECT_EVERY_S = 1.0


class State(StrEnum):
    """Runner states."""

    IDLE = "idle"
    CHECKS = "checks"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"


@dataclass
class RunResult:
    """How a run ended."""

    state: State
    reason: str
    pulses_delivered: int
    last_step: int


class SessionRunner:
    """Runs one session (or the rest of a resumed one)."""

    def __init__(
        self,
        *,
        plan: SessionPlan,
        timeline: Timeline,
        clock: Clock,
        log: EventLog,
        presenter: Presenter,
        executor: Stimulation | None,
        session_date: dt.date,
        start_index: int = 0,
        pulses_delivered: int = 0,
        pulses_today: int = 0,
        operator_present: bool = False,
    ) -> None:
        self.plan = plan
        #: someone (console, headset, a controlling program) can resume a pause; without one a
        #: pause (e.g. an e-stop after a device fault) ends the session instead of waiting forever
        self.operator_present = operator_present
        self.timeline = timeline
        self.clock = clock
        self.log = log
        self.presenter = presenter
        self.executor = executor
        self.session_date = session_date
        self.start_index = start_index
        self.pulses_delivered = pulses_delivered
        self._pulses_at_start = pulses_delivered
        #: pulses this patient already had today in earlier sessions (daily limit)
        self.pulses_today = pulses_today
        self.state = State.IDLE
        self._lock = threading.Lock()
        self._pause_req = threading.Event()
        self._resume_req = threading.Event()
        self._abort_reason: str | None = None
        self._pause_reason = ""
        self._pause_resumable = False
        self._shift = 0.0
        self._t0 = 0.0
        self._onsets: dict[int, float] = {}
        self._last_step = start_index - 1
        #: set while a device-fault pause waits for the stimulator; the time.monotonic() of the
        #: fault and the last reconnect failure
        self._device_down = threading.Event()
        self._device_down_at = 0.0
        self._device_problem = ""
        if executor is not None:
            executor.on_fault = self.device_fault

    # ---- control from any thread -------------------------------------------------------
    def pause(self, reason: str = "paused by operator", *, resumable: bool = False) -> None:
        """Pause before the next step; a running train is stopped (no pulse while paused).

        ``resumable``: the caller itself will resume (the headset when its focus comes back), so
        the pause waits even with no operator connected; any other pause without an operator
        ends the session, disarmed.
        """
        self._pause_reason = reason
        self._pause_resumable = resumable
        self._resume_req.clear()
        self._pause_req.set()
        if self.executor is not None:
            self.executor.cancel(reason)

    def resume(self) -> None:
        """Continue after a pause or emergency stop; the governor re-checks the plan first."""
        self._resume_req.set()

    def abort(self, reason: str = "aborted by operator") -> None:
        """End the session: cancel pending pulses and disarm at once."""
        self._abort_reason = reason
        self._disarm_now()
        self._resume_req.set()

    def estop(self, cause: str) -> None:
        """Emergency stop: cancel pending pulses and disarm at once from this thread, log the
        cause, and pause the session until an explicit :meth:`resume` passes the governor."""
        if self.executor is not None:
            self.executor.estop(cause)
        else:
            self.log.append(
                "estop",
                self.clock.now(),
                durable=True,
                cause=cause,
                disarm="confirmed",
                disarmed=True,
                disarm_detail="no stimulator in this session",
            )
        self.pause(f"emergency stop: {cause}")

    def device_fault(self, cause: str) -> None:
        """A device fault (any thread): e-stop, or pause if the plan says so and a pause can
        be held safely (else e-stop, saying why)."""
        if self.executor is None or self.plan.stimulation.on_device_fault != "pause":
            self.estop(cause)
            return
        why_not = self.executor.pause_for_fault(cause)
        if why_not is not None:
            self.estop(
                f"{cause} (the plan asks to pause on a device fault, but {why_not}: "
                "emergency stop instead)"
            )
            return
        self._device_problem = cause
        self._device_down_at = time.monotonic()
        self._device_down.set()
        wait = self.plan.stimulation.device_fault_wait_s
        self.pause(
            f"{cause}: paused, stimulator disarmed (stimulation.on_device_fault = pause); "
            f"waiting up to {wait:g} s for the stimulator to answer again, then a resume"
        )

    @property
    def device_down(self) -> bool:
        """Whether a device-fault pause is waiting for the stimulator to come back."""
        return self._device_down.is_set()

    def _try_reconnect(self) -> None:
        assert self.executor is not None
        problem = self.executor.reconnect()
        if problem is None:
            self._device_down.clear()
        else:
            self._device_problem = problem

    def _device_wait_over(self) -> bool:
        """True (and the abort reason set) when the stimulator did not come back in time."""
        wait = self.plan.stimulation.device_fault_wait_s
        if time.monotonic() - self._device_down_at <= wait:
            return False
        self._abort_reason = (
            f"the stimulator did not come back within {wait:g} s of the device fault "
            f"(last: {self._device_problem}); the session ends here, disarmed"
        )
        return True

    def _disarm_now(self) -> None:
        if self.executor is not None:
            self.executor.halt("disarm")

    # ---- the loop ------------------------------------------------------------------------
    def _set_state(self, new: State, reason: str = "") -> None:
        old, self.state = self.state, new
        self.log.append(
            "state",
            self.clock.now(),
            durable=True,
            **{"from": str(old)},
            to=str(new),
            reason=reason,
        )

    def _deadline(self, step: Step) -> float:
        return self._t0 + step.t + self._shift

    def _wait_until(self, deadline: float) -> bool:
        """Wait for ``deadline`` while honouring pause/abort; False if aborted."""
        while True:
            if self._abort_reason is not None:
                return False
            if self._pause_req.is_set():
                self._do_pause()
                continue
            now = self.clock.now()
            if now >= deadline:
                return True
            if self.clock.realtime:
                self.presenter.idle(min(deadline, now + _POLL_S))
            else:
                self.presenter.idle(deadline)

    def _do_pause(self) -> None:
        paused_at = self.clock.now()
        self._set_state(State.PAUSED, self._pause_reason)
        if self.executor is not None:
            self.executor.stimulator.disarm()
        if not self.operator_present and not self._pause_resumable:
            self._abort_reason = (
                f"{self._pause_reason} (no operator connected to resume it, so the session "
                "ends here, disarmed)"
            )
            self._pause_req.clear()
            return
        next_try = 0.0
        while True:
            # a device-fault pause polls in real time whatever the clock: the device is real
            poll = _POLL_S if self.clock.realtime or self._device_down.is_set() else None
            while not self._resume_req.wait(poll):
                if not self._device_down.is_set():
                    continue
                if time.monotonic() >= next_try:
                    self._try_reconnect()
                    next_try = time.monotonic() + RECONNECT_EVERY_S
                if self._device_down.is_set() and self._device_wait_over():
                    self._pause_req.clear()
                    return
            self._resume_req.clear()
            if self._abort_reason is not None:
                self._pause_req.clear()
                return
            if self._device_down.is_set():
                self._try_reconnect()
            if self._device_down.is_set():
                self.log.append(
                    "stim_refused",
                    self.clock.now(),
                    durable=True,
                    reason="cannot resume: the stimulator has not answered again since the "
                    f"device fault ({self._device_problem}): check the cable and the unit",
                )
                continue
            problems = self._recheck()
            if not problems:
                break
            # stay paused: only another explicit resume (after fixing the cause) or abort
            self.log.append(
                "stim_refused",
                self.clock.now(),
                durable=True,
                reason="cannot resume: " + "; ".join(problems),
            )
        self._pause_req.clear()
        self._shift += self.clock.now() - paused_at
        if self.executor is not None:
            self.executor.resume()
            self.executor.stimulator.arm()
            self.log.append(
                "device", self.clock.now(), what="armed", device=self.executor.stimulator.kind
            )
        self._set_state(State.RUNNING, "resumed")

    def _recheck(self) -> list[str]:
        if self.executor is None:
            return []
        return self.executor.recheck(self.session_date, self.pulses_today)

    def checks(self) -> list[str]:
        """Pre-session checks: the governor's plan check and arming the stimulator."""
        self._set_state(State.CHECKS)
        planned = self.timeline.total_pulses
        if self.executor is not None:
            problems = self._recheck()
        else:
            problems = [
                str(p)
                for p in governor.check_plan(
                    self.plan,
                    self.timeline,
                    today=self.session_date,
                    pulses_today=self.pulses_today,
                )
            ]
        if problems:
            return problems
        if planned:
            for notice in governor.safety_notices(self.plan):
                kind = "safety_override" if notice["what"] == "override" else "safety_notice"
                self.log.append(kind, self.clock.now(), durable=True, **notice)
        if self.executor is not None and planned:
            self.executor.stimulator.arm()
            self.log.append(
                "device",
                self.clock.now(),
                durable=True,
                what="armed",
                device=self.executor.stimulator.kind,
            )
        return []

    def run(self) -> RunResult:
        """Run checks, then every step from ``start_index``; always ends disarmed."""
        try:
            problems = self.checks()
            if problems:
                reason = "; ".join(problems)
                self.log.append("stim_refused", self.clock.now(), durable=True, reason=reason)
                return self._finish(State.ABORTED, reason)
            steps = self.timeline.steps
            first = steps[self.start_index] if self.start_index < len(steps) else steps[-1]
            lead = START_LEAD_S if self.clock.realtime else 0.0
            self._t0 = self.clock.now() + lead - first.t
            self._set_state(State.RUNNING)
            for step in steps[self.start_index :]:
                lead = STIM_LOOKAHEAD_S if self.clock.realtime and step.n_pulses else 0.0
                if step.kind != "cue_pulse":
                    if not self._wait_until(self._deadline(step) - lead):
                        break
                    # the runner itself fell behind (a slow step before this one)
                    self._catch_up(step, self._deadline(step) - lead, self.clock.now(), "runner")
                    if self._abort_reason is not None:
                        break
                if self._pause_req.is_set() and not self._wait_until(self.clock.now()):
                    break
                self._run_step(step)
                self._last_step = step.index
                if self._abort_reason is not None:
                    break
            self._drain()
            if self._abort_reason is not None:
                return self._finish(State.ABORTED, self._abort_reason)
            return self._finish(State.COMPLETED, "")
        except BaseException as e:  # a fault anywhere leaves the stimulator disarmed
            self._disarm_now()
            self._finish(State.ABORTED, f"{type(e).__name__}: {e}")
            raise

    def _drain(self) -> None:
        """Let the pulse scheduler finish trains still under way (pause/abort honoured)."""
        if self.executor is None:
            return
        while not self.executor.wait_idle(_POLL_S):
            if self._pause_req.is_set() and self._abort_reason is None:
                self._wait_until(self.clock.now())

    def _finish(self, state: State, reason: str) -> RunResult:
        if self.executor is not None:
            self.executor.cancel(f"session {state}")
            self.executor.wait_idle(5.0)
            disarm = disarm_outcome(self.executor.stimulator).fields()
            self.pulses_delivered = self._pulses_at_start + self.executor.delivered
        else:
            disarm = {}
        planned = self.timeline.total_pulses
        self._set_state(state, reason)
        self.log.append(
            "session_end",
            self.clock.now(),
            durable=True,
            **disarm,  # the session ends with what is known of the final disarm
            state=str(state),
            reason=reason,
            pulses_delivered=self.pulses_delivered,
            # the dose as planned and what of it this session did not deliver (never guessed)
            pulses_planned=planned,
            pulses_not_delivered=max(0, planned - self.pulses_delivered),
            last_step=self._last_step,
        )
        return RunResult(state, reason, self.pulses_delivered, self._last_step)

    def _run_step(self, step: Step) -> None:
        t_log = self.log.append
        kind = step.kind
        common: dict[str, Any] = {"step": step.index, "block": step.block}
        if kind in ("block_start", "block_end"):
            t_log(kind, self.clock.now(), **common, **dict(step.data))
        elif kind in ("cue", "window", "rest"):
            onset = self.presenter.present(step)
            self._onsets[step.index] = onset
            planned = self._deadline(step)
            self._catch_up(step, planned, onset, "display")
            data = dict(step.data)
            if "tone" in data:  # the cue's tone: its parameters, and whether and when it played
                tone = self.presenter.cue_tone() or ToneOutcome(False, reason="not reported")
                data["tone"] = {**data["tone"], **tone.to_event()}
            t_log(kind, onset, **common, planned=planned, **data)
        elif kind == "rating":
            onset = self.presenter.present(step)
            self._catch_up(step, self._deadline(step), onset, "display")
            t_log("rating_prompt", onset, **common, timepoint=step.data["timepoint"])
            answer = self.presenter.ask_rating(step, onset + float(step.data["timeout_s"]))
            t_ans = answer.t if answer else self.clock.now()
            t_log(
                "rating",
                t_ans,
                durable=True,
                **common,
                timepoint=step.data["timepoint"],
                value=answer.value if answer else None,
                rt_s=t_ans - onset,
            )
            self._shift += max(0.0, t_ans - self._deadline(step) - step.duration)
        elif kind == "embodiment":
            onset = self.presenter.present(step)
            self._catch_up(step, self._deadline(step), onset, "display")
            item = step.data["item"]
            t_log("embodiment_prompt", onset, **common, item=item)
            answer = self.presenter.ask_rating(step, onset + float(step.data["timeout_s"]))
            t_ans = answer.t if answer else self.clock.now()
            t_log(
                "embodiment",
                t_ans,
                durable=True,
                **common,
                item=item,
                value=answer.value if answer else None,
                rt_s=t_ans - onset,
            )
            self._shift += max(0.0, t_ans - self._deadline(step) - step.duration)
        elif kind == "laterality_trial":
            onset = self.presenter.present(step)
            self._catch_up(step, self._deadline(step), onset, "display")
            d = step.data
            t_log(
                "laterality_trial",
                onset,
                **common,
                trial=d["trial"],
                side=d["side"],
                angle_deg=d["angle_deg"],
                view=d["view"],
            )
            answer = self.presenter.ask_laterality(step, onset + float(d["time_limit_s"]))
            t_log(
                "laterality_response",
                answer.t if answer else self.clock.now(),
                **common,
                trial=d["trial"],
                answer=answer.value if answer else None,
                correct=(answer.value == d["side"]) if answer else False,
                rt_s=(answer.t - onset) if answer else None,
            )
        elif kind in ("train", "cue_pulse"):
            self._stimulate(step)
        # "end" needs no event of its own: _finish logs the final state and totals

    def _catch_up(self, step: Step, planned: float, actual: float, source: str) -> None:
        """Shift the rest of the timeline by a stall (or log it, if the plan refuses late)."""
        lag = actual - planned
        cfg = self.plan.session
        if lag <= cfg.stall_tolerance_s:
            return
        if cfg.on_stall == "refuse":
            self.log.append(
                "stall",
                actual,
                step=step.index,
                source=source,
                late_s=lag,
                action="none: the plan refuses late trains (session.on_stall = refuse)",
            )
            return
        paused = lag > cfg.max_stall_shift_s
        if paused:
            self._set_state(
                State.PAUSED,
                f"the {source} stalled {lag:.2f} s (more than the plan's "
                f"{cfg.max_stall_shift_s:g} s): the session paused and goes on where it was",
            )
            problems = self._recheck()
            if problems:
                self._abort_reason = "cannot resume after a stall: " + "; ".join(problems)
                return
        self._shift += lag
        self.log.append(
            "timeline_shift",
            actual,
            durable=True,
            step=step.index,
            source=source,
            late_s=lag,
            shift_s=self._shift,
            paused=paused,
        )
        if paused:
            self._set_state(State.RUNNING, "resumed after the stall")

    def _stimulate(self, step: Step) -> None:
        if step.kind == "cue_pulse":
            cue_onset = self._onsets.get(int(step.data["cue_step"]))
            if cue_onset is None:
                self.log.append(
                    "stim_skipped",
                    self.clock.now(),
                    step=step.index,
                    reason="its cue was not shown in this run (resumed after it)",
                )
                return
            onset = cue_onset + float(step.data["delay_s"])
        else:
            onset = self._deadline(step)
        if self.executor is None:
            self.log.append(
                "stim_skipped",
                self.clock.now(),
                step=step.index,
                reason="no stimulator in this session",
            )
            return
        self.executor.submit(step, onset)
        self.pulses_delivered = self._pulses_at_start + self.executor.delivered

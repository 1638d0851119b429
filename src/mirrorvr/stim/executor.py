"""Delivers stimulation steps: governor → durable intent → pulses → durable outcome.

Every train passes the safety governor's run-time gate (:func:`mirrorvr.stim.governor.authorize`)
just before it starts; its intent is on disk before the first trigger and its outcome after the
last, so a crash can never make a resumed session exceed its budget.
The pulses of an admitted train go out in :mod:`mirrorvr.stim.delivery`.

Two ways to run, one code path:

* real time: :meth:`StimulationExecutor.submit` hands the train to the
  :class:`~mirrorvr.stim.scheduler.PulseScheduler` thread (SCHED_FIFO, sleep-then-spin) and
  returns, so the runner keeps presenting cues while pulses go out;
* simulated clock: ``submit`` runs the train inline on the runner's thread, so the same seed
  gives the same events.

Host-timed trains fire one trigger per pulse, each stamped with the time the trigger left
(write completed + line time of its bytes). The write starts early by the smallest write cost
seen recently (at most ``MAX_LEAD_S``), so the trigger leaves at its deadline, not after it. Device-timed trains (``capabilities.
device_timed_trains``) send one start command; their pulses are logged at the expected times.
``train_intent.timing`` says which. A pulse whose deadline has passed by more than
``late_tolerance_s`` is never fired; it is logged as ``pulse_missed``.

:meth:`StimulationExecutor.estop` may be called from any thread: it cancels pending pulses,
disarms the device from the calling thread at once and logs the cause. Stimulation continues
only after :meth:`StimulationExecutor.resume`, which re-runs the governor's plan check.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable
from typing import Literal

from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.events import Event
from mirrorvr.session.timeline import Step, Timeline
from mirrorvr.stim import governor
from mirrorvr.stim.base import DisarmOutcome, Stimulator, disarm_outcome
from mirrorvr.stim.delivery import MAX_LEAD_S, TrainDelivery, TrainResult
from mirrorvr.stim.priority import realtime_boost
from mirrorvr.stim.safety.pulse_stream import PairedDevice, Pulse, check_pulses
from mirrorvr.stim.scheduler import PulseScheduler

# moved to :mod:`mirrorvr.stim.delivery`, still importable from here
__all__ = [
    "DEFAULT_LATE_TOLERANCE_S",
    "MAX_LEAD_S",
    "StimulationExecutor",
    "TrainResult",
    "last_stimulation_time",
]

#: how a train's pulses go out: one trigger each (host), one start command (device: rTMS trains
#: the stimulator times), or one trigger per device-timed pair (paired)
Timing = Literal["host", "device", "paired"]

#: a pulse later than this after its deadline is skipped and logged as missed
DEFAULT_LATE_TOLERANCE_S = 0.005


def last_stimulation_time(events: list[Event]) -> float | None:
    """When the last stimulation of a (crashed) log may have happened, conservatively.

    A train with an intent and no outcome may have run until the crash, so the last event's
    time counts; otherwise the last pulse's.
    """
    open_trains: set[tuple[object, object]] = set()
    last_pulse: float | None = None
    for e in events:
        if e.kind == "train_intent":
            open_trains.add((e.get("step"), e.get("train")))
        elif e.kind == "train_outcome":
            open_trains.discard((e.get("step"), e.get("train")))
        elif e.kind == "pulse":
            last_pulse = e.t
    if open_trains and events:
        return events[-1].t
    return last_pulse


def _pulses(step: Step, onset: float, request: governor.StimRequest) -> list[Pulse]:
    """The step's pulses at their times from ``onset``, as the pulse-stream checker sees them
    (the second pulse of a pair at power B)."""
    d = step.data
    paired = bool(d.get("paired", False))
    rmt_b = float(d.get("intensity_b_pct_rmt", request.intensity_pct_rmt))
    mso_b = float(d.get("intensity_b_pct_mso", request.intensity_pct_mso))
    return [
        Pulse(onset + float(o), rmt_b, mso_b, True)
        if paired and k % 2 == 1
        else Pulse(onset + float(o), request.intensity_pct_rmt, request.intensity_pct_mso)
        for k, o in enumerate(d["offsets"])
    ]


class StimulationExecutor(TrainDelivery):
    """Runs stimulation steps on a stimulator, through the governor, into the event log."""

    def __init__(
        self,
        *,
        stimulator: Stimulator,
        log: EventLog,
        clock: Clock,
        plan: SessionPlan,
        timeline: Timeline,
        budget: int,
        ledger: governor.Ledger | None = None,
        late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S,
        scheduler: PulseScheduler | None = None,
        last_stim_t: float | None = None,
    ) -> None:
        self.stimulator = stimulator
        self.log = log
        self.clock = clock
        self.plan = plan
        self.timeline = timeline
        self.budget = budget
        self.late_tolerance_s = late_tolerance_s
        self.scheduler = scheduler
        self.limits = governor.effective_limits(plan.safety)
        self._state = governor.RuntimeState(ledger or governor.Ledger())
        if last_stim_t is not None:
            # resumed after a crash: the next train keeps the minimum gap from the last
            # stimulation of the crashed run (same clock), like any other train
            self._state = governor.RuntimeState(
                self._state.ledger,
                0,
                governor.GroupState(None, "rtms", last_stim_t, last_stim_t, last_stim_t, 0),
            )
        self._lock = threading.Lock()
        self._sim_stop = threading.Event()
        #: recent trigger write costs (wake → write completed), for the write lead
        self._costs: collections.deque[float] = collections.deque(maxlen=32)
        self.delivered = 0  # pulses certainly delivered by this executor
        self.estopped: str | None = None
        #: called (from the scheduler thread) when the device faults; the runner sets its e-stop
        self.on_fault: Callable[[str], None] | None = None
        # faults the driver's own supervision finds between trains (keep-alive, lost link) reach
        # the session at once, armed or not: a `device` event, then the same e-stop
        stimulator.fault_listener = self._supervision_fault
        self._fault_once = threading.Lock()  # a fault is reported once, by whoever sees it first
        self._fault_reported = False
        #: pulses admitted since the last rest of an inter-train interval: with a new train they
        #: go through the pulse-stream checker, which judges times, not labels
        self._run: list[Pulse] = []
        #: the device-timed pair the stimulator confirmed by read-back before arming (set by
        #: the assembly, :func:`mirrorvr.run.stimulation.set_plan_pairs`); ``None``: the device
        #: gives none, and the governor refuses every paired pulse
        self.paired: PairedDevice | None = None
        # a held trigger line (TTL box) returns to idle by our deadline, on our clock: after the
        # pulse is logged, and in simulated time on the simulated clock (no real-time spin)
        stimulator.auto_release = False

    # ---- state shared across threads ---------------------------------------------------
    @property
    def state(self) -> governor.RuntimeState:
        """The run-time gate's state (ledger, last train)."""
        with self._lock:
            return self._state

    @property
    def ledger(self) -> governor.Ledger:
        """Pulses counted so far (session, today)."""
        with self._lock:
            return self._state.ledger

    @property
    def timing(self) -> Literal["host", "device"]:  # of rTMS trains
        """How this device's trains are timed."""
        return "device" if self.stimulator.capabilities.device_timed_trains else "host"

    def device_limits(self) -> governor.DeviceLimits:
        """The driver's limits at the plan's intensity and pulse rate."""
        proto = self.plan.stimulation.protocol
        freq = proto.frequency_hz if proto else 0.0
        return self.stimulator.device_limits(self.plan.stimulation.intensity_pct_mso, freq)

    # ---- control (any thread) ------------------------------------------------------------
    def cancel(self, reason: str = "") -> None:
        """Stop the running train at its next pulse and drop pending ones (pause/abort)."""
        self._sim_stop.set()
        if self.scheduler is not None:
            self.scheduler.cancel(reason)

    def halt(self, reason: str) -> None:
        """Cancel pending pulses and disarm at once (pause, abort, a node stopping).

        Like :meth:`estop`, the calling thread does it at real-time priority where allowed, so
        the disarm frame leaves within milliseconds however busy the machine is.
        """
        with realtime_boost():
            self.cancel(reason)
            self.stimulator.disarm()

    def estop(self, cause: str) -> None:
        """Emergency stop: cancel pending pulses, disarm at once, log the cause.

        The calling thread (keyboard, console, tracking watchdog: ordinary threads) runs the
        cancel and disarm at real-time priority where allowed, so a busy machine cannot
        preempt it half-way.
        """
        t_call = self.clock.now()
        with realtime_boost():
            self.cancel(f"emergency stop: {cause}")
            self.estopped = cause
            outcome = disarm_outcome(self.stimulator)
            t_done = self.clock.now()
        self.log.append(
            "estop",
            t_call,
            durable=True,
            cause=cause,
            # only what the device confirmed: confirmed, failed (with the step) or unknown
            **outcome.fields(),
            disarm_s=t_done - t_call,  # from the call to the disarm's outcome
        )

    def pause_for_fault(self, cause: str) -> str | None:
        """A device fault under ``stimulation.on_device_fault = "pause"``: cancel and disarm at
        once, and log the disarm's outcome as truthfully as an e-stop's (``device`` event,
        ``what = "fault_disarm"``). ``None``: done; a string: why a pause cannot be made safely
        here (the caller e-stops instead; always ``None`` in this process)."""
        t_call = self.clock.now()
        with realtime_boost():
            self.cancel(f"device fault: {cause}")
            outcome = disarm_outcome(self.stimulator)
            t_done = self.clock.now()
        self._log_fault_disarm(cause, outcome, t_call, t_done)
        return None

    def _log_fault_disarm(
        self, cause: str, outcome: DisarmOutcome, t_call: float, t_done: float
    ) -> None:
        self.log.append(
            "device",
            t_call,
            durable=True,
            what="fault_disarm",
            action="pause",
            device=self.stimulator.kind,
            cause=cause,
            **outcome.fields(),  # only what the device confirmed, as for an e-stop
            disarm_s=t_done - t_call,
        )

    def reconnect(self) -> str | None:
        """Try to bring a faulted stimulator back: close its link, connect again (the driver
        identifies the unit and takes remote control again), set the plan's intensity (read
        back). ``None``: the device answers again (logged ``device`` ``reconnected``); else
        what failed. The device stays disarmed: arming is the runner's, after a resume."""
        try:
            self.paired = None  # the unit that came back has not confirmed any pair yet
            self._reopen()
            if self.stimulator.capabilities.sets_intensity:
                self.stimulator.set_intensity(self.plan.stimulation.intensity_pct_mso)
            if self.stimulator.capabilities.device_timed_pairs:
                # whatever the unit came back with: single pulses, then the plan's pair again
                self.stimulator.set_single_pulse()
                self.set_pairs()
        except DeviceError as e:
            return str(e)
        self._fault_reported = False  # the device is back: a new fault is reported again
        self.log.append(
            "device",
            self.clock.now(),
            durable=True,
            what="reconnected",
            device=self.stimulator.kind,
            intensity_pct_mso=self.plan.stimulation.intensity_pct_mso,
        )
        return None

    def set_pairs(self) -> PairedDevice | None:
        """A paired plan's device-timed pair, set on a stimulator that times pairs (disarmed)
        and read back; kept in :attr:`paired`, by which the governor judges the plan's pairs.

        ``None`` when the plan has no pairs or the stimulator cannot time them (the governor
        then refuses every paired pulse before arming). A read-back that differs from what was
        sent raises ``DeviceError`` (the driver faults and disarms): nothing is armed. Logged as
        a durable ``device`` event ``paired_set`` with what was asked and what was confirmed.
        """
        self.paired = None
        stim = self.plan.stimulation
        interval = stim.protocol.paired_pulse_interval_ms if stim.protocol is not None else None
        if not interval or not self.stimulator.capabilities.device_timed_pairs:
            return None
        confirmed = self.stimulator.set_paired_pulse(interval, stim.power_b_pct_mso)
        self.log.append(
            "device",
            self.clock.now(),
            durable=True,
            what="paired_set",
            device=self.stimulator.kind,
            interval_ms=interval,
            power_b_pct_mso=stim.power_b_pct_mso,
            power_b_pct_rmt=stim.power_b_pct_rmt,
            device_interval_ms=confirmed.interval_ms,
            device_power_b_pct_mso=confirmed.power_b_pct_mso,
            source=confirmed.source,
        )
        self.paired = confirmed
        return confirmed

    def _reopen(self) -> None:
        """Close the driver's link (best effort: it is faulted) and connect it again."""
        try:
            self.stimulator.close()
        except Exception:  # a faulted link may fail to close cleanly; connect decides
            pass
        self.stimulator.connect()

    def recheck(self, today: dt.date, pulses_today: int = 0) -> list[str]:
        """The governor's plan check again (``pulses_today``: from earlier sessions)."""
        problems = governor.check_plan(
            self.plan,
            self.timeline,
            today=today,
            pulses_today=pulses_today,
            device=self.device_limits(),
            paired_device=self.paired,  # what the device confirmed, never the plan's label
        )
        return [str(p) for p in problems]

    def resume(self) -> None:
        """Accept pulses again (after a pause or an emergency stop whose re-check passed)."""
        self.estopped = None
        self._fault_reported = False
        self._sim_stop.clear()
        if self.scheduler is not None:
            self.scheduler.reset()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted train has finished."""
        return True if self.scheduler is None else self.scheduler.wait_idle(timeout)

    # ---- delivery ------------------------------------------------------------------------
    def submit(self, step: Step, onset: float) -> None:
        """Deliver ``step`` at ``onset`` (clock seconds): on the scheduler thread if any."""
        if self.scheduler is None:
            self._run_safely(step, onset)
            return

        def dropped(reason: str) -> None:
            self.log.append(
                "stim_skipped",
                self.clock.now(),
                step=step.index,
                train=step.data.get("train"),
                reason=reason,
            )

        self.scheduler.submit(lambda: self._run_safely(step, onset), dropped)

    def _supervision_fault(self, message: str) -> None:
        """The driver's supervision found a fault: log it and e-stop (or disarm) at once."""
        if not self._first_fault():
            return  # a train saw the same fault and has e-stopped already
        self.log.append(
            "device",
            self.clock.now(),
            durable=True,
            what="fault",
            device=self.stimulator.kind,
            source="supervision",
            error=message,
        )
        if self.on_fault is not None:
            self.on_fault(f"device fault: {message}")
        else:
            self.estop(f"device fault: {message}")

    def _run_safely(self, step: Step, onset: float) -> None:
        result = self.execute(step, onset)
        if result.status == "fault" and self.on_fault is not None and self._first_fault():
            self.on_fault(f"device fault: {result.reason}")

    def _stream_decision(self, new: list[Pulse]) -> governor.Decision:
        """The pulse-stream checker over this train with the pulses just before it."""
        findings = check_pulses(
            [*self._run, *new],
            self.limits,
            counts=False,  # the budgets are the ledger's (authorize)
            paired_device=self.paired,
        )
        if not findings:
            return governor.Decision(True)
        f = findings[0]
        return governor.Decision(False, f"rule {f.rule}: {f.message}")

    def _admit_pulses(self, new: list[Pulse]) -> None:
        rest = self.limits.profile.min_intertrain_interval_s
        if self._run and new and new[0].t - self._run[-1].t >= rest:
            self._run = []  # a rest long enough to end every rule that looks back
        self._run.extend(new)

    def _first_fault(self) -> bool:
        with self._fault_once:
            first, self._fault_reported = not self._fault_reported, True
            return first

    def execute(self, step: Step, onset: float) -> TrainResult:
        """Deliver ``step``'s pulses at ``onset + offsets`` on the calling thread."""
        admitted = self.admit(step, onset)
        if isinstance(admitted, TrainResult):
            return admitted
        request, offsets, timing = admitted
        if timing == "device":
            result = self._device_train(step, onset, offsets, request)
        else:
            result = self._host_train(step, onset, offsets, request)
        self.conclude(step, request, len(offsets), result, timing)
        return result

    def admit(
        self, step: Step, onset: float
    ) -> TrainResult | tuple[governor.StimRequest, tuple[float, ...], Timing]:
        """The governor's gate for one train, its budget reserved and its intent logged.

        Returns (request, offsets, timing) when the train may go out, else the result of a
        train skipped (stopped) or refused (already logged).
        """
        d = step.data
        offsets: tuple[float, ...] = tuple(float(o) for o in d["offsets"])
        request = governor.request_from_step(step, onset)
        if self.stopping:
            self.log.append(
                "stim_skipped",
                self.clock.now(),
                step=step.index,
                train=d["train"],
                reason="stimulation is stopped (pause, abort or emergency stop)",
            )
            return TrainResult(status="skipped", reason="stopped")
        with self._lock:
            decision = governor.authorize(
                request, self._state, self.limits, self.budget, self.device_limits()
            )
            new = _pulses(step, onset, request)
            if decision.allowed:
                decision = self._stream_decision(new)
            if decision.allowed:
                # the budget is counted before the first trigger; undelivered pulses come back
                self._state = governor.reserve(self._state, request)
                self._admit_pulses(new)
        if not decision.allowed:
            self.log.append(
                "stim_refused",
                self.clock.now(),
                durable=True,
                step=step.index,
                train=d["train"],
                reason=decision.reason,
            )
            return TrainResult(status="refused", reason=decision.reason)
        device_timed = self.timing == "device" and request.pattern == "rtms" and len(offsets) > 1
        timing: Timing = "device" if device_timed else "host"
        pair: dict[str, object] = {}
        if d.get("paired") and self.paired is not None:
            # one trigger per pair; the device gives power B after its confirmed interval
            timing = "paired"
            pair = {
                "paired_interval_ms": self.paired.interval_ms,
                "intensity_b_pct_mso": d.get("intensity_b_pct_mso"),
                "device_power_b_pct_mso": self.paired.power_b_pct_mso,
            }
        self.log.append(
            "train_intent",
            self.clock.now(),
            durable=True,
            step=step.index,
            train=d["train"],
            group=d.get("group"),
            phase=d["phase"],
            pattern=request.pattern,
            n_pulses=len(offsets),
            planned_onset=onset,
            intensity_pct_mso=request.intensity_pct_mso,
            intensity_pct_rmt=request.intensity_pct_rmt,
            frequency_hz=request.frequency_hz,
            timing=timing,
            device=self.stimulator.kind,
            **pair,
        )
        return request, offsets, timing

    def conclude(
        self,
        step: Step,
        request: governor.StimRequest,
        n_pulses: int,
        result: TrainResult,
        timing: str,
    ) -> None:
        """Give back the budget of pulses that certainly did not go out; log the outcome."""
        result.timing = timing
        undelivered = n_pulses - result.delivered
        with self._lock:
            self._state = governor.release(self._state, undelivered, request.pattern)
            self.delivered += result.delivered
        self.log.append(
            "train_outcome",
            self.clock.now(),
            durable=True,
            step=step.index,
            train=step.data["train"],
            delivered=result.delivered,
            missed=result.missed,
            status=result.status,
            reason=result.reason,
            timing=timing,
        )

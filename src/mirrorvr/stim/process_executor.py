"""The stimulation executor whose trains run in the stimulation process.

:class:`ProcessExecutor` passes each train through the governor *here*, logs the durable intent,
and hands the train over ahead of time with its exact pulse times. The child re-checks every
pulse with its own guard, journals it, and sends it back; this side logs it in the session's
event log (and so on LSL) with the child's stamp. E-stop, halt and disarm go through the e-stop
channel; device faults come up the message pipe and become the runner's e-stop. If the child
dies, this side logs it (durable), copies what the child journaled but never sent into the event
log, disarms the device through the port itself (best effort) and e-stops the session.
:func:`guard_limits` is the child's guard for a plan.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from typing import Any

from mirrorvr.errors import DeviceError
from mirrorvr.session.timeline import Step
from mirrorvr.stim import governor
from mirrorvr.stim.base import outcome_from_reply
from mirrorvr.stim.executor import StimulationExecutor, TrainResult
from mirrorvr.stim.guard import GuardLimits
from mirrorvr.stim.journal import missing_records, read_journal
from mirrorvr.stim.pairs import triggers
from mirrorvr.stim.process_link import Message, StimulationProcess
from mirrorvr.stim.remote import RemoteStimulator


class ProcessExecutor(StimulationExecutor):
    """A stimulation executor whose trains run in the stimulation process."""

    def __init__(self, *, process: StimulationProcess, **kw: Any) -> None:
        super().__init__(stimulator=RemoteStimulator(process), scheduler=None, **kw)
        self.process = process
        self._open: dict[tuple[Any, Any], tuple[Step, governor.StimRequest, int, str]] = {}
        self._idle = threading.Event()
        self._idle.set()
        self._dev_limits: governor.DeviceLimits | None = None
        #: outcomes of trains handed over by :meth:`execute`, which waits for them
        self._waiting: dict[tuple[Any, Any], tuple[threading.Event, list[TrainResult]]] = {}
        #: pulses the child pushed to its own LSL pulse stream (as reported with each pulse)
        self.published = 0
        process.on_message = self._on_message

    def device_limits(self) -> governor.DeviceLimits:
        """The driver's limits at the plan's settings (asked once: they are fixed)."""
        if self._dev_limits is None:
            self._dev_limits = super().device_limits()
        return self._dev_limits

    # ---- delivery ------------------------------------------------------------------------
    def submit(self, step: Step, onset: float) -> None:
        """Authorize and log the intent here, then hand the train to the child."""
        self._hand_over(step, onset)

    def _hand_over(self, step: Step, onset: float) -> TrainResult | None:
        """:meth:`submit`; the result of a train not handed over (skipped or refused)."""
        admitted = self.admit(step, onset)
        if isinstance(admitted, TrainResult):
            return admitted
        request, offsets, timing = admitted
        key = (step.index, step.data["train"])
        with self._lock:
            self._open[key] = (step, request, len(offsets), timing)
            self._idle.clear()
        try:
            self.process.send(
                {
                    "op": "train",
                    "step": step.index,
                    "train": step.data["train"],
                    "times": [onset + o for o in offsets],
                    "intensity_pct_mso": request.intensity_pct_mso,
                    "frequency_hz": request.frequency_hz,
                    "timing": timing,
                    # paired: one trigger per pair, power B as planned for the child's guard
                    "paired": timing == "paired",
                    "intensity_b_pct_mso": step.data.get("intensity_b_pct_mso"),
                }
            )
        except DeviceError as e:  # the child is gone: its death is handled by the reader
            self._close_train(key, TrainResult(status="fault", reason=str(e)))
        return None

    def execute(self, step: Step, onset: float) -> TrainResult:
        """Hand ``step`` over as :meth:`submit` does, and wait for its outcome (a caller with a
        thread of its own per train, like the TMS node). If the child dies first: a fault, the
        train left open in the log (it counts in full, as with any train without an outcome)."""
        key = (step.index, step.data["train"])
        waiter: tuple[threading.Event, list[TrainResult]] = (threading.Event(), [])
        with self._lock:
            self._waiting[key] = waiter
        try:
            not_handed_over = self._hand_over(step, onset)
            if not_handed_over is not None:
                return not_handed_over  # skipped or refused here (already logged)
            while not waiter[0].wait(0.1):
                if self.process.dead.is_set():
                    with self._lock:
                        if not waiter[1]:
                            return TrainResult(
                                status="fault", reason="the stimulation process died"
                            )
            return waiter[1][0]
        finally:
            with self._lock:
                self._waiting.pop(key, None)

    def _close_train(self, key: tuple[Any, Any], result: TrainResult) -> None:
        with self._lock:
            entry = self._open.pop(key, None)
            if not self._open:
                self._idle.set()
        if entry is not None:
            step, request, n, timing = entry
            self.conclude(step, request, n, result, timing)
        with self._lock:
            waiter = self._waiting.get(key)
            if waiter is not None and not waiter[1]:
                waiter[1].append(result)
                waiter[0].set()

    def _on_message(self, msg: Message) -> None:
        ev = str(msg.get("ev"))
        data = {k: v for k, v in msg.items() if k not in ("ev", "t")}
        if ev in ("pulse", "pulse_missed", "guard_refused"):
            if "lsl_s" in data:
                self.published += 1
            self.log.append(ev, float(msg["t"]), durable=ev == "guard_refused", **data)
        elif ev == "train_outcome":
            self._close_train(
                (msg["step"], msg["train"]),
                TrainResult(
                    delivered=int(msg["delivered"]),
                    missed=int(msg["missed"]),
                    status=str(msg["status"]),
                    reason=str(msg["reason"]),
                ),
            )
        elif ev == "fault":
            self.log.append(
                "device", float(msg["t"]), durable=True, what="fault", reason=msg["reason"]
            )
            self._fault_async(str(msg["reason"]))
        elif ev == "died":
            self._child_died(int(msg.get("code", -1)))

    def _fault_async(self, reason: str) -> None:
        # the runner's e-stop waits for the child's disarm confirmation, which this (reader)
        # thread delivers: run it on a thread of its own
        if self.on_fault is not None:
            cb = self.on_fault
            threading.Thread(target=cb, args=(reason,), name="stim fault", daemon=True).start()

    def _child_died(self, code: int) -> None:
        t = self.clock.now()
        self.log.append(
            "device",
            t,
            durable=True,
            what="stim_process_died",
            exit_code=code,
            reason="the stimulation process exited unexpectedly",
        )
        # what the child journaled but never sent: into the session log, stamps unchanged
        for rec in missing_records(list(self.log), read_journal(self.process.journal_path)):
            if rec["kind"] == "train_intent":
                continue  # this side logged the intent before handing the train over
            data = {k: v for k, v in rec.items() if k not in ("t", "kind")}
            if rec["kind"] == "train_outcome":
                self._close_train(
                    (data["step"], data["train"]),
                    TrainResult(
                        delivered=int(data["delivered"]),
                        missed=int(data["missed"]),
                        status=str(data["status"]),
                        reason=str(data["reason"]),
                    ),
                )
            else:
                self.log.append(str(rec["kind"]), float(rec["t"]), recovered=True, **data)
        # trains without an outcome stay open in the log: they count in full as possibly
        # delivered (resume budgets against that), never fewer
        with self._lock:
            self._open.clear()
            self._idle.set()
        disarmed = self.process.disarm_directly()
        self.log.append(
            "device", self.clock.now(), durable=True, what="disarm_after_death", written=disarmed
        )
        self._fault_async(f"stimulation process died (exit code {code})")

    # ---- control (any thread) ------------------------------------------------------------
    def cancel(self, reason: str = "") -> None:
        """Drop pending trains and stop the running one at its next wait (pause/abort)."""
        self._sim_stop.set()
        with contextlib.suppress(DeviceError):
            self.process.send({"op": "cancel", "reason": reason})

    def halt(self, reason: str) -> None:
        """Cancel and disarm at once through the e-stop channel."""
        self._sim_stop.set()
        if self.process.alive and self.process.request_disarm("H") is not None:
            return
        self.process.disarm_directly()

    def estop(self, cause: str) -> None:
        """Emergency stop through the e-stop channel; the log says what the child confirmed."""
        t_call = self.clock.now()
        self._sim_stop.set()
        self.estopped = cause
        reply = self.process.request_disarm("E") if self.process.alive else None
        if reply is None:
            outcome = self.process.disarm_outcome_directly()
            t_done = self.clock.now()
        else:
            outcome = outcome_from_reply(reply)
            t_done = float(reply["t_done"])
        if not outcome.confirmed:
            cause = f"{cause} (disarm {outcome.status})"
        self.log.append(
            "estop",
            t_call,
            durable=True,
            cause=cause,
            **outcome.fields(),  # only what the child (or the port) confirmed
            disarm_s=t_done - t_call,
        )

    def pause_for_fault(self, cause: str) -> str | None:
        """Cancel and disarm through the e-stop channel for a device-fault pause; the log says
        what the child confirmed. A child that is gone or does not answer cannot hold a pause
        safely: the reason is returned and the caller e-stops instead."""
        if not self.process.alive:
            return "the stimulation process is gone"
        t_call = self.clock.now()
        self._sim_stop.set()
        reply = self.process.request_disarm("H")
        if reply is None:
            return "the stimulation process did not confirm the disarm request"
        self._log_fault_disarm(cause, outcome_from_reply(reply), t_call, float(reply["t_done"]))
        return None

    def _reopen(self) -> None:
        """The child closes its faulted driver and connects it again."""
        if not self.process.alive:
            raise DeviceError("the stimulation process is gone")
        self.process.call("reconnect", timeout=15.0)

    def resume(self) -> None:
        """Accept trains again (the runner re-ran the governor's plan check)."""
        super().resume()
        with contextlib.suppress(DeviceError):
            self.process.send({"op": "reset"})

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every handed-over train has its outcome (or the child died)."""
        return self._idle.wait(timeout)


def guard_limits(
    plan: Any,
    timeline: Any,
    budget: int,
    counted: int,
    late_tolerance_s: float,
    extra_pulses: int = 0,
) -> GuardLimits:
    """The child's guard for a plan: its intensity, its fastest pulse rate, the pulses left
    (``extra_pulses``: single pulses outside the timeline, e.g. a threshold hunt's)."""
    profile = governor.effective_limits(plan.safety).profile
    rate = 1.0 / float(profile.min_single_pulse_interval_s)
    for step in timeline.steps:
        offs = [float(o) for o in step.data.get("offsets", ())]
        # a device-timed pair is one trigger: the rate is that of the triggers
        offs = [tr.offset for tr in triggers(offs, bool(step.data.get("paired")))]
        for a, b in itertools.pairwise(offs):
            if b > a:
                rate = max(rate, 1.0 / (b - a))
    stim = plan.stimulation
    proto = stim.protocol
    paired_ms = proto.paired_pulse_interval_ms if proto is not None else None
    return GuardLimits(
        max_intensity_pct_mso=float(stim.intensity_pct_mso),
        max_rate_hz=rate,
        max_pulses=max(0, budget - counted) + extra_pulses,
        jitter_s=late_tolerance_s,
        max_single_intensity_pct_mso=float(profile.max_intensity_pct_mso),
        pair_interval_ms=float(paired_ms) if paired_ms else None,
        max_intensity_b_pct_mso=float(stim.power_b_pct_mso) if paired_ms else 0.0,
    )

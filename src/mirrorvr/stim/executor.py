"""Delivers one stimulation step: governor → durable intent → pulses → durable outcome.

Host-timed: each pulse is one trigger at its planned time on the session clock. A pulse whose
deadline has passed by more than ``late_tolerance_s`` is never fired; it is logged as missed.
An abort or emergency stop between pulses ends the train at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.timeline import Step
from mirrorvr.stim import governor
from mirrorvr.stim.base import Stimulator

#: a pulse later than this after its deadline is skipped and logged as missed
DEFAULT_LATE_TOLERANCE_S = 0.005


@dataclass
class TrainResult:
    """What happened to one stimulation step."""

    delivered: int = 0
    missed: int = 0
    status: str = "completed"  # completed | refused | skipped | stopped | fault
    reason: str = ""


@dataclass
class StimulationExecutor:
    """Runs stimulation steps on a stimulator, through the governor, into the event log."""

    stimulator: Stimulator
    log: EventLog
    clock: Clock
    profile: object  # SafetyProfile
    budget: int
    ledger: governor.Ledger = field(default_factory=governor.Ledger)
    late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S
    stop_event: threading.Event = field(default_factory=threading.Event)

    def execute(self, step: Step, onset: float) -> TrainResult:
        """Deliver ``step``'s pulses at ``onset + offsets`` (LSL seconds)."""
        d = step.data
        offsets: tuple[float, ...] = tuple(d["offsets"])
        request = governor.StimRequest(
            n_pulses=len(offsets),
            intensity_pct_mso=float(d["intensity_pct_mso"]),
            intensity_pct_rmt=float(d["intensity_pct_rmt"]),
            frequency_hz=float(d.get("frequency_hz", 0.0)),
        )
        decision = governor.authorize(request, self.ledger, self.profile, self.budget)  # type: ignore[arg-type]
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
        if self.stop_event.is_set():
            return TrainResult(status="stopped", reason="session stopping")
        # The intent is on disk before the first trigger: after a crash, resume counts these
        # pulses as delivered unless an outcome says otherwise, so the budget is never exceeded.
        self.ledger = governor.Ledger(
            self.ledger.session + len(offsets), self.ledger.today + len(offsets)
        )
        self.log.append(
            "train_intent",
            self.clock.now(),
            durable=True,
            step=step.index,
            train=d["train"],
            phase=d["phase"],
            n_pulses=len(offsets),
            planned_onset=onset,
            intensity_pct_mso=request.intensity_pct_mso,
            intensity_pct_rmt=request.intensity_pct_rmt,
            frequency_hz=request.frequency_hz,
            timing="host",
            device=self.stimulator.kind,
        )
        result = TrainResult()
        for i, off in enumerate(offsets):
            if self.stop_event.is_set():
                result.status, result.reason = "stopped", "emergency stop or abort"
                break
            planned = onset + off
            self.clock.sleep_until(planned)
            if self.stop_event.is_set():  # stopped while waiting for this pulse
                result.status, result.reason = "stopped", "emergency stop or abort"
                break
            now = self.clock.now()
            if now - planned > self.late_tolerance_s:
                result.missed += 1
                self.log.append(
                    "pulse_missed",
                    now,
                    step=step.index,
                    train=d["train"],
                    i=i,
                    planned=planned,
                    late_s=now - planned,
                )
                continue
            try:
                t_out = self.stimulator.trigger() if self.clock.realtime else self._sim_trigger()
            except DeviceError as e:
                if self.stop_event.is_set():  # disarmed by an e-stop while we waited: no fault
                    result.status, result.reason = "stopped", "emergency stop or abort"
                else:
                    result.status, result.reason = "fault", str(e)
                break
            result.delivered += 1
            self.log.append(
                "pulse",
                t_out,
                step=step.index,
                train=d["train"],
                i=i,
                planned=planned,
                intensity_pct_mso=request.intensity_pct_mso,
            )
        # give back what certainly did not go out
        undelivered = len(offsets) - result.delivered
        self.ledger = governor.Ledger(
            self.ledger.session - undelivered, self.ledger.today - undelivered
        )
        self.log.append(
            "train_outcome",
            self.clock.now(),
            durable=True,
            step=step.index,
            train=d["train"],
            delivered=result.delivered,
            missed=result.missed,
            status=result.status,
            reason=result.reason,
        )
        return result

    def _sim_trigger(self) -> float:
        # On the simulated clock the trigger still goes to the (emulated) device, but the
        # pulse is stamped on the session clock so the record stays deterministic.
        self.stimulator.trigger()
        return self.clock.now()

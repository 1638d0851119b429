"""How one train's pulses go out: host-timed (one trigger per pulse) or device-timed.

:class:`TrainDelivery` holds the part of :class:`~mirrorvr.stim.executor.StimulationExecutor`
that runs a train once the governor has admitted it: waiting for each deadline (on the pulse
scheduler or the simulated clock), firing or skipping late pulses, releasing held trigger lines,
and turning device errors into a fault (or a stop, after an e-stop). :class:`TrainResult` is
what happened to one stimulation step.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.timeline import Step
from mirrorvr.stim import governor
from mirrorvr.stim.base import Stimulator, TrainSpec
from mirrorvr.stim.pairs import triggers
from mirrorvr.stim.safety.pulse_stream import PairedDevice
from mirrorvr.stim.scheduler import PulseScheduler, monotonic

#: the largest head start a trigger write gets to compensate its own cost
MAX_LEAD_S = 0.0005


@dataclass
class TrainResult:
    """What happened to one stimulation step."""

    delivered: int = 0
    missed: int = 0
    status: str = "completed"  # completed | refused | skipped | stopped | fault
    reason: str = ""
    timing: str = "host"


class TrainDelivery:
    """The delivery half of :class:`~mirrorvr.stim.executor.StimulationExecutor` (a mixin:
    the executor sets these attributes in its ``__init__``)."""

    stimulator: Stimulator
    log: EventLog
    clock: Clock
    late_tolerance_s: float
    scheduler: PulseScheduler | None
    estopped: str | None
    #: the device-timed pair the stimulator confirmed by read-back (``None``: none)
    paired: PairedDevice | None
    _sim_stop: threading.Event
    _costs: collections.deque[float]

    @property
    def stopping(self) -> bool:
        """Whether a pause, abort or emergency stop is in force."""
        if self.scheduler is not None:
            return self.scheduler.cancelled
        return self._sim_stop.is_set()

    def _wait(self, deadline: float, *, spin: bool = True) -> bool:
        """Wait until ``deadline``; False if stopped meanwhile (``spin=False``: no busy wait)."""
        if self.scheduler is not None:
            return self.scheduler.wait_until(deadline, spin=spin)
        if self._sim_stop.is_set():
            return False
        self.clock.sleep_until(deadline)
        return not self._sim_stop.is_set()

    def _now(self) -> float:
        return monotonic() if self.clock.realtime else self.clock.now()

    def _host_train(
        self,
        step: Step,
        onset: float,
        offsets: tuple[float, ...],
        request: governor.StimRequest,
    ) -> TrainResult:
        try:
            return self._host_pulses(step, onset, offsets, request)
        finally:
            # never leave a trigger line held, whatever happened (a vanished port has no line
            # left to hold, and its error was already reported by the pulse that met it)
            with contextlib.suppress(DeviceError):
                self.stimulator.release()

    def _host_pulses(
        self,
        step: Step,
        onset: float,
        offsets: tuple[float, ...],
        request: governor.StimRequest,
    ) -> TrainResult:
        result = TrainResult()
        wire = self.stimulator.trigger_wire_s
        hold = self.stimulator.hold_s
        realtime = self.clock.realtime
        # a device-timed pair (admitted only with a confirmed pair): one trigger, two pulses
        pair = self.paired if step.data.get("paired") else None
        if step.data.get("paired") and pair is None:
            # never two host-timed triggers for a pair (the governor refuses it before this)
            result.status = "refused"
            result.reason = "paired pulses need a stimulator that confirmed device-timed pairs"
            return result
        for i, off, two in triggers(offsets, pair is not None):
            planned = onset + off
            # real time: start the write early by the smallest recent write cost, so that the
            # trigger leaves at (not after) its deadline; never by more than MAX_LEAD_S
            lead = self._lead() if realtime else 0.0
            if not self._wait(planned - lead - wire):
                result.status, result.reason = "stopped", self._stop_reason()
                break
            now = self._now()
            if now - planned > self.late_tolerance_s:
                for k in range(2 if two else 1):  # a pair's trigger carries both its pulses
                    result.missed += 1
                    self.log.append(
                        "pulse_missed",
                        now,
                        step=step.index,
                        train=step.data["train"],
                        i=i + k,
                        planned=onset + offsets[i + k],
                        late_s=now - planned,
                    )
                continue
            try:
                t_write = self.stimulator.trigger()
            except DeviceError as e:
                self._device_error(result, e)
                break
            if realtime:
                self._costs.append(t_write - now)
            # real time: the trigger left when the write completed plus its bytes' line time;
            # simulated clock: stamped on the session clock so the record stays deterministic
            t_out = t_write + wire if realtime else self.clock.now()
            result.delivered += 1
            unit_a: dict[str, Any] = {"unit": "A"} if two else {}
            self.log.append(
                "pulse",
                t_out,
                step=step.index,
                train=step.data["train"],
                i=i,
                planned=planned,
                intensity_pct_mso=request.intensity_pct_mso,
                **unit_a,
            )
            if two and pair is not None:
                # the device gives power B after the interval it confirmed by read-back
                result.delivered += 1
                self.log.append(
                    "pulse",
                    t_out + pair.interval_ms / 1000.0,
                    step=step.index,
                    train=step.data["train"],
                    i=i + 1,
                    planned=onset + offsets[i + 1],
                    intensity_pct_mso=float(
                        step.data.get("intensity_b_pct_mso", request.intensity_pct_mso)
                    ),
                    unit="B",
                    interval_ms=pair.interval_ms,
                    expected=True,
                )
            if hold > 0:
                # the pulse width ends by a deadline after the stamp went out (an e-stop
                # meanwhile releases at once: its disarm drops the line anyway)
                self._wait(t_write + hold if realtime else t_out + hold, spin=False)
                try:
                    self.stimulator.release()
                except DeviceError as e:
                    self._device_error(result, e)
                    break
        return result

    def _device_train(
        self,
        step: Step,
        onset: float,
        offsets: tuple[float, ...],
        request: governor.StimRequest,
    ) -> TrainResult:
        result = TrainResult()
        if not self._wait(onset):
            result.status, result.reason = "stopped", self._stop_reason()
            return result
        spec = TrainSpec(len(offsets), request.frequency_hz, request.intensity_pct_mso)
        try:
            t_start = self.stimulator.start_train(spec) + self.stimulator.trigger_wire_s
        except DeviceError as e:
            self._device_error(result, e)
            return result
        if not self.clock.realtime:
            t_start = self.clock.now()
        # the device times the pulses itself: log them at the times it will fire them, and
        # count every one as delivered (an e-stop mid-train may cut it short: never fewer)
        for i, off in enumerate(offsets):
            self.log.append(
                "pulse",
                t_start + off,
                step=step.index,
                train=step.data["train"],
                i=i,
                planned=onset + off,
                intensity_pct_mso=request.intensity_pct_mso,
                expected=True,
            )
        result.delivered = len(offsets)
        if not self._wait(onset + offsets[-1]):
            result.status, result.reason = "stopped", self._stop_reason()
        return result

    def _device_error(self, result: TrainResult, e: DeviceError) -> None:
        """End ``result`` on a device error: a fault, unless an e-stop disarmed the device."""
        if self.stopping:  # disarmed by an e-stop while we waited: no fault
            result.status, result.reason = "stopped", self._stop_reason()
        else:
            result.status, result.reason = "fault", str(e)

    def _lead(self) -> float:
        return min(min(self._costs, default=0.0), MAX_LEAD_S) if self._costs else 0.0

    def _stop_reason(self) -> str:
        return f"emergency stop: {self.estopped}" if self.estopped else "paused or aborted"

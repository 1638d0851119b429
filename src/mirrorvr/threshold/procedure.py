"""Running a threshold estimator against a stimulator and an EMG source, pulse by pulse.

For each pulse the procedure asks the estimator for an intensity, asks the safety governor,
logs a durable intent, sets the intensity (or asks the operator to set it on the panel, for
stimulators behind a trigger box), fires one pulse, measures the MEP from the EMG source and
feeds the estimator. Trials rejected by the MEP measure (baseline activity, artefact, gap) are
not fed: the next pulse repeats the intensity. Single pulses are spaced ``isi_s`` apart (4–6 s
by default, uniformly jittered so the patient cannot anticipate them). The stimulator is armed
for the procedure and always left disarmed.

Events (see docs/event-log.md): ``threshold_start``, per pulse ``threshold_intent`` (durable,
before the trigger), ``threshold_pulse`` (emission time) and ``mep``; ``threshold_result``
(durable) at the end; ``stim_refused`` if the governor says no.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mirrorvr.analysis.mep import MepResult, MepSettings, measure_mep
from mirrorvr.config.plan import MotorThreshold, SafetyProfile
from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.stim import governor
from mirrorvr.stim.base import Stimulator
from mirrorvr.threshold.estimate import ThresholdEstimate, ThresholdEstimator

#: the shortest inter-pulse interval the procedure accepts (s); clinical default is 4–6 s
MIN_ISI_S = 0.25


class EmgSource(Protocol):
    """Where MEPs come from: a live EMG inlet, or the simulated body on the fast path."""

    def pulse_delivered(self, t: float, intensity_pct_mso: float) -> None:
        """Told after each pulse (a live inlet ignores it; the simulated body answers it)."""
        ...

    def epoch(self, t: float, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """EMG (µV) and timestamps covering ``t + start_s`` … ``t + end_s`` (waits for them)."""
        ...


IntensityOperator = Callable[[float], None]
"""Asked to set the stimulator's panel to a % MSO when the driver cannot (trigger boxes)."""


@dataclass
class ThresholdOutcome:
    """What a procedure run produced."""

    estimate: ThresholdEstimate
    pulses: int
    rejected: int
    meps: list[MepResult]
    status: str  # completed | refused | stopped | fault | pulse limit
    reason: str = ""

    def motor_threshold(
        self, measured_on: dt.date, resolution_pct: float = 1.0
    ) -> MotorThreshold | None:
        """The result as the plan's ``MotorThreshold`` (rounded to the stimulator's step)."""
        mt = self.estimate.mt_pct_mso
        if mt is None or self.status != "completed":
            return None
        rounded = max(resolution_pct, round(mt / resolution_pct) * resolution_pct)
        return MotorThreshold(
            rmt_pct_mso=round(min(100.0, rounded), 2),
            measured_on=measured_on,
            method=self.estimate.method,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the run (what ``threshold.json`` holds)."""
        return {
            **self.estimate.to_dict(),
            "pulses": self.pulses,
            "rejected": self.rejected,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass
class ThresholdProcedure:
    """Fires single pulses for an estimator, through the governor, into the event log."""

    stimulator: Stimulator
    emg: EmgSource
    log: EventLog
    clock: Clock
    profile: SafetyProfile
    #: pulses this procedure may use in all (rejected trials included)
    max_pulses: int = 100
    ledger: governor.Ledger = field(default_factory=governor.Ledger)
    mep: MepSettings = field(default_factory=MepSettings)
    isi_s: tuple[float, float] = (4.0, 6.0)
    seed: int = 0
    site: str | None = None
    operator: IntensityOperator | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        lo, hi = self.isi_s
        if not MIN_ISI_S <= lo <= hi:
            raise ValueError(f"inter-pulse interval {self.isi_s} s: need {MIN_ISI_S} <= min <= max")
        self._rng = random.Random(self.seed)
        self.state = governor.RuntimeState(self.ledger)
        self._limits = governor.effective_limits(self.profile)

    def _request(self, x: float, t: float) -> governor.StimRequest:
        # During hunting the threshold is what is unknown: the % MSO cap is the limit that
        # applies, so % RMT is reported as 0 (single pulses, far below 1 Hz).
        return governor.StimRequest(1, x, 0.0, 0.0, pattern="single", first_pulse=t, last_pulse=t)

    def run(self, estimator: ThresholdEstimator) -> ThresholdOutcome:
        """Hunt the threshold; always leaves the stimulator disarmed."""
        log, clock = self.log, self.clock
        meps: list[MepResult] = []
        pulses = rejected = 0
        status, reason = "completed", ""
        log.append(
            "threshold_start",
            clock.now(),
            durable=True,
            method=estimator.method,
            site=self.site,
            device=self.stimulator.kind,
            isi_s=list(self.isi_s),
            max_pulses=self.max_pulses,
            window_ms=list(self.mep.window_ms),
            criterion_uv=self.mep.criterion_uv,
            max_baseline_rms_uv=self.mep.max_baseline_rms_uv,
        )
        try:
            self.stimulator.arm()
            next_t = clock.now() + 1.0
            while True:
                x = estimator.next_intensity()
                if x is None:
                    break
                if self.stop_event.is_set():
                    status, reason = "stopped", "stopped by operator or emergency stop"
                    break
                if pulses >= self.max_pulses:
                    status, reason = "pulse limit", f"used all {self.max_pulses} pulses"
                    break
                budget = self.state.ledger.session + (self.max_pulses - pulses)
                req = self._request(x, next_t)
                d = governor.authorize(req, self.state, self._limits, budget)
                if not d.allowed:
                    log.append(
                        "stim_refused",
                        clock.now(),
                        durable=True,
                        reason=d.reason,
                        phase="threshold",
                        intensity_pct_mso=x,
                    )
                    status, reason = "refused", d.reason
                    break
                self.stimulator.set_intensity(x)
                if self.operator is not None and not self.stimulator.capabilities.sets_intensity:
                    self.operator(x)
                clock.sleep_until(next_t)
                if self.stop_event.is_set():
                    status, reason = "stopped", "stopped by operator or emergency stop"
                    break
                self.state = governor.reserve(self.state, req)
                self.ledger = self.state.ledger
                log.append(
                    "threshold_intent",
                    clock.now(),
                    durable=True,
                    i=pulses,
                    intensity_pct_mso=x,
                    site=self.site,
                )
                t = self.stimulator.trigger() if clock.realtime else self._sim_trigger()
                pulses += 1
                log.append(
                    "threshold_pulse",
                    t,
                    i=pulses - 1,
                    intensity_pct_mso=x,
                    planned=next_t,
                    site=self.site,
                )
                self.emg.pulse_delivered(t, x)
                r = self._measure(t)
                meps.append(r)
                log.append(
                    "mep",
                    clock.now(),
                    i=pulses - 1,
                    intensity_pct_mso=x,
                    site=self.site,
                    window_ms=list(self.mep.window_ms),
                    **r.to_dict(),
                )
                if r.accepted:
                    estimator.record(x, r.positive)
                else:
                    rejected += 1
                next_t = t + self._rng.uniform(*self.isi_s)
        except DeviceError as e:
            status, reason = "fault", str(e)
        finally:
            self.stimulator.disarm()
        outcome = ThresholdOutcome(estimator.result(), pulses, rejected, meps, status, reason)
        log.append(
            "threshold_result", clock.now(), durable=True, site=self.site, **outcome.to_dict()
        )
        return outcome

    def _measure(self, t: float) -> MepResult:
        s = self.mep
        pad = 0.005
        x, ts = self.emg.epoch(t, s.baseline_ms[0] / 1000 - pad, s.window_ms[1] / 1000 + pad)
        return measure_mep(x, ts, t, s)

    def _sim_trigger(self) -> float:
        # as the executor: the trigger reaches the (emulated) device, stamped on the session clock
        self.stimulator.trigger()
        return self.clock.now()

"""Stimulation assembly: the one place a stimulator, its emulator, the pulse scheduler and the
stimulation executor are built.

Every way a session starts goes through here: :func:`~mirrorvr.run.session.run_session` (plain,
resumed, patient, headset and console sessions), the TMS node (:mod:`mirrorvr.run.tms_node`)
and, for the stimulator alone, the stand-alone threshold hunt (:mod:`mirrorvr.run.threshold`).

Two seams other work plugs into:

* :class:`DailyBudget` says how many pulses the patient already had today; the executor's
  ledger and the runner's checks count them (the clinic store fills it in).
* :func:`connect_stimulator` is where a driver is made and connected — in real time inside a
  stimulation process of its own (:mod:`mirrorvr.stim.process`), behind the same
  :class:`~mirrorvr.stim.base.Stimulator` face, whose trains a
  :class:`~mirrorvr.stim.process.ProcessExecutor` hands over.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from mirrorvr.config.plan import SessionPlan, StimulatorDevice
from mirrorvr.session.clock import Clock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.timeline import Timeline, compile_timeline
from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim import governor
from mirrorvr.stim.base import Stimulator
from mirrorvr.stim.executor import DEFAULT_LATE_TOLERANCE_S, StimulationExecutor
from mirrorvr.stim.factory import make_stimulator
from mirrorvr.stim.guard import GuardLimits
from mirrorvr.stim.priority import LAST_CPU
from mirrorvr.stim.process import (
    ProcessExecutor,
    RemoteStimulator,
    StimulationProcess,
    guard_limits,
)
from mirrorvr.stim.scheduler import DEFAULT_RT_PRIORITY, PulseScheduler
from mirrorvr.streams.layout import StreamSpec, pulses_spec
from mirrorvr.streams.lslconfig import configured


@dataclass(frozen=True)
class DailyBudget:
    """What the clinic store says about today's pulses for this patient."""

    #: pulses delivered today in earlier sessions (the daily limit counts them)
    pulses_today: int = 0


@dataclass(frozen=True)
class StimulatorRequest:
    """Which stimulator, where, and how its emulator (if any) runs."""

    device: StimulatorDevice
    #: ``None``: emulate ``device`` on a pty linked from the folder; otherwise its port
    port: str | None = None
    #: real time: the emulator keeps the device's timing; simulated clock: instant arming
    realtime: bool = False
    #: extra emulator options (e.g. the simulated body's EMG outlet)
    emulator_args: Sequence[str] = ()
    #: run the driver in a stimulation process of its own with this guard (``None``: here)
    guard: GuardLimits | None = None
    realtime_priority: int | None = DEFAULT_RT_PRIORITY
    late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S
    #: the stimulation process holds every CPU's idle wake-up latency at most this (µs; PM QoS,
    #: :func:`mirrorvr.stim.priority.hold_cpu_latency`) while it lives; ``None``: no request
    cpu_latency_us: int | None = 0
    #: the one CPU the stimulation process runs on (:func:`mirrorvr.stim.priority.pin_cpu`;
    #: default: the highest-numbered allowed one; ``None``: any)
    stim_cpu: int | None = LAST_CPU
    #: the stimulation process publishes each pulse on its own LSL outlet (``None``: it does not)
    pulse_stream: PulseStream | None = None


@dataclass(frozen=True)
class PulseStream:
    """The stimulation process's pulse stream: ``mirrorvr-<prefix>pulses`` of ``session``."""

    #: the session key of every source id (:func:`mirrorvr.streams.session_io.session_key`)
    session: str
    #: e.g. ``tms-`` for a TMS node, like its other streams
    prefix: str = ""

    def spec(self, device: str) -> StreamSpec:
        """The stream's layout, the stimulator named in ``desc/device``."""
        return pulses_spec(device, self.prefix)

    def child_config(self, device: str) -> dict[str, Any]:
        """What the stimulation process needs to open the outlet (plain JSON data)."""
        spec = self.spec(device)
        return {
            "name": spec.name,
            "type": spec.type,
            "channel_format": spec.channel_format,
            "channel_count": spec.channel_count,
            "source_id": spec.source_id(self.session),
            "desc": spec.desc_tree(),
            # liblsl in the child must see the same session id, peers and ports as this process
            "lsl_config": configured(),
        }


@dataclass(frozen=True)
class ConnectedStimulator:
    """A connected stimulator (disarmed and closed when the session's ExitStack unwinds)."""

    stimulator: Stimulator
    device: StimulatorDevice
    port: str
    emulated: bool


@dataclass(frozen=True)
class Prepared:
    """What a step run before the executor exists (a threshold hunt) hands on."""

    plan: SessionPlan
    pulses: int = 0
    last_pulse_t: float | None = None


@dataclass(frozen=True)
class StimulationSetup:
    """The assembled stimulation of one session or node."""

    stimulator: Stimulator
    executor: StimulationExecutor
    scheduler: PulseScheduler | None
    port: str
    emulated: bool
    #: the plan and timeline that run (a threshold hunt may have set the intensities)
    plan: SessionPlan
    timeline: Timeline
    #: pulses already given today, this session's threshold hunt included
    pulses_today: int
    #: the LSL name of the stimulation process's pulse stream, if it opened one
    pulse_stream: str | None = None


def run_on(plan: SessionPlan, kind: str | None) -> SessionPlan:
    """``plan`` as it will run on a stimulator of ``kind`` (``--stimulator KIND:PORT``), for the
    governor's check: what a kind can do (e.g. device-timed pairs) is judged by the kind used."""
    if not kind or kind == plan.devices.stimulator.kind:
        return plan
    dev = plan.devices.stimulator.model_copy(update={"kind": kind})
    return plan.model_copy(update={"devices": plan.devices.model_copy(update={"stimulator": dev})})


def emulated_device(dev: StimulatorDevice) -> StimulatorDevice:
    """The device as emulated: an emulated Rapid² ≥ V9 gets the emulator's unlock code."""
    if dev.kind == "magstim-rapid" and dev.unlock_code is None:
        from mirrorvr.sim.magstim import DEFAULT_UNLOCK_CODE

        return dev.model_copy(update={"unlock_code": DEFAULT_UNLOCK_CODE})
    return dev


def emulator_args(dev: StimulatorDevice, realtime: bool) -> list[str]:
    """Emulator options for a session: on the simulated clock, arming/recharge are instant."""
    args = [] if dev.kind == "ttl-box" or realtime else ["--timing", "fast", "--no-line-delay"]
    if dev.kind == "magstim-rapid" and dev.unlock_code:
        args += ["--unlock-code", dev.unlock_code]
    return args


def connect_stimulator(
    req: StimulatorRequest,
    folder: SessionFolder,
    stack: ExitStack,
    *,
    log: EventLog | None = None,
    clock: Clock | None = None,
) -> ConnectedStimulator:
    """Start the emulator (when no port is given), make the driver and connect it.

    The driver is entered on ``stack``: leaving it disarms and closes, whatever happens.
    With ``log``, a durable ``device connected`` event is logged.
    """
    dev = req.device
    port = req.port
    if port is None:
        dev = emulated_device(dev)
        emu = EmulatorProcess(
            dev.kind,
            folder.stimulator_pty,
            folder.emulator_log(dev.kind),
            extra_args=emulator_args(dev, req.realtime) + list(req.emulator_args),
        )
        stack.enter_context(emu)
        port = str(folder.stimulator_pty)
    stimulator: Stimulator
    if req.guard is not None:
        process = StimulationProcess(
            dev,
            port,
            folder.path,
            req.guard,
            rt_priority=req.realtime_priority,
            late_tolerance_s=req.late_tolerance_s,
            cpu_latency_us=req.cpu_latency_us,
            cpu=req.stim_cpu,
            pulse_stream=(
                req.pulse_stream.child_config(dev.kind) if req.pulse_stream is not None else None
            ),
        )
        stimulator = RemoteStimulator(process.start())
        if log is not None:
            assert clock is not None
            _log_process(process, req.guard, log, clock)
    else:
        stimulator = make_stimulator(dev, port)
    stack.enter_context(stimulator)
    if log is not None:
        assert clock is not None
        log.append(
            "device",
            clock.now(),
            durable=True,
            what="connected",
            device=dev.kind,
            port=port,
            emulated=req.port is None,
        )
    if stimulator.capabilities.device_timed_pairs:
        # a BiStim² left with power B gives a pair on every trigger: single pulses until a
        # paired plan sets (and reads back) its own pair (a threshold hunt's pulses are single)
        stimulator.set_single_pulse()
        if log is not None:
            assert clock is not None
            log.append(
                "device", clock.now(), durable=True, what="single_pulse_set", device=dev.kind
            )
    return ConnectedStimulator(stimulator, dev, port, req.port is None)


def _log_process(
    process: StimulationProcess, guard: GuardLimits, log: EventLog, clock: Clock
) -> None:
    r = process.ready
    log.append(
        "stim_process",
        clock.now(),
        durable=True,
        pid=process.pid,
        realtime=r.get("realtime"),
        status=r.get("rt_status"),
        memory=r.get("memory"),
        cpu_latency=r.get("cpu_latency"),
        cpu=r.get("cpu"),
        late_tolerance_s=process.config["late_tolerance_s"],
        pulse_stream=r.get("pulse_stream"),
        **({"pulse_stream_error": r["pulse_stream_error"]} if r.get("pulse_stream_error") else {}),
        guard={
            "max_intensity_pct_mso": guard.max_intensity_pct_mso,
            "max_rate_hz": guard.max_rate_hz,
            "max_pulses": guard.max_pulses,
            "pair_interval_ms": guard.pair_interval_ms,
            "max_intensity_b_pct_mso": guard.max_intensity_b_pct_mso,
        },
    )


def set_plan_intensity(
    stimulator: Stimulator, plan: SessionPlan, log: EventLog, clock: Clock
) -> None:
    """Set the plan's intensity on a stimulator that can (the driver verifies by read-back)."""
    if not stimulator.capabilities.sets_intensity:
        return
    stimulator.set_intensity(plan.stimulation.intensity_pct_mso)
    log.append(
        "device",
        clock.now(),
        durable=True,
        what="intensity_set",
        device=stimulator.kind,
        intensity_pct_mso=plan.stimulation.intensity_pct_mso,
        device_pct_mso=stimulator.status().intensity_pct_mso,
    )


def assemble_stimulation(
    plan: SessionPlan,
    timeline: Timeline,
    folder: SessionFolder,
    clock: Clock,
    log: EventLog,
    stack: ExitStack,
    *,
    stimulator: StimulatorRequest,
    budget: DailyBudget,
    delivered: int = 0,
    last_stim_t: float | None = None,
    prepare: Callable[[Stimulator], Prepared] | None = None,
    scheduler: bool | None = None,
    process: bool | None = None,
    realtime_priority: int | None = DEFAULT_RT_PRIORITY,
    late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S,
    pulse_stream: PulseStream | None = None,
    cpu_latency_us: int | None = 0,
    stim_cpu: int | None = LAST_CPU,
) -> StimulationSetup:
    """Connect the stimulator and build the executor every pulse of a session goes through.

    ``delivered`` pulses already count for this session (a resumed session), and
    ``budget.pulses_today`` for the day. ``prepare`` runs on the connected stimulator before the
    plan's intensity is set and the executor is built (a threshold hunt at session start).
    ``process``: the stimulator and pulse timing in a stimulation process of their own
    (default: in real time, unless ``scheduler`` is ``False``). A caller that runs trains on a
    thread of its own (the TMS node) passes ``process=True`` and uses the executor's blocking
    :meth:`~mirrorvr.stim.process_executor.ProcessExecutor.execute`.
    ``scheduler``: deliver on the real-time pulse scheduler thread of this process (default: in
    real time, when there is no stimulation process).
    ``last_stim_t``: the last stimulation before this run (a resumed session's), so the gap rules
    count from it.
    ``pulse_stream``: the stimulation process publishes every pulse on LSL itself, right after
    its stamp (docs/streams.md, ``mirrorvr-pulses``); ignored without a stimulation process.
    ``cpu_latency_us``: the stimulation process's PM QoS CPU-latency request (``None``: none).
    ``stim_cpu``: the one CPU the stimulation process runs on (``None``: any).
    """
    use_process = process if process is not None else (clock.realtime and scheduler is not False)
    if use_process:
        est = plan.stimulation.threshold_estimate
        guard = guard_limits(
            plan,
            timeline,
            governor.session_budget(plan, timeline.total_pulses),
            delivered,
            late_tolerance_s,
            # a hunt at session start fires single pulses of its own
            extra_pulses=est.max_pulses if est is not None and prepare is not None else 0,
        )
        stimulator = replace(
            stimulator,
            guard=guard,
            realtime_priority=realtime_priority,
            late_tolerance_s=late_tolerance_s,
            pulse_stream=pulse_stream,
            cpu_latency_us=cpu_latency_us,
            stim_cpu=stim_cpu,
        )
    conn = connect_stimulator(stimulator, folder, stack, log=log, clock=clock)
    extra_pulses = 0
    if prepare is not None:
        ready = prepare(conn.stimulator)
        if ready.plan is not plan:
            plan = ready.plan
            timeline = compile_timeline(plan)  # same steps, intensities from the new threshold
        extra_pulses = ready.pulses
        if ready.last_pulse_t is not None:
            last_stim_t = ready.last_pulse_t
    # after any threshold hunt, which varies the output itself
    set_plan_intensity(conn.stimulator, plan, log, clock)
    sched = None
    if isinstance(conn.stimulator, RemoteStimulator):
        # the train intensity (and a pair's power B) the guard allows is the plan's as it runs
        # (after any hunt)
        conn.stimulator.process.set_guard_intensity(
            plan.stimulation.intensity_pct_mso, plan.stimulation.power_b_pct_mso
        )
    elif scheduler if scheduler is not None else clock.realtime:
        sched = stack.enter_context(PulseScheduler(realtime_priority=realtime_priority))
        log.append(
            "scheduler",
            clock.now(),
            durable=True,
            realtime=sched.realtime,
            status=sched.rt_status,
            spin_s=sched.spin_s,
            late_tolerance_s=late_tolerance_s,
        )
    today = budget.pulses_today + extra_pulses
    common: dict[str, Any] = dict(
        log=log,
        clock=clock,
        plan=plan,
        timeline=timeline,
        budget=governor.session_budget(plan, timeline.total_pulses),
        ledger=governor.Ledger(delivered, delivered + today),
        late_tolerance_s=late_tolerance_s,
        last_stim_t=last_stim_t,
    )
    executor: StimulationExecutor
    if isinstance(conn.stimulator, RemoteStimulator):
        executor = ProcessExecutor(process=conn.stimulator.process, **common)
    else:
        executor = StimulationExecutor(stimulator=conn.stimulator, scheduler=sched, **common)
    # a paired plan: interval and power B set and read back before anything is armed; the
    # governor judges the plan's pairs by what the device confirmed
    executor.set_pairs()
    opened = (
        conn.stimulator.process.ready.get("pulse_stream")
        if isinstance(conn.stimulator, RemoteStimulator)
        else None
    )
    return StimulationSetup(
        conn.stimulator, executor, sched, conn.port, conn.emulated, plan, timeline, today, opened
    )

"""Putting a session together: folder, clock, devices, presenter, runner.

What the session folder holds: :mod:`mirrorvr.session.folder`.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirrorvr import __version__
from mirrorvr.config.loader import plan_to_toml
from mirrorvr.config.plan import SessionPlan, StimulatorDevice
from mirrorvr.errors import MirrorVRError, SessionError
from mirrorvr.run.stimulation import (
    DailyBudget,
    Prepared,
    PulseStream,
    StimulationSetup,
    StimulatorRequest,
    assemble_stimulation,
)
from mirrorvr.session.clock import Clock, RealClock, SimClock
from mirrorvr.session.eventlog import EventLog, EventSink, read_events
from mirrorvr.session.events import Event
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.presenter import Answering, HeadlessPresenter, Presenter
from mirrorvr.session.resume import resume_point
from mirrorvr.session.runner import RunResult, SessionRunner
from mirrorvr.session.summary import summarize
from mirrorvr.session.timeline import Timeline, compile_timeline
from mirrorvr.sim.emg import BodyModel, SimulatedEmg
from mirrorvr.sim.patient import SimulatedPatient
from mirrorvr.stim import governor
from mirrorvr.stim.base import Stimulator
from mirrorvr.stim.executor import (
    DEFAULT_LATE_TOLERANCE_S,
    last_stimulation_time,
)
from mirrorvr.stim.priority import LAST_CPU
from mirrorvr.stim.process_executor import ProcessExecutor
from mirrorvr.stim.scheduler import DEFAULT_RT_PRIORITY
from mirrorvr.threshold.procedure import EmgSource

if TYPE_CHECKING:
    from mirrorvr.streams.outlets import SessionOutlets


@dataclass
class LaunchOptions:
    """How to run a session."""

    out: Path
    realtime: bool = False
    #: ``None``: emulate the plan's stimulator on a pty; otherwise a real (or external) port
    stimulator_port: str | None = None
    stimulator_kind: str | None = None
    simulated: bool = True
    session_date: dt.date | None = None
    sinks: list[EventSink] = field(default_factory=list)
    #: called with the runner before it starts (console, keyboard, tests hook pause/estop here)
    on_runner: Callable[[SessionRunner], None] | None = None
    #: someone can resume a pause (console, keys, a controlling program); ``None``: whoever set
    #: ``on_runner``. Without one, a pause the display cannot lift ends the session, disarmed
    operator: bool | None = None
    presenter_factory: Callable[[Clock, Answering | None], Presenter] | None = None
    #: EMG for a motor-threshold estimate at session start (``None``: the simulated patient's
    #: body on the simulated clock; an LSL inlet named in the plan in real time)
    emg: EmgSource | None = None
    #: the simulated patient's corticospinal response (true motor threshold etc.)
    body: BodyModel | None = None
    #: write session.xdf (real time: publish on LSL and record; simulated clock: from the log)
    xdf: bool = True
    #: publish the session's LSL outlets; ``None``: only in real time (sim time is not LSL time)
    lsl: bool | None = None
    #: XPath predicates of other LSL streams to record with the session (e.g. "type='EMG'")
    record_also: list[str] = field(default_factory=list)
    #: multi-machine: start only once this node (e.g. "tms") follows our markers
    wait_for_node: str | None = None
    wait_node_s: float = 60.0
    #: pulses this patient already had today in earlier sessions (the daily limit counts them;
    #: the clinic store fills this in from its session history)
    pulses_today: int = 0
    #: real time: a pulse later than this after its deadline is not fired (logged as missed)
    late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S
    #: real time: SCHED_FIFO priority of the pulse scheduler thread (``None``: normal priority)
    realtime_priority: int | None = DEFAULT_RT_PRIORITY
    #: real time: the stimulator, its keep-alive and the pulse timing live in a stimulation
    #: process of their own (docs/stimulators.md); ``False``: a thread of this process
    stim_process: bool = True
    #: real time: the stimulation process asks that idle CPUs wake within this many µs while
    #: it lives (PM QoS, ``/dev/cpu_dma_latency``; ``None``: no request) — docs/performance.md
    cpu_latency_us: int | None = 0
    #: real time: the one CPU the stimulation process runs on (default: the highest-numbered
    #: allowed one; ``None``: any) — docs/performance.md
    stim_cpu: int | None = LAST_CPU


def with_seed(plan: SessionPlan, seed: int | None) -> SessionPlan:
    """The plan with its session seed replaced (``None`` keeps it)."""
    if seed is None:
        return plan
    return plan.model_copy(update={"session": plan.session.model_copy(update={"seed": seed})})


def default_session_date(plan: SessionPlan, simulated: bool) -> dt.date:
    """Today for real sessions; in simulation, the day the plan's motor threshold was measured.

    A simulated session re-enacts the plan's session day, so bundled presets stay runnable
    without editing their threshold date; real sessions always use today's date.
    """
    mt = plan.stimulation.motor_threshold
    if simulated and mt is not None:
        return mt.measured_on
    if simulated and plan.stimulation.threshold_estimate is not None and plan.screening:
        return plan.screening.completed_on  # threshold measured in-session: the screening's day
    return dt.date.today()


def _stimulator_device(plan: SessionPlan, opts: LaunchOptions) -> StimulatorDevice | None:
    dev = plan.devices.stimulator
    if opts.stimulator_kind:
        dev = dev.model_copy(update={"kind": opts.stimulator_kind})
    if dev.kind == "none" or plan.stimulation.mode == "none":
        return None
    return dev


def run_session(
    plan: SessionPlan, opts: LaunchOptions, *, resume_from: list[Event] | None = None
) -> tuple[RunResult, dict[str, Any]]:
    """Run ``plan`` into ``opts.out`` (a new session, or the rest of one when resuming)."""
    timeline = compile_timeline(plan)
    opts.out.mkdir(parents=True, exist_ok=True)
    folder = SessionFolder(opts.out)
    session_date = opts.session_date or default_session_date(plan, opts.simulated)
    if resume_from is None:
        _start_folder(folder, plan, opts, timeline, session_date)
        start_index, delivered = 0, 0
    else:
        start_index, delivered = resume_point(resume_from, timeline)
    clock: Clock = (
        RealClock()
        if opts.realtime
        else SimClock((resume_from[-1].t + 1.0) if resume_from else 0.0)
    )
    # only simulation has a stand-in patient; in a real session the display's input answers
    patient = (
        SimulatedPatient(seed=plan.session.seed + (len(resume_from) if resume_from else 0))
        if opts.simulated
        else None
    )
    publish = opts.realtime if opts.lsl is None else opts.lsl
    if publish:  # before the display process starts: it inherits the configuration
        from mirrorvr.streams.session_io import apply_plan_lsl

        apply_plan_lsl(plan, log_file=folder.lsl_log)
    presenter = (opts.presenter_factory or HeadlessPresenter)(clock, patient)
    pme = None
    if any(b.kind == "phantom_motor_execution" for b in plan.blocks):
        from mirrorvr.run.pme import pme_feeds
        from mirrorvr.session.pme import PmeEngine, PmePresenter

        pme = PmeEngine(plan, clock, pme_feeds(plan, opts.realtime, opts.simulated), folder=folder)
        presenter = PmePresenter(presenter, pme)

    dev = _stimulator_device(plan, opts)
    ended = threading.Event()  # the runner has finished (set before the display closes)
    with ExitStack() as stack:
        # durable events are fsynced against power loss whenever a device could be real; a
        # simulated-clock run against an emulator only needs them to survive a killed process
        # (one os.write each does), and 54 fsyncs were a third of its wall time on a busy disk
        simulated_only = not opts.realtime and opts.stimulator_port is None
        log = stack.enter_context(EventLog(folder.events, fsync_durable=not simulated_only))
        if pme is not None:
            pme.attach(log)
        for sink in opts.sinks:
            log.add_sink(sink)
        outlets = None
        if publish:
            outlets = _publish(stack, log, clock, presenter, plan, opts, dev, ended)
        _log_start(
            log, clock, plan, opts, timeline, session_date, resume_from, start_index, delivered
        )
        executor = None
        pulses_today = opts.pulses_today
        if dev is not None and timeline.total_pulses:
            try:
                setup = _assemble(
                    stack, log, clock, plan, timeline, folder, opts, dev, session_date,
                    resume_from, delivered, publish,
                )  # fmt: skip
            except MirrorVRError as e:
                if resume_from is None:  # a failed resume stays resumable once the cause is fixed
                    _end_before_start(log, clock, folder, e, timeline)
                raise
            plan, timeline, executor = setup.plan, setup.timeline, setup.executor
            pulses_today = setup.pulses_today
            if outlets is not None:
                _record_pulse_stream(outlets, setup, log, clock, stack)
        runner = SessionRunner(
            plan=plan,
            timeline=timeline,
            clock=clock,
            log=log,
            presenter=presenter,
            executor=executor,
            session_date=session_date,
            start_index=start_index,
            pulses_delivered=delivered,
            pulses_today=pulses_today,
            operator_present=opts.operator
            if opts.operator is not None
            else opts.on_runner is not None,
        )
        if pme is not None:
            pme.on_lost = runner.pause  # a lost EMG stream pauses the session
        attach_control = getattr(presenter, "attach_control", None)
        if attach_control is not None:  # the display's keys and lost tracking reach the runner
            attach_control(runner)
        if opts.on_runner is not None:
            opts.on_runner(runner)
        try:
            result = runner.run()
        finally:
            ended.set()
            presenter.close()
    if opts.xdf and not publish:
        from mirrorvr.streams.session_io import write_fast_xdf

        write_fast_xdf(opts.out, device=dev.kind if dev else "", session_date=session_date)
    events = read_events(folder.events).events
    summary = summarize(events, timeline.total_pulses)
    folder.write_summary(summary)
    return result, summary


def _end_before_start(
    log: EventLog,
    clock: Clock,
    folder: SessionFolder,
    error: MirrorVRError,
    timeline: Timeline,
) -> None:
    """A new session could not start (its stimulator failed or refused during setup): end the log
    with what is known, so the folder reads as ended, not as a crash to resume. It claims no
    disarm: the stimulator was never armed for the session, and its own close disarms it."""
    events = read_events(folder.events).events
    if not (events and events[-1].kind == "session_end"):  # the threshold hunt may have ended it
        log.append(
            "session_end",
            clock.now(),
            durable=True,
            state="aborted",
            reason=f"could not start: {error}",
            pulses_delivered=0,
            last_step=-1,
        )
        events = read_events(folder.events).events
    folder.write_summary(summarize(events, timeline.total_pulses))


def _start_folder(
    folder: SessionFolder,
    plan: SessionPlan,
    opts: LaunchOptions,
    timeline: Timeline,
    session_date: dt.date,
) -> None:
    """A new session's plan.toml and session.json (refused if a session is already there)."""
    if folder.has_log():
        raise SessionError(
            f"{folder.path} already holds a session; choose another --out or "
            f"`mirrorvr resume {folder.path}`"
        )
    folder.write_plan(plan_to_toml(plan))
    folder.write_meta(
        {
            "mirrorvr_version": __version__,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "session_date": session_date.isoformat(),
            "plan_name": plan.session.name,
            "seed": plan.session.seed,
            "realtime": opts.realtime,
            "simulated": opts.simulated,
            "stimulator_kind": opts.stimulator_kind,
            "stimulator_port": opts.stimulator_port,
            "planned_pulses": timeline.total_pulses,
            "planned_duration_s": timeline.duration,
        },
    )


def _record_pulse_stream(
    outlets: SessionOutlets, setup: StimulationSetup, log: EventLog, clock: Clock, stack: ExitStack
) -> None:
    """The stimulation process's pulse stream opened after the recorder started: wait until
    the recorder follows it before any pulse, and at the end until it has every pulse pushed."""
    from mirrorvr.streams.session_io import CONNECT_TIMEOUT_S, DRAIN_TIMEOUT_S, wait_recorded

    name = setup.pulse_stream
    recorder = outlets.recorder
    if name is None or recorder is None or not isinstance(setup.executor, ProcessExecutor):
        return
    if not recorder.wait_for([name], CONNECT_TIMEOUT_S):
        log.append(
            "stream", clock.now(), what="recorder_not_connected", stream=name,
            timeout_s=CONNECT_TIMEOUT_S,
        )  # fmt: skip
    executor = setup.executor
    # unwound before the stimulation process closes (its outlet goes with it)
    stack.callback(
        lambda: wait_recorded(recorder, name, lambda: executor.published, DRAIN_TIMEOUT_S)
    )


def _publish(
    stack: ExitStack,
    log: EventLog,
    clock: Clock,
    presenter: Presenter,
    plan: SessionPlan,
    opts: LaunchOptions,
    dev: StimulatorDevice | None,
    ended: threading.Event,
) -> SessionOutlets:
    """Publish the session on LSL (and record it) as an event sink of ``log``."""
    from mirrorvr.streams.session_io import session_key, session_streams

    # a real-time display publishes each frame's poses and timing from its own process
    publish_frames = getattr(presenter, "publish_frames", None)
    try:
        frame_streams = publish_frames(session_key(opts.out)) if publish_frames else []
    except Exception:
        presenter.close()  # the display process must not outlive a session not started
        raise

    def stream_event(what: str, d: dict[str, Any]) -> None:
        # offsets are not events; once the session has ended, the display's outlets close
        # with it (expected, not logged after session_end)
        if what != "offset" and not (what == "lost" and ended.is_set()):
            log.append("stream", clock.now(), **{**d, "what": what})

    outlets = stack.enter_context(
        session_streams(
            opts.out,
            device=dev.kind if dev else "",
            record=opts.xdf,
            record_also=opts.record_also + _emg_record(plan, opts),
            plan=plan,
            wait_for_node=opts.wait_for_node,
            wait_node_s=opts.wait_node_s,
            expect=frame_streams,
            log=stream_event,
        )
    )
    log.add_sink(outlets)
    return outlets


def _log_start(
    log: EventLog,
    clock: Clock,
    plan: SessionPlan,
    opts: LaunchOptions,
    timeline: Timeline,
    session_date: dt.date,
    resume_from: list[Event] | None,
    start_index: int,
    delivered: int,
) -> None:
    """The first event of this run: ``session_start``, or ``resume`` with what is left."""
    if resume_from is None:
        log.append(
            "session_start",
            clock.now(),
            durable=True,
            plan=plan.session.name,
            seed=plan.session.seed,
            clock="lsl" if opts.realtime else "simulated",
            session_date=session_date.isoformat(),
            patient=plan.patient.id,
            planned_pulses=timeline.total_pulses,
            planned_duration_s=timeline.duration,
        )
        return
    budget = governor.session_budget(plan, timeline.total_pulses)
    log.append(
        "resume",
        clock.now(),
        durable=True,
        start_step=start_index,
        pulses_counted=delivered,
        remaining_budget=budget - delivered,
    )


def _assemble(
    stack: ExitStack,
    log: EventLog,
    clock: Clock,
    plan: SessionPlan,
    timeline: Timeline,
    folder: SessionFolder,
    opts: LaunchOptions,
    dev: StimulatorDevice,
    session_date: dt.date,
    resume_from: list[Event] | None,
    delivered: int,
    publish: bool,
) -> StimulationSetup:
    """The session's stimulation, through :func:`~mirrorvr.run.stimulation.assemble_stimulation`
    (with a threshold hunt first when the plan asks for one and this is not a resume)."""

    from mirrorvr.streams.session_io import session_key

    def hunt(stimulator: Stimulator) -> Prepared:
        """A threshold hunt at session start (its pulses count for the day)."""
        new_plan, pulses, last = _estimate_threshold(
            plan, opts, stimulator, log, clock, session_date, timeline.total_pulses
        )
        return Prepared(new_plan, pulses, last)

    return assemble_stimulation(
        plan,
        timeline,
        folder,
        clock,
        log,
        stack,
        stimulator=StimulatorRequest(
            dev, opts.stimulator_port, opts.realtime, _body_args(plan, opts)
        ),
        budget=DailyBudget(opts.pulses_today),
        delivered=delivered,
        last_stim_t=last_stimulation_time(resume_from) if resume_from else None,
        prepare=(
            hunt
            if plan.stimulation.threshold_estimate is not None and resume_from is None
            else None
        ),
        realtime_priority=opts.realtime_priority,
        process=None if opts.stim_process else False,
        late_tolerance_s=opts.late_tolerance_s,
        # real time: the stimulation process pushes each pulse to LSL itself (no pipe hop)
        pulse_stream=PulseStream(session_key(opts.out)) if publish else None,
        cpu_latency_us=opts.cpu_latency_us,
        stim_cpu=opts.stim_cpu,
    )


def _emg_stream_name(plan: SessionPlan, opts: LaunchOptions) -> str:
    cfg = plan.stimulation.threshold_estimate
    assert cfg is not None
    if opts.simulated and opts.stimulator_port is None:
        return f"{cfg.emg_stream}-sim-{os.getpid()}"  # unique: other sessions may run
    return cfg.emg_stream


def _emg_record(plan: SessionPlan, opts: LaunchOptions) -> list[str]:
    """Record the threshold hunt's EMG stream with the session (MEPs per pulse offline)."""
    if not (opts.realtime and plan.stimulation.threshold_estimate and opts.emg is None):
        return []
    return [f"name='{_emg_stream_name(plan, opts)}'"]


def _body_args(plan: SessionPlan, opts: LaunchOptions) -> list[str]:
    """Emulator options that make it host the simulated patient's EMG (real-time estimates)."""
    if not (opts.realtime and opts.simulated and plan.stimulation.threshold_estimate):
        return []
    body = opts.body or BodyModel()
    return [
        "--emg",
        _emg_stream_name(plan, opts),
        "--true-mt",
        f"{body.true_threshold_pct_mso:g}",
        "--panel",
        str(SessionFolder(opts.out).panel),
        "--seed",
        str(plan.session.seed),
    ]


def _estimate_threshold(
    plan: SessionPlan,
    opts: LaunchOptions,
    stimulator: Any,
    log: EventLog,
    clock: Clock,
    session_date: dt.date,
    planned_pulses: int,
) -> tuple[SessionPlan, int, float | None]:
    """Measure the motor threshold before the session; a failure ends the session aborted."""
    from mirrorvr.threshold.session import estimate_session_threshold

    cfg = plan.stimulation.threshold_estimate
    assert cfg is not None
    emg = opts.emg
    operator = None
    live = None
    if emg is None:
        if opts.realtime:
            from mirrorvr.sim.emg_stream import LslEmgSource, panel_operator

            if _body_args(plan, opts):  # the emulator publishes the simulated patient's EMG
                operator = panel_operator(SessionFolder(opts.out).panel)
            live = LslEmgSource(_emg_stream_name(plan, opts))
            live.wait_connected(60)  # the emulator's outlet may take a while on a busy machine
            emg = live
        else:
            emg = SimulatedEmg(opts.body, seed=plan.session.seed, t0=clock.now())
    try:
        # no hunting pulse for a plan the governor would then refuse: everything that does not
        # depend on the measured threshold is checked now, and % MSO at the highest threshold
        problems = governor.check_plan(
            plan, compile_timeline(plan), today=session_date, pulses_today=opts.pulses_today
        )
        if problems:
            raise SessionError(
                "refused before the threshold hunt: " + "; ".join(str(p) for p in problems)
            )
        new_plan, outcome = estimate_session_threshold(
            plan,
            stimulator=stimulator,
            emg=emg,
            log=log,
            clock=clock,
            session_date=session_date,
            out=opts.out,
            operator=operator,
            pulses_today=opts.pulses_today,
        )
    except SessionError as e:
        log.append(
            "session_end",
            clock.now(),
            durable=True,
            state="aborted",
            reason=str(e),
            pulses_delivered=0,
            last_step=-1,
        )
        folder = SessionFolder(opts.out)
        folder.write_summary(summarize(read_events(folder.events).events, planned_pulses))
        raise
    finally:
        if live is not None:
            live.close()
    # the plan that runs is the one with the measured threshold (resume reads it back)
    SessionFolder(opts.out).write_plan(plan_to_toml(new_plan))
    last = outcome.meps[-1].pulse_t if outcome.meps else None
    return new_plan, outcome.pulses, last

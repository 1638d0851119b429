"""The TMS node of a multi-machine session: its folder, stimulator and executor around
:class:`~mirrorvr.streams.tms_node.TmsNode` (which follows the VR node's markers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import plan_to_toml
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import PlanError, Problem, SessionError
from mirrorvr.run.session import default_session_date
from mirrorvr.run.stimulation import (
    DailyBudget,
    PulseStream,
    StimulatorRequest,
    assemble_stimulation,
    run_on,
)
from mirrorvr.session.clock import RealClock
from mirrorvr.session.eventlog import EventLog
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim import governor
from mirrorvr.streams.outlets import SessionOutlets
from mirrorvr.streams.session_io import apply_plan_lsl, session_key
from mirrorvr.streams.tms_node import TmsNode, markers_predicate


@dataclass
class NodeOptions:
    """How to run a TMS node."""

    out: Path
    #: ``None``: emulate the plan's stimulator on a pty; otherwise the stimulator's port
    stimulator_port: str | None = None
    stimulator_kind: str | None = None
    #: follow only this VR session's markers (its session key); ``None``: any mirrorvr-markers
    vr_session: str | None = None
    #: give up if the VR node's markers are not found within this many seconds
    connect_timeout_s: float = 120.0
    #: stop after this many seconds even without a session_end marker (``None``: never)
    timeout_s: float | None = None
    session_date: dt.date | None = None
    #: publish the node's own events as mirrorvr-tms-markers / -tms-stim / -tms-state
    publish: bool = True
    #: pulses this patient already had today (the daily limit counts them; from the store)
    pulses_today: int = 0
    #: called once the VR node's markers are followed (tests, console)
    on_ready: Callable[[], None] | None = None
    #: the stimulator in a stimulation process of its own (docs/stimulators.md); ``False``:
    #: driven from the node's worker thread in this process (the old path, for comparison)
    stim_process: bool = True


@dataclass
class NodeResult:
    """How a TMS node run ended."""

    reason: str
    pulses_delivered: int
    trains: int
    markers: int
    offsets: list[float] = field(default_factory=list)


def run_tms_node(plan: SessionPlan, opts: NodeOptions) -> NodeResult:
    """Run the TMS node of ``plan`` into the node folder ``opts.out`` until the session ends."""
    timeline = compile_timeline(plan)
    out = opts.out
    folder = SessionFolder(out)
    if folder.has_log():
        raise SessionError(f"{out} already holds a node log; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    simulated = opts.stimulator_port is None
    session_date = opts.session_date or default_session_date(plan, simulated)
    problems = governor.check_plan(
        run_on(plan, opts.stimulator_kind),  # judged on the stimulator the node will drive
        timeline,
        today=session_date,
        pulses_today=opts.pulses_today,
    )
    if problems:
        raise PlanError(problems)
    folder.write_plan(plan_to_toml(plan))
    dev = plan.devices.stimulator
    if opts.stimulator_kind:
        dev = dev.model_copy(update={"kind": opts.stimulator_kind})
    pred = markers_predicate(opts.vr_session)
    folder.write_meta(
        {
            "node": "tms",
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "session_date": session_date.isoformat(),
            "plan_name": plan.session.name,
            "follows": pred,
            "stimulator_kind": dev.kind,
            "stimulator_port": opts.stimulator_port,
            "planned_pulses": timeline.total_pulses,
        },
    )
    apply_plan_lsl(plan, log_file=folder.lsl_log)  # unless the CLI configured liblsl already
    clock = RealClock()
    with ExitStack() as stack:
        log = stack.enter_context(EventLog(folder.events))
        if opts.publish:
            outlets = SessionOutlets(session_key(out), device=dev.kind, prefix="tms-")
            stack.callback(outlets.close)
            log.add_sink(outlets)
        log.append(
            "session_start", clock.now(), durable=True, plan=plan.session.name,
            seed=plan.session.seed, clock="lsl", session_date=session_date.isoformat(),
            patient=plan.patient.id, planned_pulses=timeline.total_pulses,
            planned_duration_s=timeline.duration, node="tms", follows=pred,
        )  # fmt: skip
        executor = None
        if dev.kind != "none" and timeline.total_pulses:
            setup = assemble_stimulation(
                plan,
                timeline,
                folder,
                clock,
                log,
                stack,
                stimulator=StimulatorRequest(dev, opts.stimulator_port, realtime=True),
                budget=DailyBudget(opts.pulses_today),
                # the stimulator, its pulse timing and its guard in a stimulation process of
                # their own, as in every real-time session; the node's worker thread hands each
                # train over and waits for its outcome
                process=opts.stim_process,
                scheduler=False,
                pulse_stream=PulseStream(session_key(out), "tms-") if opts.publish else None,
            )
            executor, stimulator = setup.executor, setup.stimulator
            stimulator.arm()
            log.append("device", clock.now(), durable=True, what="armed", device=dev.kind)
        node = TmsNode(plan, timeline, log, executor, pred)
        reason = "interrupted"
        try:
            reason = node.run(
                connect_timeout_s=opts.connect_timeout_s,
                timeout_s=opts.timeout_s,
                on_ready=opts.on_ready,
            )
        finally:
            delivered = executor.delivered if executor else 0
            log.append(
                "session_end", clock.now(), durable=True,
                state="completed" if reason.startswith("VR session ended") else "aborted",
                reason=reason, pulses_delivered=delivered, last_step=None,
            )  # fmt: skip
    return NodeResult(reason, delivered, node.trains, node.markers, node.offsets)


def run_tms_node_for_patient(
    store: ClinicStore, patient_id: str, plan: SessionPlan, opts: NodeOptions
) -> NodeResult:
    """The TMS node for a patient in the clinic store, through the same daily reservation as
    every other session start: the day's pulses so far feed the governor, the node's planned
    pulses are reserved before its first pulse (refused, saying how many remain, if they do not
    fit), and the reservation settles from the node's log when it ends."""
    from mirrorvr.run.patient import open_store_session

    if plan.patient.id != patient_id:
        raise PlanError(
            [Problem("patient.id", f"the plan is for {plan.patient.id}, not for {patient_id}")]
        )
    opts.pulses_today = store.pulses_today(patient_id)
    sid = open_store_session(store, patient_id, plan, opts.out, actor="tms-node", node="tms")
    try:
        return run_tms_node(plan, opts)
    finally:
        store.import_session_log(sid)

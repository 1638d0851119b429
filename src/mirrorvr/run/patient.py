"""A session for a patient in the clinic store: their threshold, screening and today's pulses
fitted onto the plan, the session recorded in the store from its event log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirrorvr.clinic.store import ClinicStore, ReservationRefused
from mirrorvr.config.loader import load_plan, plan_to_toml, resolve_plan_path
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError, PlanError, Problem
from mirrorvr.run.display import Launcher, assemble_display
from mirrorvr.run.session import LaunchOptions, run_session, with_seed
from mirrorvr.run.start import (
    StartRequest,
    simulated_body,
    stimulator_option,
    with_threshold_estimate,
)
from mirrorvr.run.stimulation import run_on
from mirrorvr.session.eventlog import EventSink
from mirrorvr.session.folder import new_session_folder
from mirrorvr.session.runner import RunResult
from mirrorvr.session.timeline import Timeline, compile_timeline
from mirrorvr.stim.safety.counts import hunt_pulses
from mirrorvr.stim.safety.limits import effective_limits


def open_store_session(
    store: ClinicStore,
    patient_id: str,
    session_plan: SessionPlan,
    folder: Path,
    *,
    actor: str,
    **audit: Any,
) -> int:
    """Create the session's row in the store and reserve its pulses for the patient's day.

    One write transaction checks the day's count (delivered + sessions holding reservations,
    in any process) and reserves this session's planned pulses (threshold hunt included) before
    its first pulse, so two sessions started together cannot exceed the daily limit; the one
    that does not fit is refused (:class:`~mirrorvr.clinic.store.ReservationRefused`, saying
    how many pulses remain today). The reservation settles when the session's log is imported
    after it ends; a crashed session keeps it until ``mirrorvr resume`` finishes it.
    """
    planned = compile_timeline(session_plan).total_pulses
    reserved = planned + hunt_pulses(session_plan)
    try:
        sid = store.reserve_session(
            patient_id,
            plan_name=session_plan.session.name,
            plan_toml=plan_to_toml(session_plan),
            folder=folder,
            pulses_planned=planned,
            pulses_reserved=reserved,
            daily_limit=effective_limits(session_plan.safety).profile.max_pulses_per_day,
        )
    except ReservationRefused as e:
        store.audit(actor, "start_refused", patient_id, reason=str(e), **audit)
        raise
    store.audit(
        actor, "session_start", patient_id, session_id=sid, pulses_reserved=reserved, **audit
    )
    return sid


@dataclass
class PatientRun:
    """How a patient's session ended, and its record in the store."""

    result: RunResult
    summary: dict[str, Any]
    folder: Path
    record: Any


def run_patient_session(
    store: ClinicStore,
    patient: str,
    req: StartRequest,
    note: Callable[[str], None] | None = None,
    *,
    progress: Callable[
        [SessionPlan, Timeline, bool, list[EventSink]], AbstractContextManager[object]
    ]
    | None = None,
) -> PatientRun:
    """Run a plan for a patient in the store, and record the session there from its log.

    ``progress(plan, timeline, realtime, sinks)`` may wrap the run in a display that adds its
    event sink to ``sinks``.
    """
    from mirrorvr.clinic.readiness import fit_and_check

    path = resolve_plan_path(req.plan)
    kind, port = stimulator_option(req.stimulator)
    try:
        base = with_threshold_estimate(with_seed(load_plan(path), req.seed), req.estimate_mt)
        # checked on the stimulator it will run on (--stimulator KIND:PORT), e.g. for pairs
        plan, inputs = fit_and_check(run_on(base, kind), store, patient)
    except PlanError as e:
        raise PlanError([Problem(f"{path}:{p.where}", p.message) for p in e.problems]) from None
    timeline = compile_timeline(plan)
    display = assemble_display(plan, req.display, req.simulated, note)  # display errors first
    if not req.simulated and port is None and plan.devices.stimulator.port:
        port = plan.devices.stimulator.port
    body = simulated_body(req.true_mt)
    folder = req.out if req.out is not None else new_session_folder(patient)
    sid = open_store_session(store, patient, plan, folder, actor="cli", plan=plan.session.name)
    opts = LaunchOptions(
        out=folder,
        realtime=req.realtime,
        stimulator_port=port,
        stimulator_kind=kind,
        simulated=req.simulated,
        session_date=dt.date.today(),
        pulses_today=inputs.pulses_today,
        body=body,
    )
    opts.presenter_factory = display.presenter_factory
    if req.realtime and note is not None:
        note(f"running in real time: {timeline.duration / 60:.1f} min")
    shown = progress(plan, timeline, req.realtime, opts.sinks) if progress else nullcontext()
    result, summary, rec = run_recorded_session(
        store, sid, patient, plan, opts, actor="cli", launch=display.launch, around=shown
    )
    return PatientRun(result, summary, folder, rec)


def run_recorded_session(
    store: ClinicStore,
    session_id: int,
    patient_id: str,
    plan: SessionPlan,
    opts: LaunchOptions,
    *,
    actor: str,
    launch: Launcher = run_session,
    around: AbstractContextManager[object] | None = None,
) -> tuple[RunResult, dict[str, Any], Any]:
    """Run a session that has its row in the store (:func:`open_store_session`); the CLI's
    ``--patient`` sessions and the console's both come here.

    The row is marked running; a motor threshold measured at the session's start is recorded
    for the patient; the session's log is imported however the run ends, and the session becomes
    the next visit of the patient's active course. If the run fails and importing its log fails
    too, the import's error is added to the run's (it never hides it).
    """
    from mirrorvr.clinic.course_store import CourseStore

    def record() -> Any:
        rec = store.import_session_log(session_id)
        CourseStore(store).attach_session(session_id, actor=actor)  # the next visit of a course
        return rec

    store.set_session_status(session_id, "running")
    try:
        with around if around is not None else nullcontext():
            result, summary = launch(plan, opts)
        measured = summary.get("motor_threshold") or {}
        if measured.get("rmt_pct_mso") is not None:  # measured at the start of this session
            store.record_threshold(
                patient_id, measured["rmt_pct_mso"], measured["method"], date=dt.date.today()
            )
    except BaseException as run_error:
        try:
            record()
        except MirrorVRError as e:
            run_error.add_note(f"recording the session in the store failed too: {e}")
        raise
    return result, summary, record()

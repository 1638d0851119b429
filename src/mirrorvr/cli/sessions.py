"""``mirrorvr validate | sim | run | resume | presets``: checking plans and running sessions."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mirrorvr.cli.common import (
    DisplayOpt,
    EstimateOpt,
    FramesOpt,
    Out,
    PatientOpt,
    PlanArg,
    Seed,
    SizeOpt,
    StimOpt,
    TrueMtOpt,
    err,
    out,
    parse_date,
    print_summary,
    store,
)

# the session machinery (pydantic plans, numpy, drivers) is imported by the commands that run
# one, not by `mirrorvr --help` or commands that never start a session
if TYPE_CHECKING:
    from mirrorvr.config.plan import SessionPlan
    from mirrorvr.run.start import StartRequest
    from mirrorvr.session.eventlog import EventSink
    from mirrorvr.session.timeline import Timeline


def validate(
    plan: PlanArg = None,
    today: Annotated[
        str | None,
        typer.Option(
            help="Check the motor threshold's age as of this date (YYYY-MM-DD); "
            "default: the threshold's own date, i.e. the plan's session day."
        ),
    ] = None,
) -> None:
    """Check a plan: exit 0 if it can run, or exit 2 listing every problem as file:field: message."""
    from mirrorvr.run.start import checked_plan

    day = parse_date(today, "--today") if today else None
    p, timeline, path = checked_plan(plan, day)
    out.print(
        f"[green]OK[/green] {path}: {len(p.blocks)} blocks, {len(timeline.steps)} steps, "
        f"{timeline.total_pulses} pulses, {timeline.duration / 60:.1f} min"
    )
    if timeline.total_pulses:
        stim = p.stimulation
        reaction = (
            f"pause, disarmed (waits up to {stim.device_fault_wait_s:g} s for the stimulator, "
            "then an operator's resume)"
            if stim.on_device_fault == "pause"
            else "emergency stop"
        )
        out.print(f"on a device fault: {reaction} (stimulation.on_device_fault)")


def _note(msg: str) -> None:
    err.print(msg, highlight=False)


def _run(req: StartRequest, patient: str | None = None) -> None:
    if patient is not None:  # the clinic store supplies patient, threshold, daily pulses
        from mirrorvr.run.patient import run_patient_session

        with store(None) as s:
            pr = run_patient_session(s, patient, req, _note, progress=_progress)
        result, summary, folder = pr.result, pr.summary, pr.folder
    else:
        from mirrorvr.run.start import prepare_session

        prepared = prepare_session(req, _note)
        if req.realtime:
            _note(f"running in real time: {prepared.timeline.duration / 60:.1f} min")
        with _progress(prepared.plan, prepared.timeline, req.realtime, prepared.opts.sinks):
            result, summary = prepared.launch()
        folder = prepared.folder
    print_summary(summary, folder)
    out.print(f"session folder: {folder}")
    if patient is not None:
        out.print(f"recorded as session {pr.record.id} of patient {patient} ({pr.record.status})")
    if result.state != "completed":
        raise typer.Exit(1)


def _progress(
    plan: SessionPlan, timeline: Timeline, realtime: bool, sinks: list[EventSink]
) -> AbstractContextManager[object]:
    """The terminal's progress bar over a session (nothing when stderr is not a terminal)."""
    from mirrorvr.cli.progress import maybe_progress

    return maybe_progress(
        err,
        planned_s=timeline.duration,
        blocks=len(plan.blocks),
        realtime=realtime,
        sinks=sinks,
    )


def sim(
    plan: PlanArg = None,
    outdir: Out = None,
    fast: Annotated[
        bool, typer.Option("--fast/--realtime", help="Simulated clock (seconds) or real time.")
    ] = True,
    seed: Seed = None,
    stimulator: StimOpt = None,
    date: Annotated[str | None, typer.Option(help="Simulated session date (YYYY-MM-DD).")] = None,
    display: DisplayOpt = None,
    frames: FramesOpt = None,
    size: SizeOpt = "1280x720",
    patient: PatientOpt = None,
    estimate_mt: EstimateOpt = None,
    true_mt: TrueMtOpt = None,
) -> None:
    """Run a whole simulated session (emulated stimulator, simulated patient)."""
    from mirrorvr.run.display import DisplayChoice
    from mirrorvr.run.start import StartRequest

    req = StartRequest(
        plan,
        outdir,
        realtime=not fast,
        seed=seed,
        stimulator=stimulator,
        simulated=True,
        display=DisplayChoice(display, frames, size),
        estimate_mt=estimate_mt,
        true_mt=true_mt,
    )
    if patient is None:
        req.session_date = parse_date(date, "--date") if date else None
    _run(req, patient)


def run(
    plan: Annotated[str, typer.Argument(help="Plan TOML file.")],
    outdir: Out = None,
    seed: Seed = None,
    stimulator: StimOpt = None,
    display: DisplayOpt = None,
    frames: FramesOpt = None,
    size: SizeOpt = "1280x720",
    patient: PatientOpt = None,
) -> None:
    """Run a session in real time with real devices (the plan's ports or --stimulator)."""
    from mirrorvr.run.display import DisplayChoice
    from mirrorvr.run.start import StartRequest

    req = StartRequest(
        plan,
        outdir,
        realtime=True,
        seed=seed,
        stimulator=stimulator,
        simulated=False,
        display=DisplayChoice(display, frames, size),
    )
    _run(req, patient)


def resume(
    session: Annotated[Path, typer.Argument(help="Session folder of a crashed session.")],
) -> None:
    """Continue a crashed session without ever exceeding its pulse budget."""
    from mirrorvr.run.resume import resume_session

    result, summary = resume_session(session)
    print_summary(summary, session)
    if result.state != "completed":
        raise typer.Exit(1)


def presets() -> None:
    """List the bundled plan presets: name, what it is, its dose."""
    from mirrorvr.clinic.protocols import library

    presets = library()
    width = max(len(str(p["name"])) for p in presets)
    for p in presets:
        pulses = int(p["pulses"]) if isinstance(p["pulses"], int) else 0
        stim = f"{pulses} pulses ({p['mode']})" if pulses else "no stimulation"
        minutes = p["duration_min"]
        duration = f", {minutes:.1f} min" if isinstance(minutes, int | float) else ""
        line = f"{p['name']!s:<{width}}  {p['title']}: {stim}{duration}"
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    out.print("run one with `mirrorvr sim NAME`; `mirrorvr validate NAME` checks it")


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    for fn in (validate, sim, run, resume, presets):
        app.command()(fn)

"""``mirrorvr validate | sim | run | resume | presets``: checking plans and running sessions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

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
    from mirrorvr.run.start import StartRequest
    from mirrorvr.session.events import Event


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


def _progress_sink(progress: Progress, task: Any, t0: list[float], total: float) -> Any:
    def sink(e: Event) -> None:
        if e.kind == "session_start" or (e.kind == "resume"):
            t0[0] = e.t
        if t0:
            progress.update(task, completed=min(total, e.t - t0[0]), description=f"{e.kind:<20}")

    return sink


def _note(msg: str) -> None:
    err.print(msg)


def _run(req: StartRequest, patient: str | None = None) -> None:
    if patient is not None:  # the clinic store supplies patient, threshold, daily pulses
        from mirrorvr.run.patient import run_patient_session

        with store(None) as s:
            pr = run_patient_session(s, patient, req, _note)
        print_summary(pr.summary, pr.folder)
        out.print(f"session folder: {pr.folder}")
        out.print(f"recorded as session {pr.record.id} of patient {patient} ({pr.record.status})")
        if pr.result.state != "completed":
            raise typer.Exit(1)
        return
    from mirrorvr.run.start import prepare_session

    prepared = prepare_session(req, _note)
    duration = prepared.timeline.duration
    if req.realtime and sys.stderr.isatty():
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("starting", total=duration)
            prepared.opts.sinks.append(_progress_sink(progress, task, [], duration))
            result, summary = prepared.launch()
    else:
        if req.realtime:
            err.print(f"running in real time: {duration / 60:.1f} min")
        result, summary = prepared.launch()
    print_summary(summary, prepared.folder)
    out.print(f"session folder: {prepared.folder}")
    if result.state != "completed":
        raise typer.Exit(1)


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
    from mirrorvr.run.start import DisplayChoice, StartRequest

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
    from mirrorvr.run.start import DisplayChoice, StartRequest

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
    """List the bundled plan presets."""
    from mirrorvr.config.loader import list_presets

    for name in list_presets():
        out.print(name)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    for fn in (validate, sim, run, resume, presets):
        app.command()(fn)

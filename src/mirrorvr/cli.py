"""The one command line: ``mirrorvr validate|sim|run|resume|emulate|devices``.

Every user-facing error is a :class:`~mirrorvr.errors.MirrorVRError`, printed as a short
message naming file, field or port, with exit code 2 and no traceback.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mirrorvr.config.loader import list_presets, load_plan, resolve_plan_path
from mirrorvr.errors import MirrorVRError, PlanError, Problem
from mirrorvr.session.events import Event
from mirrorvr.session.launch import LaunchOptions, resume_session, run_session, with_seed
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim import governor

app = typer.Typer(
    name="mirrorvr",
    help="VR mirror therapy + TMS sessions for phantom limb pain, on one clock.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

PlanArg = Annotated[
    str | None,
    typer.Argument(
        help="Plan TOML file or bundled preset name (default: the bundled default plan)."
    ),
]


def _validate(plan_arg: str | None, today: dt.date | None = None) -> Any:
    """Load, compile and governor-check a plan; raise PlanError with every problem."""
    path = resolve_plan_path(plan_arg)
    plan = load_plan(path)
    try:
        timeline = compile_timeline(plan)
    except PlanError as e:
        raise PlanError([Problem(f"{path}:{p.where}", p.message) for p in e.problems]) from None
    day = today or (
        plan.stimulation.motor_threshold.measured_on
        if plan.stimulation.motor_threshold
        else dt.date.today()
    )
    problems = governor.check_plan(plan, timeline.total_pulses, today=day)
    if problems:
        raise PlanError([Problem(f"{path}:{p.where}", p.message) for p in problems])
    return plan, timeline, path


@app.command()
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
    day = _parse_date(today, "--today") if today else None
    p, timeline, path = _validate(plan, day)
    out.print(
        f"[green]OK[/green] {path}: {len(p.blocks)} blocks, {len(timeline.steps)} steps, "
        f"{timeline.total_pulses} pulses, {timeline.duration / 60:.1f} min"
    )


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise MirrorVRError(f"{option}: '{value}' is not a date (YYYY-MM-DD)") from None


def _progress_sink(progress: Progress, task: Any, t0: list[float], total: float) -> Any:
    def sink(e: Event) -> None:
        if e.kind == "session_start" or (e.kind == "resume"):
            t0[0] = e.t
        if t0:
            progress.update(task, completed=min(total, e.t - t0[0]), description=f"{e.kind:<20}")

    return sink


def _print_summary(summary: dict[str, Any], folder: Path) -> None:
    table = Table(title=f"Session {folder}", show_header=False)
    for key in (
        "state",
        "reason",
        "duration_s",
        "pulses_planned",
        "pulses_delivered",
        "pulses_missed",
        "trains_refused",
        "estops",
        "cues",
        "ratings",
        "pain_change",
        "laterality",
    ):
        v = summary.get(key)
        if key == "duration_s" and isinstance(v, int | float):
            v = f"{v / 60:.1f} min"
        if key == "reason" and not v:
            continue
        table.add_row(key, str(v))
    out.print(table)


def _run(
    plan_arg: str | None,
    outdir: Path | None,
    realtime: bool,
    seed: int | None,
    stimulator: str | None,
    simulated: bool,
    date: str | None,
    display: DisplayChoice | None = None,
) -> None:
    from mirrorvr.stim.factory import parse_stimulator_option

    plan, timeline, _ = _validate(plan_arg)
    plan = with_seed(plan, seed)
    kind = port = None
    if stimulator:
        kind, port = parse_stimulator_option(stimulator)
    if not simulated and port is None and plan.devices.stimulator.port:
        port = plan.devices.stimulator.port
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = outdir or Path("sessions") / f"{plan.patient.id}-{stamp}"
    opts = LaunchOptions(
        out=folder,
        realtime=realtime,
        stimulator_port=port,
        stimulator_kind=kind,
        simulated=simulated,
        session_date=_parse_date(date, "--date") if date else None,
    )
    opts.presenter_factory = _presenter_factory(plan, display, simulated)
    if realtime and sys.stderr.isatty():
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(),
            console=err,
        ) as progress:
            task = progress.add_task("starting", total=timeline.duration)
            opts.sinks.append(_progress_sink(progress, task, [], timeline.duration))
            result, summary = _launcher(_display_kind(plan, display), simulated)(plan, opts)
    else:
        if realtime:
            err.print(f"running in real time: {timeline.duration / 60:.1f} min")
        result, summary = _launcher(_display_kind(plan, display), simulated)(plan, opts)
    _print_summary(summary, folder)
    out.print(f"session folder: {folder}")
    if result.state != "completed":
        raise typer.Exit(1)


Out = Annotated[Path | None, typer.Option("--out", help="Session folder to create.")]
Seed = Annotated[int | None, typer.Option(help="Override the plan's randomisation seed.")]
StimOpt = Annotated[
    str | None,
    typer.Option(help="KIND:PORT of a real stimulator (default: emulated on a pseudo-terminal)."),
]


@app.command()
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
) -> None:
    """Run a whole simulated session (emulated stimulator, simulated patient)."""
    _run(
        plan,
        outdir,
        not fast,
        seed,
        stimulator,
        simulated=True,
        date=date,
        display=DisplayChoice(display, frames, size),
    )


@app.command()
def run(
    plan: Annotated[str, typer.Argument(help="Plan TOML file.")],
    outdir: Out = None,
    seed: Seed = None,
    stimulator: StimOpt = None,
    display: DisplayOpt = None,
    frames: FramesOpt = None,
    size: SizeOpt = "1280x720",
) -> None:
    """Run a session in real time with real devices (the plan's ports or --stimulator)."""
    _run(
        plan,
        outdir,
        True,
        seed,
        stimulator,
        simulated=False,
        date=None,
        display=DisplayChoice(display, frames, size),
    )


@app.command()
def resume(
    session: Annotated[Path, typer.Argument(help="Session folder of a crashed session.")],
) -> None:
    """Continue a crashed session without ever exceeding its pulse budget."""
    result, summary = resume_session(session)
    _print_summary(summary, session)
    if result.state != "completed":
        raise typer.Exit(1)


@app.command()
def emulate(
    kind: Annotated[str, typer.Argument(help="Device to emulate, e.g. ttl-box.")],
    link: Annotated[Path, typer.Option(help="Symlink to create pointing at the new pty.")],
    log: Annotated[
        Path | None, typer.Option(help="JSON Lines log of every received frame.")
    ] = None,
) -> None:
    """Serve an emulated device on a new pseudo-terminal until interrupted."""
    from mirrorvr.sim.emulate import run_emulator

    run_emulator(kind, link, log)


@app.command()
def devices() -> None:
    """List the serial ports this computer has."""
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    if not ports:
        out.print("no serial ports found")
        return
    table = Table("port", "description", "hardware id")
    for p in ports:
        table.add_row(p.device, p.description, p.hwid)
    out.print(table)


@app.command()
def presets() -> None:
    """List the bundled plan presets."""
    for name in list_presets():
        out.print(name)


# ---- displays (the mirror scene: issue 6) -------------------------------------------------------

DisplayOpt = Annotated[
    str | None,
    typer.Option(
        "--display",
        help="none | offscreen | window | openxr (default: the plan's devices.display).",
    ),
]
FramesOpt = Annotated[
    Path | None,
    typer.Option("--frames", help="Write PNG frames (and frames.jsonl) of the display here."),
]
SizeOpt = Annotated[str, typer.Option("--size", help="Display size WIDTHxHEIGHT.")]


class DisplayChoice:
    """The --display/--frames/--size options together."""

    def __init__(self, kind: str | None, frames: Path | None, size: str) -> None:
        self.kind = kind
        self.frames = frames
        self.size = size


def _presenter_factory(plan: Any, choice: DisplayChoice | None, simulated: bool) -> Any:
    """``LaunchOptions.presenter_factory`` for the chosen display (``None``: headless)."""
    kind = (choice.kind if choice else None) or plan.devices.display
    if choice is not None and choice.frames is not None and kind == "none":
        raise MirrorVRError("--frames needs a display: add --display offscreen (or window)")
    if kind == "none":
        return None
    from mirrorvr.render.backends import presenter_factory
    from mirrorvr.render.display import parse_size

    assert choice is not None
    return presenter_factory(
        kind,
        plan,
        size=parse_size(choice.size),
        frames_dir=choice.frames,
        simulated_input=simulated,
    )


# ---- OpenXR headset display (issue 7) ---------------------------------------------------------


def _display_kind(plan: Any, choice: DisplayChoice | None) -> str:
    """The display a session uses: ``--display``, else the plan's ``devices.display``."""
    return (choice.kind if choice else None) or str(plan.devices.display)


def _launcher(display: str, simulated: bool) -> Any:
    """How to launch a session: in the headset (``openxr``) or through ``run_session``."""
    if display != "openxr":
        return run_session

    def launch(plan: Any, opts: LaunchOptions) -> Any:
        return _launch_openxr(plan, opts, simulated)

    return launch


def _launch_openxr(plan: Any, opts: LaunchOptions, simulated: bool) -> Any:
    """Run the session in an OpenXR headset; in simulation, in mirrorvr's simulated headset
    (built on first use) unless XR_RUNTIME_JSON already names a runtime."""
    import os
    from contextlib import ExitStack

    from mirrorvr.render.openxr_presenter import run_headset_session
    from mirrorvr.sim.xvfb import Xvfb

    with ExitStack() as stack:
        if simulated and not os.environ.get("XR_RUNTIME_JSON"):
            from mirrorvr.sim.xr_runtime import build_runtime, simulated_headset_for_plan

            headset = simulated_headset_for_plan(plan, opts.out, build_runtime())
            os.environ.update(headset.env())
            err.print(f"simulated headset: {headset.manifest}")
        if not os.environ.get("DISPLAY"):
            if not simulated:
                raise MirrorVRError(
                    "the OpenXR display renders through GLX: run mirrorvr in your desktop "
                    "session (DISPLAY is not set)"
                )
            os.environ["DISPLAY"] = stack.enter_context(Xvfb()).display
        return run_headset_session(plan, opts)


def main() -> None:
    """Entry point: run the CLI, turning user errors into messages and exit code 2."""
    try:
        app(standalone_mode=False)
    except MirrorVRError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(2)
        raise

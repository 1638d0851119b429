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
            result, summary = run_session(plan, opts)
    else:
        if realtime:
            err.print(f"running in real time: {timeline.duration / 60:.1f} min")
        result, summary = run_session(plan, opts)
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
) -> None:
    """Run a whole simulated session (emulated stimulator, simulated patient)."""
    _run(plan, outdir, not fast, seed, stimulator, simulated=True, date=date)


@app.command()
def run(
    plan: Annotated[str, typer.Argument(help="Plan TOML file.")],
    outdir: Out = None,
    seed: Seed = None,
    stimulator: StimOpt = None,
) -> None:
    """Run a session in real time with real devices (the plan's ports or --stimulator)."""
    _run(plan, outdir, True, seed, stimulator, simulated=False, date=None)


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
    fault: Annotated[
        list[str] | None,
        typer.Option(help="Inject a fault: KIND[:PARAM][@N] (see docs/fault-matrix.md)."),
    ] = None,
    line_delay: Annotated[
        bool, typer.Option("--line-delay/--no-line-delay", help="Pace replies like the baud rate.")
    ] = True,
    timing: Annotated[
        str, typer.Option(help="real: arming/recharge/trains take real time; fast: instant.")
    ] = "real",
    firmware: Annotated[str | None, typer.Option(help="Rapid² firmware version, e.g. 9.0.")] = None,
    unlock_code: Annotated[str | None, typer.Option(help="Rapid² (≥ V9) unlock code.")] = None,
    idle_disarm: Annotated[float, typer.Option(help="Idle auto-disarm after S seconds.")] = 60.0,
) -> None:
    """Serve an emulated device on a new pseudo-terminal until interrupted."""
    from mirrorvr.sim.emulate import run_emulator

    run_emulator(
        kind,
        link,
        log,
        faults=fault or [],
        line_delay=line_delay,
        timing=timing,
        firmware=firmware,
        unlock_code=unlock_code,
        idle_disarm_s=idle_disarm,
    )


@app.command()
def devices(
    probe: Annotated[
        bool, typer.Option("--probe", help="Ask each port which stimulator answers.")
    ] = False,
    port: Annotated[
        list[str] | None, typer.Option(help="Probe this port (repeatable; default: all ports).")
    ] = None,
) -> None:
    """List the serial ports this computer has (and, with --probe, which stimulator answers)."""
    from serial.tools import list_ports

    ports = [(p.device, p.description, p.hwid) for p in list_ports.comports()]
    if port:
        known = {d: (d, desc, hw) for d, desc, hw in ports}
        ports = [known.get(p, (p, "", "")) for p in port]
    if not ports:
        out.print("no serial ports found")
        return
    if not probe:
        table = Table("port", "description", "hardware id")
        for dev, desc, hw in ports:
            table.add_row(dev, desc, hw)
        out.print(table)
        return
    _probe_ports(ports)


def _probe_ports(ports: list[tuple[str, str, str]]) -> None:
    from mirrorvr.stim.probe import probe

    err.print(
        "probing sends identification requests (nothing that arms or fires); unplug serial "
        "trigger boxes that are not recognised by their USB id first"
    )
    table = Table("port", "stimulator kind", "what answered")
    for dev, _, hw in ports:
        r = probe(dev, hw)
        table.add_row(r.port, r.kind or "—", r.detail)
    out.print(table)


@app.command()
def presets() -> None:
    """List the bundled plan presets."""
    for name in list_presets():
        out.print(name)


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

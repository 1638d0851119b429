"""The one command line: ``mirrorvr validate|sim|run|resume|emulate|devices``.

Every user-facing error is a :class:`~mirrorvr.errors.MirrorVRError`, printed as a short
message naming file, field or port, with exit code 2 and no traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mirrorvr.config.loader import list_presets, load_plan, resolve_plan_path
from mirrorvr.errors import MirrorVRError, PlanError, Problem
from mirrorvr.run.resume import resume_session
from mirrorvr.run.session import LaunchOptions, run_session, with_seed
from mirrorvr.session.events import Event
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
    problems = governor.check_plan(plan, timeline, today=day)
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
        "motor_threshold",
    ):
        v = summary.get(key)
        if key == "duration_s" and isinstance(v, int | float):
            v = f"{v / 60:.1f} min"
        if key == "reason" and not v:
            continue
        table.add_row(key, str(v))
    out.print(table)


def _session_folder(outdir: Path | None, name: str, parent: str = "sessions") -> Path:
    """``outdir`` as given, or a new ``<parent>/<name>-<timestamp>`` folder."""
    if outdir is not None:
        return outdir
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(parent) / (f"{name}-{stamp}" if name else stamp)


def _stimulator_option(value: str | None) -> tuple[str | None, str | None]:
    """(kind, port) from ``--stimulator KIND:PORT``, or (None, None) when not given."""
    from mirrorvr.stim.factory import parse_stimulator_option

    return parse_stimulator_option(value) if value else (None, None)


def _run(
    plan_arg: str | None,
    outdir: Path | None,
    realtime: bool,
    seed: int | None,
    stimulator: str | None,
    simulated: bool,
    date: str | None,
    display: DisplayChoice | None = None,
    patient: str | None = None,
    estimate_mt: str | None = None,
    true_mt: float | None = None,
) -> None:

    if patient is not None:  # the clinic store supplies patient, threshold, daily pulses
        return _run_for_patient(
            patient,
            plan_arg,
            outdir,
            realtime,
            seed,
            stimulator,
            simulated,
            display,
            estimate_mt=estimate_mt,
            true_mt=true_mt,
        )
    plan, timeline, _ = _validate(plan_arg)
    plan = _with_threshold_estimate(with_seed(plan, seed), estimate_mt)
    kind, port = _stimulator_option(stimulator)
    if not simulated and port is None and plan.devices.stimulator.port:
        port = plan.devices.stimulator.port
    folder = _session_folder(outdir, plan.patient.id)
    opts = LaunchOptions(
        out=folder,
        realtime=realtime,
        stimulator_port=port,
        stimulator_kind=kind,
        simulated=simulated,
        session_date=_parse_date(date, "--date") if date else None,
        body=_simulated_body(true_mt),
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
PatientOpt = Annotated[
    str | None,
    typer.Option(
        "--patient",
        help="Patient id in the clinic store: uses their threshold, screening and today's "
        "pulses, and records the session there ($MIRRORVR_CLINIC_DB picks the database).",
    ),
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
    patient: PatientOpt = None,
    estimate_mt: EstimateOpt = None,
    true_mt: TrueMtOpt = None,
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
        patient=patient,
        estimate_mt=estimate_mt,
        true_mt=true_mt,
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
    patient: PatientOpt = None,
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
        patient=patient,
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
    emg: Annotated[
        str | None,
        typer.Option(help="Publish the simulated patient's EMG on LSL under this name."),
    ] = None,
    true_mt: Annotated[
        float, typer.Option(help="Simulated patient's true resting motor threshold, % MSO.")
    ] = 48.0,
    panel: Annotated[
        Path | None, typer.Option(help="File holding the stimulator panel's intensity (% MSO).")
    ] = None,
    panel_intensity: Annotated[
        float, typer.Option(help="Panel intensity when no --panel file is given.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated patient.")] = 0,
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

    body = dict(emg=emg, true_mt=true_mt, panel=panel, panel_intensity=panel_intensity, seed=seed)
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
        **(body if emg else {}),
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


# --- motor threshold (issue 10) -------------------------------------------------------------

EstimateOpt = Annotated[
    str | None,
    typer.Option(
        help="Start by measuring the motor threshold (ml-pest or 5-10) from the simulated "
        "patient's EMG; the result sets the % RMT dosing."
    ),
]
TrueMtOpt = Annotated[
    float | None,
    typer.Option(help="Simulated patient's true resting motor threshold, % MSO (default 48)."),
]


def _with_threshold_estimate(plan: Any, method: str | None) -> Any:
    """The plan with a [stimulation.threshold_estimate] table for ``method`` (None: as is)."""
    if method is None:
        return plan
    from mirrorvr.config.plan import ThresholdEstimation

    if method not in ("ml-pest", "5-10"):
        raise MirrorVRError(f"--estimate-mt: '{method}' is not a method (use ml-pest or 5-10)")
    cfg = plan.stimulation.threshold_estimate or ThresholdEstimation()
    cfg = cfg.model_copy(update={"method": method})
    stim = plan.stimulation.model_copy(update={"threshold_estimate": cfg})
    return plan.model_copy(update={"stimulation": stim})


def _simulated_body(true_mt: float | None) -> Any:
    if true_mt is None:
        return None
    from mirrorvr.sim.emg import BodyModel

    if not 1 <= true_mt <= 150:
        raise MirrorVRError(f"--true-mt: {true_mt:g} % MSO is outside 1..150")
    return BodyModel(true_threshold_pct_mso=true_mt)


@app.command()
def threshold(
    method: Annotated[str, typer.Option(help="ml-pest or 5-10.")] = "ml-pest",
    outdir: Annotated[
        Path | None, typer.Option("--out", help="Folder for events.jsonl and threshold.json.")
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast/--realtime", help="Simulated clock or real time.")
    ] = True,
    stimulator: StimOpt = None,
    emg: Annotated[
        str, typer.Option(help="LSL name of the EMG stream (real stimulator only).")
    ] = "EMG",
    start: Annotated[float, typer.Option(help="First pulse / level, % MSO.")] = 60.0,
    max_trials: Annotated[int, typer.Option(help="ML-PEST: accepted trials to run.")] = 20,
    ci: Annotated[
        float | None, typer.Option(help="ML-PEST: stop when the 95 % CI half-width ≤ this.")
    ] = None,
    max_pulses: Annotated[int, typer.Option(help="Pulses the hunt may use in all.")] = 100,
    isi: Annotated[str, typer.Option(help="Inter-pulse interval MIN,MAX in s (uniform).")] = "4,6",
    criterion: Annotated[float, typer.Option(help="Positive MEP: peak-to-peak > this µV.")] = 50.0,
    max_mso: Annotated[float, typer.Option(help="Never exceed this % MSO.")] = 100.0,
    site: Annotated[str, typer.Option(help="Coil position label of the hunt.")] = "hotspot",
    hotspot: Annotated[
        str | None,
        typer.Option(help="Comma-separated coil positions to search first (hotspot search)."),
    ] = None,
    true_mt: TrueMtOpt = None,
    seed: Annotated[int, typer.Option(help="Seed (simulated patient, pulse jitter).")] = 0,
) -> None:
    """Measure the resting motor threshold from EMG (ML-PEST or the 5/10 rule)."""
    from mirrorvr.config.plan import ThresholdEstimation
    from mirrorvr.run.threshold import ThresholdRun, run_threshold

    try:
        lo, hi = (float(v) for v in isi.split(","))
        cfg = ThresholdEstimation(
            method=method,
            start_pct_mso=start,
            max_trials=max_trials,
            ci_half_width_pct=ci,
            max_pulses=max_pulses,
            isi_s=(lo, hi),
            criterion_uv=criterion,
            emg_stream=emg,
            site=site,
        )
    except ValueError as e:
        raise MirrorVRError(f"threshold options: {e}") from None
    given_kind, port = _stimulator_option(stimulator)
    kind = given_kind or "ttl-box"
    folder = _session_folder(outdir, "", parent="thresholds")
    operator = move = None
    if port is not None:

        def operator(pct: float) -> None:
            typer.prompt(f"Set the stimulator to {pct:g} % MSO and press Enter", default="")

        def move(label: str) -> None:
            typer.prompt(f"Place the coil at {label} and press Enter", default="")

    sites = [s.strip() for s in hotspot.split(",") if s.strip()] if hotspot else []
    outcome, hs = run_threshold(
        ThresholdRun(
            out=folder,
            config=cfg,
            realtime=not fast or port is not None,
            stimulator_kind=kind,
            stimulator_port=port,
            true_mt=true_mt if true_mt is not None else 48.0,
            seed=seed,
            max_pct_mso=max_mso,
            hotspot_sites=sites,
            operator=operator,
            move_coil=move,
        )
    )
    table = Table(title=f"Motor threshold ({cfg.method})", show_header=False)
    if hs is not None:
        for s_ in hs.sites:
            med = f"{s_.median_pp_uv:.0f} µV" if s_.median_pp_uv is not None else "-"
            table.add_row(
                f"site {s_.site}",
                f"median MEP {med} ({s_.positive}/{s_.accepted} > {criterion:g} µV)",
            )
        table.add_row("hotspot", str(hs.best))
    est = outcome.estimate
    table.add_row(
        "threshold", f"{est.mt_pct_mso:g} % MSO" if est.mt_pct_mso is not None else "none"
    )
    if est.ci_pct_mso:
        table.add_row("95 % interval", f"{est.ci_pct_mso[0]:.1f}-{est.ci_pct_mso[1]:.1f} % MSO")
    table.add_row(
        "trials / pulses",
        f"{est.n_trials} accepted / {outcome.pulses} ({outcome.rejected} rejected)",
    )
    table.add_row("stopped", f"{outcome.status}: {outcome.reason or est.stop_reason}")
    if port is None:
        rec = json.loads((folder / "threshold.json").read_text(encoding="utf-8"))
        true_here = rec.get("simulated_true_mt_pct_mso")
        if true_here is not None:
            table.add_row("simulated true MT", f"{true_here:g} % MSO at this site")
    out.print(table)
    out.print(f"folder: {folder}")
    mt = outcome.motor_threshold(dt.date.today())
    if mt is None:
        raise typer.Exit(1)
    out.print(
        "[stimulation.motor_threshold]\n"
        f'rmt_pct_mso = {mt.rmt_pct_mso:g}\nmeasured_on = "{mt.measured_on}"\n'
        f'method = "{mt.method}"',
        highlight=False,
        markup=False,
    )


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

    from mirrorvr.run.headset import run_headset_session
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


# ---- clinic: patients, ratings, sessions recorded in the store, the therapist console --------
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Clinic database (default: $MIRRORVR_CLINIC_DB or the user data dir)."
    ),
]
patients_app = typer.Typer(help="Patients in the clinic store.", no_args_is_help=True)
app.add_typer(patients_app, name="patients")


def _store(db: Path | None) -> Any:
    from mirrorvr.clinic.store import ClinicStore

    return ClinicStore(db)


@patients_app.command("add")
def patients_add(
    patient_id: Annotated[str, typer.Argument(help="Pseudonymous id (never a name).")],
    side: Annotated[str, typer.Option("--side", help="Amputation side: left or right.")],
    level: Annotated[str, typer.Option("--level", help="Amputation level.")] = "transradial",
    amputated_on: Annotated[
        str | None, typer.Option("--date", help="Date of amputation (YYYY-MM-DD).")
    ] = None,
    notes: Annotated[str, typer.Option(help="Free-text notes.")] = "",
    db: DbOpt = None,
) -> None:
    """Register a patient."""
    day = _parse_date(amputated_on, "--date") if amputated_on else None
    with _store(db) as s:
        p = s.add_patient(patient_id, side, level, day, notes)
        s.audit("cli", "patient_added", p.id)
    out.print(f"added patient {p.id} ({p.amputation_side} {p.amputation_level})")


@patients_app.command("list")
def patients_list(db: DbOpt = None) -> None:
    """List patients with their session count and latest threshold."""
    with _store(db) as s:
        table = Table("id", "side", "level", "sessions", "latest threshold", "GMI stage")
        for p in s.patients():
            t = s.latest_threshold(p.id)
            table.add_row(
                p.id,
                p.amputation_side,
                p.amputation_level,
                str(len(s.sessions(p.id))),
                f"{t.rmt_pct_mso:g} % MSO ({t.date})" if t else "-",
                s.current_gmi_stage(p.id) or "-",
            )
    out.print(table)


@patients_app.command("show")
def patients_show(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")], db: DbOpt = None
) -> None:
    """A patient's screening, thresholds, sessions and pain trend."""
    from mirrorvr.clinic.screening import screening_status

    with _store(db) as s:
        p = s.patient(patient_id)
        out.print(f"[bold]{p.id}[/bold]: {p.amputation_side} {p.amputation_level}", highlight=False)
        st = screening_status(s.latest_screening(p.id), dt.date.today())
        out.print(f"screening: {'cleared' if st.cleared else 'NOT cleared'} ({st.reason})")
        for t in s.thresholds(p.id):
            out.print(f"threshold {t.date}: {t.rmt_pct_mso:g} % MSO ({t.method})")
        out.print(f"pulses today: {s.pulses_today(p.id)}")
        table = Table("session", "date", "plan", "status", "pulses", "e-stops", "pre", "post")
        trend = {t["session_id"]: t for t in s.pain_trend(p.id)}
        for r in s.sessions(p.id):
            t = trend.get(r.id, {})
            table.add_row(
                str(r.id),
                str(r.date),
                r.plan_name,
                r.status,
                f"{r.pulses_delivered if r.pulses_delivered is not None else '-'}/{r.pulses_planned}",
                str(r.estops if r.estops is not None else "-"),
                str(t.get("pre", "-")),
                str(t.get("post", "-")),
            )
        out.print(table)
        for r in s.ratings(p.id):
            if r.session_id is None:
                out.print(f"rating {r.date} {r.timepoint}: {r.value:g} ({r.scale})")


@patients_app.command("threshold")
def patients_threshold(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    rmt: Annotated[float, typer.Argument(help="Resting motor threshold, % of stimulator output.")],
    method: Annotated[
        str, typer.Option(help="5-10, ml-pest, two-threshold, visual, other.")
    ] = "5-10",
    db: DbOpt = None,
) -> None:
    """Record today's resting motor threshold."""
    with _store(db) as s:
        t = s.record_threshold(patient_id, rmt, method)
        s.audit("cli", "threshold_recorded", patient_id, rmt_pct_mso=rmt, method=method)
    out.print(f"{patient_id}: threshold {t.rmt_pct_mso:g} % MSO ({t.method}) on {t.date}")


@patients_app.command("screen")
def patients_screen(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    yes: Annotated[
        list[str] | None, typer.Option("--yes", help="An item answered yes (repeat for more).")
    ] = None,
    cleared_by: Annotated[str, typer.Option(help="Physician who weighed any yes.")] = "",
    db: DbOpt = None,
) -> None:
    """Record a TMS screening: every item no, except those given with --yes."""
    from mirrorvr.clinic.screening import ITEMS, screening_status

    answers = {k: k in (yes or []) for k in ITEMS}
    unknown = set(yes or []) - set(ITEMS)
    if unknown:
        raise MirrorVRError(f"--yes {', '.join(sorted(unknown))}: items are {', '.join(ITEMS)}")
    with _store(db) as s:
        sc = s.record_screening(patient_id, answers, cleared_by=cleared_by)
        st = screening_status(sc, dt.date.today())
        s.audit("cli", "screening_recorded", patient_id, yes=sc.yes_items, cleared=st.cleared)
    out.print(f"{patient_id}: {'cleared' if st.cleared else 'NOT cleared'} ({st.reason})")


@app.command()
def rate(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    value: Annotated[float, typer.Argument(help="Pain rating (NRS 0-10, or VAS 0-100 mm).")],
    timepoint: Annotated[
        str, typer.Option(help="pre, post, during, end-of-treatment, follow-up-N (e.g. 3m).")
    ] = "follow-up",
    scale: Annotated[str, typer.Option(help="nrs or vas.")] = "nrs",
    session: Annotated[int | None, typer.Option(help="Session id this rating belongs to.")] = None,
    item: Annotated[
        list[str] | None,
        typer.Option(help="Questionnaire item score, e.g. bpi.worst=7 (repeat for more)."),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Record a pain rating (and optional BPI / SF-MPQ-2 items) for a patient."""
    items: dict[str, float] = {}
    for it in item or []:
        key, sep, v = it.partition("=")
        try:
            items[key] = float(v)
        except ValueError:
            raise MirrorVRError(f"--item {it}: write ITEM=SCORE, e.g. bpi.worst=7") from None
        if not sep:
            raise MirrorVRError(f"--item {it}: write ITEM=SCORE, e.g. bpi.worst=7")
    with _store(db) as s:
        r = s.add_rating(
            patient_id, value, timepoint=timepoint, scale=scale, session_id=session, items=items
        )
        s.audit("cli", "rating_recorded", patient_id, timepoint=r.timepoint, value=r.value)
    out.print(f"{patient_id}: {r.scale.upper()} {r.value:g} ({r.timepoint}) on {r.date}")


def _run_for_patient(
    patient: str,
    plan_arg: str | None,
    outdir: Path | None,
    realtime: bool,
    seed: int | None,
    stimulator: str | None,
    simulated: bool,
    display: DisplayChoice | None = None,
    estimate_mt: str | None = None,
    true_mt: float | None = None,
) -> None:
    """Run a plan for a patient in the store, and record the session there from its log."""
    from mirrorvr.clinic.readiness import fit_and_check

    with _store(None) as s:
        path = resolve_plan_path(plan_arg)
        try:
            base = _with_threshold_estimate(with_seed(load_plan(path), seed), estimate_mt)
            plan, inputs = fit_and_check(base, s, patient)
        except PlanError as e:
            raise PlanError([Problem(f"{path}:{p.where}", p.message) for p in e.problems]) from None
        timeline = compile_timeline(plan)
        presenter = _presenter_factory(plan, display, simulated)  # display errors come first
        kind, port = _stimulator_option(stimulator)
        if not simulated and port is None and plan.devices.stimulator.port:
            port = plan.devices.stimulator.port
        folder = _session_folder(outdir, patient)
        from mirrorvr.config.loader import plan_to_toml

        sid = s.create_session(
            patient,
            plan_name=plan.session.name,
            plan_toml=plan_to_toml(plan),
            folder=folder,
            pulses_planned=timeline.total_pulses,
        )
        s.audit("cli", "session_start", patient, session_id=sid, plan=plan.session.name)
        opts = LaunchOptions(
            out=folder,
            realtime=realtime,
            stimulator_port=port,
            stimulator_kind=kind,
            simulated=simulated,
            session_date=dt.date.today(),
            pulses_today=inputs.pulses_today,
            body=_simulated_body(true_mt),
        )
        opts.presenter_factory = presenter
        if realtime:
            err.print(f"running in real time: {timeline.duration / 60:.1f} min")
        try:
            result, summary = _launcher(_display_kind(plan, display), simulated)(plan, opts)
            measured = summary.get("motor_threshold") or {}
            if measured.get("rmt_pct_mso") is not None:  # measured at the start of this session
                s.record_threshold(
                    patient, measured["rmt_pct_mso"], measured["method"], date=dt.date.today()
                )
        finally:
            rec = s.import_session_log(sid)
    _print_summary(summary, folder)
    out.print(f"session folder: {folder}")
    out.print(f"recorded as session {rec.id} of patient {patient} ({rec.status})")
    if result.state != "completed":
        raise typer.Exit(1)


@app.command()
def console(
    host: Annotated[
        str, typer.Option(help="Address to bind (default: this computer only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    lan: Annotated[
        bool, typer.Option("--lan", help="Serve other computers on the network (0.0.0.0).")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(help="Access token (default: a new one is generated and printed)."),
    ] = None,
    sessions_dir: Annotated[
        Path | None, typer.Option(help="Where session folders go (default: beside the database).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """The therapist console: a local web app (patients, plans, live session, e-stop)."""
    from mirrorvr.clinic.console.auth import Access, generate_token
    from mirrorvr.clinic.console.server import ConsoleServer

    access = Access("0.0.0.0" if lan else host, token or generate_token())
    with _store(db) as s:
        server = ConsoleServer(s, access, port=port, sessions_dir=sessions_dir)
        out.print(f"clinic database: {s.path}")
        if access.lan:
            out.print(
                "[yellow]serving the LAN: anyone with the address below can control it[/yellow]"
            )
        out.print(f"open: {server.url}", highlight=False, soft_wrap=True)
        server.serve()


# ---- LSL streams, XDF recording and multi-machine nodes (issue 5) ----------------------------
# docs/streams.md describes every stream; these commands configure liblsl first (known peers,
# session id) because liblsl reads its configuration only once, at the first LSL call.

xdf_app = typer.Typer(help="Check and repair XDF files.", no_args_is_help=True)
node_app = typer.Typer(help="Run one node of a multi-machine session.", no_args_is_help=True)
app.add_typer(xdf_app, name="xdf")
app.add_typer(node_app, name="node")

KnownPeers = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated hosts to query directly for streams (liblsl KnownPeers), "
        "e.g. other subnets; adds to the plan's [lsl] known_peers."
    ),
]
LslSession = Annotated[
    str | None,
    typer.Option(help="liblsl SessionID: only nodes with the same id see each other."),
]


def _lsl_setup(
    known_peers: str | None, session_id: str | None, plan: Any = None, scope: str | None = None
) -> None:
    from mirrorvr.streams.lslconfig import configure_lsl

    peers = [p.strip() for p in (known_peers or "").split(",") if p.strip()]
    lsl = getattr(plan, "lsl", None)
    if lsl is not None:
        peers = [*lsl.known_peers, *[p for p in peers if p not in lsl.known_peers]]
        session_id = session_id or lsl.session_id
        scope = scope or lsl.resolve_scope
    configure_lsl(known_peers=peers or None, session_id=session_id, resolve_scope=scope)


@app.command()
def record(
    streams: Annotated[
        list[str] | None,
        typer.Argument(
            help="Streams to record: names, or XPath predicates such as \"type='EMG'\" "
            "(default: every stream found)."
        ),
    ] = None,
    outfile: Annotated[Path, typer.Option("--out", "-o", help="XDF file to write.")] = Path(
        "recording.xdf"
    ),
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    known_peers: KnownPeers = None,
    session_id: LslSession = None,
) -> None:
    """Record LSL streams (mirrorvr's and other devices') to a crash-safe XDF file."""
    import signal
    import threading

    from mirrorvr.streams.recorder import Recorder

    _lsl_setup(known_peers, session_id)
    preds = [s if any(c in s for c in "='()") else f"name='{s}'" for s in streams or []]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def status(what: str, d: dict[str, Any]) -> None:
        if what != "offset":
            err.print(f"{what}: " + ", ".join(f"{k}={v}" for k, v in d.items()), highlight=False)

    rec = Recorder(outfile, preds or None, on_status=status).start()
    err.print(f"recording to {outfile} (Ctrl-C to stop)")
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        rec.stop()
    for name, n in rec.streams.items():
        out.print(f"{name}: {n} samples")
    out.print(f"wrote {outfile}")


@xdf_app.command("repair")
def xdf_repair(
    files: Annotated[list[Path], typer.Argument(help="XDF files left by a crashed recorder.")],
    dry_run: Annotated[bool, typer.Option(help="Only report what would change.")] = False,
) -> None:
    """Trim a torn tail (kept as FILE.torn) and add missing stream footers."""
    from mirrorvr.streams.xdf_repair import repair_xdf

    for f in files:
        r = repair_xdf(f, dry_run=dry_run)
        if not r.changed:
            out.print(f"{f}: intact ({len(r.streams)} streams)")
            continue
        verb = "would add" if dry_run else "added"
        msg = f"{f}: {verb} footers for streams {r.footers_added}"
        if r.torn_bytes:
            msg += f"; {'would trim' if dry_run else 'trimmed'} {r.torn_bytes} torn bytes ({r.problem})"
        out.print(msg)


@xdf_app.command("info")
def xdf_info(file: Annotated[Path, typer.Argument(help="XDF file.")]) -> None:
    """List the streams of an XDF file: samples, time span, clock offsets, footer."""
    from mirrorvr.streams.xdf_repair import scan_xdf

    scan = scan_xdf(file)
    table = Table(
        "id", "name", "format", "channels", "samples", "first", "last", "offsets", "footer"
    )
    for s in scan.streams.values():
        table.add_row(
            str(s.stream_id), s.layout.name, s.layout.channel_format, str(s.layout.channel_count),
            str(s.count), f"{s.first:.3f}" if s.first is not None else "-",
            f"{s.last:.3f}" if s.last is not None else "-", str(len(s.offsets)),
            "yes" if s.has_footer else "no",
        )  # fmt: skip
    out.print(table)
    if scan.problem:
        out.print(f"[yellow]stops early[/yellow] {scan.problem}: run `mirrorvr xdf repair {file}`")


@node_app.command("tms")
def node_tms(
    plan: Annotated[str, typer.Argument(help="The session's plan (the same as the VR node's).")],
    outdir: Out = None,
    stimulator: StimOpt = None,
    vr_session: Annotated[
        str | None,
        typer.Option(help="Follow this VR session only (its folder name); default: any."),
    ] = None,
    known_peers: KnownPeers = None,
    session_id: LslSession = None,
    connect_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the VR node's markers.")
    ] = 120.0,
    timeout: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: session end).")
    ] = None,
    date: Annotated[str | None, typer.Option(help="Session date (YYYY-MM-DD).")] = None,
) -> None:
    """TMS node: follow the VR node's cue markers and deliver the plan's stimulation."""
    from mirrorvr.run.tms_node import NodeOptions, run_tms_node

    p, _, _ = _validate(plan)
    _lsl_setup(known_peers, session_id, p)
    kind, port = _stimulator_option(stimulator)
    folder = _session_folder(outdir, f"{p.patient.id}-tms")
    opts = NodeOptions(
        out=folder,
        stimulator_port=port,
        stimulator_kind=kind,
        vr_session=vr_session,
        connect_timeout_s=connect_timeout,
        timeout_s=timeout,
        session_date=_parse_date(date, "--date") if date else None,
        on_ready=lambda: err.print("following the VR node's markers", highlight=False),
    )
    res = run_tms_node(p, opts)
    out.print(
        f"{res.reason}: {res.pulses_delivered} pulses in {res.trains} trains "
        f"from {res.markers} markers; node folder: {folder}"
    )
    if not res.reason.startswith("VR session ended"):
        raise typer.Exit(1)


@node_app.command("vr")
def node_vr(
    plan: Annotated[str, typer.Argument(help="Plan TOML file.")],
    outdir: Out = None,
    seed: Seed = None,
    known_peers: KnownPeers = None,
    session_id: LslSession = None,
    simulated: Annotated[
        bool, typer.Option(help="Simulated patient and display (no headset).")
    ] = False,
    date: Annotated[str | None, typer.Option(help="Session date (YYYY-MM-DD).")] = None,
    wait_tms: Annotated[
        float, typer.Option(help="Seconds to wait for a TMS node to follow before starting.")
    ] = 60.0,
) -> None:
    """VR node: run the session in real time and publish it; a TMS node stimulates."""
    p, _, _ = _validate(plan)
    p = with_seed(p, seed)
    _lsl_setup(known_peers, session_id, p)
    folder = _session_folder(outdir, p.patient.id)
    opts = LaunchOptions(
        out=folder,
        realtime=True,
        stimulator_kind="none",  # the TMS node delivers stimulation
        simulated=simulated,
        session_date=_parse_date(date, "--date") if date else None,
        lsl=True,
        wait_for_node="tms" if wait_tms > 0 else None,
        wait_node_s=wait_tms,
    )
    result, summary = run_session(p, opts)
    _print_summary(summary, folder)
    out.print(f"session folder: {folder}")
    if result.state != "completed":
        raise typer.Exit(1)


# ---- analysis: mirrorvr analyze, mirrorvr export-bids (issue 8) ----------------------------


@app.command()
def analyze(
    path: Annotated[
        Path | None, typer.Argument(help="Session folder or XDF file (omit with --sessions).")
    ] = None,
    outdir: Annotated[
        Path, typer.Option("--out", help="Folder for report.html, summary.json.")
    ] = Path("analysis"),
    sessions: Annotated[
        Path | None,
        typer.Option(help="Folder of session folders / XDF files: pool them into one report."),
    ] = None,
    thresholds: Annotated[
        Path | None, typer.Option(help="TOML file of QA thresholds ([thresholds.<metric>]).")
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(help="Override one QA threshold: NAME=WARN,FAIL[,STAT] (repeatable)."),
    ] = None,
    responder_rule: Annotated[
        str | None, typer.Option(help="Responder rule name[@version] (default immpact-moderate@1).")
    ] = None,
) -> None:
    """Timing QA, outcomes and plots of one session or a study: report.html + summary.json."""
    from mirrorvr.analysis.outcomes import responder_rule as get_rule
    from mirrorvr.analysis.qa import load_settings
    from mirrorvr.analysis.report import analyze_paths, find_recordings

    if (path is None) == (sessions is None):
        raise MirrorVRError("give either a PATH (one session or XDF file) or --sessions DIR")
    settings = load_settings(thresholds, threshold)
    rule = get_rule(responder_rule)
    paths = find_recordings(sessions) if sessions is not None else [Path(str(path))]
    if not paths:
        raise MirrorVRError(f"--sessions {sessions}: no session folders or XDF files found")
    with Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("starting", total=2 * len(paths))

        def step(msg: str) -> None:
            progress.update(task, advance=1 if msg.startswith("analysing") else 0, description=msg)

        summary = analyze_paths(
            paths, outdir, settings=settings, rule=rule, pooled=sessions is not None, progress=step
        )
    table = Table("session", "QA", "pain pre→post", "responder", "pulses", title="mirrorvr analyze")
    for s in summary["sessions"]:
        o = s["outcomes"]
        table.add_row(
            s["session"],
            s["qa"]["status"],
            f"{o['pain']['pre']} → {o['pain']['post']}",
            str(o["pain"]["responder"]),
            f"{o['dose']['pulses_delivered']}/{o['dose']['pulses_planned']}",
        )
    out.print(table)
    for s in summary["sessions"]:
        for w in s["warnings"]:
            err.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    out.print(f"report: {outdir / 'report.html'}")


@app.command("export-bids")
def export_bids(
    source: Annotated[Path, typer.Argument(help="Session folder, XDF file, or a folder of them.")],
    outdir: Annotated[Path, typer.Option("--out", help="BIDS root to create or add to.")],
) -> None:
    """Write sessions as a BIDS dataset (events, Motion-BIDS poses, EMG, stimulation)."""
    from mirrorvr.analysis.bids import export_bids as do_export
    from mirrorvr.analysis.report import find_recordings

    paths = (
        [source]
        if source.is_file() or (source / "events.jsonl").exists()
        else find_recordings(source)
    )
    if not paths:
        raise MirrorVRError(f"{source}: no session folders or XDF files found")
    written = do_export(paths, outdir)
    out.print(f"BIDS dataset: {outdir} ({len(written)} files written)")


# ---- safety: the limits in force (issue 4) ----------------------------------------------------


@app.command()
def safety(plan: PlanArg = None) -> None:
    """Show the safety limits a plan runs under (baseline, tightened, overridden) and the
    train-duration table with its verification status (docs/safety.md)."""
    from mirrorvr.stim.safety.limits import (
        BASELINE,
        HIGHER_IS_LOOSER,
        LOWER_IS_LOOSER,
        effective_limits,
        is_looser,
        loosening_problems,
    )
    from mirrorvr.stim.safety.train_table import default_table

    p = load_plan(resolve_plan_path(plan))
    limits = effective_limits(p.safety)
    overridden = {o.rule: o for o in p.safety.overrides}
    table = Table(title=f"Safety limits: {p.session.name} (profile '{p.safety.name}')")
    for col in ("limit", "in force", "baseline", "how"):
        table.add_column(col, overflow="fold")
    for name in (*HIGHER_IS_LOOSER, *LOWER_IS_LOOSER):
        value, base = getattr(limits.profile, name), getattr(BASELINE, name)
        if name in overridden:
            o = overridden[name]
            how = f"OVERRIDE by {o.approved_by} on {o.approved_on}: {o.reason}"
        elif is_looser(name, float(value), float(base)):
            how = "LOOSER than the baseline without an override: refused"
        elif value != base:
            how = "tightened by the clinic"
        else:
            how = "baseline"
        table.add_row(name, str(value), str(base), rich_escape(how))
    for t in limits.train_overrides:
        o = next(
            o
            for o in p.safety.overrides
            if o.rule == "max_train_duration_s" and o.frequency_hz == t.frequency_hz
        )
        table.add_row(
            f"max_train_duration_s at {t.frequency_hz:g} Hz ≤ {t.up_to_pct_rmt:g} % MT",
            f"{t.max_duration_s:g} s",
            "table",
            rich_escape(f"OVERRIDE by {o.approved_by} on {o.approved_on}: {o.reason}"),
        )
    out.print(table)
    for problem in loosening_problems(p.safety):
        err.print(f"[red]refused:[/red] {rich_escape(str(problem))}")
    tt = default_table()
    grid = Table(
        title="Maximum single-train duration (s): "
        + ("verified" if tt.verified else "[red]UNVERIFIED[/red]")
        + f" — {rich_escape(tt.source)}"
    )
    grid.add_column("% MT", justify="right")
    for f in tt.frequencies:
        grid.add_column(f"{f:g} Hz", justify="right")
    for j, mt in enumerate(tt.intensities):
        grid.add_row(f"{mt:g}", *(row[j] for row in tt.raw))
    out.print(grid)
    out.print(
        "'>x' = longest duration tested, used as x; between rows/columns the stricter one is used"
    )


def main() -> None:
    """Entry point: run the CLI, turning user errors into messages and exit code 2."""
    try:
        app(standalone_mode=False)
    except MirrorVRError as e:
        # escape: messages quote TOML tables such as [screening], which rich would eat
        err.print(f"[red]error:[/red] {rich_escape(str(e))}", highlight=False)
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

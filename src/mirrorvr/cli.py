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
    estimate_mt: str | None = None,
    true_mt: float | None = None,
) -> None:
    from mirrorvr.stim.factory import parse_stimulator_option

    plan, timeline, _ = _validate(plan_arg)
    plan = _with_threshold_estimate(with_seed(plan, seed), estimate_mt)
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
        body=_simulated_body(true_mt),
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
    estimate_mt: EstimateOpt = None,
    true_mt: TrueMtOpt = None,
) -> None:
    """Run a whole simulated session (emulated stimulator, simulated patient)."""
    _run(plan, outdir, not fast, seed, stimulator, True, date, estimate_mt, true_mt)


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
) -> None:
    """Serve an emulated device on a new pseudo-terminal until interrupted."""
    from mirrorvr.sim.emulate import run_emulator

    body = dict(emg=emg, true_mt=true_mt, panel=panel, panel_intensity=panel_intensity, seed=seed)
    run_emulator(kind, link, log, **(body if emg else {}))


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


# ---- analysis: mirrorvr analyze, mirrorvr export-bids (issue 8) ----------------------------


@app.command()
def analyze(
    path: Annotated[
        Path | None, typer.Argument(help="Session folder or XDF file (omit with --sessions).")
    ] = None,
    outdir: Annotated[Path, typer.Option("--out", help="Folder for report.html, summary.json.")] = Path("analysis"),
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
    from mirrorvr.stim.factory import parse_stimulator_option
    from mirrorvr.streams.tms_node import NodeOptions, run_tms_node

    p, _, _ = _validate(plan)
    _lsl_setup(known_peers, session_id, p)
    kind = port = None
    if stimulator:
        kind, port = parse_stimulator_option(stimulator)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = outdir or Path("sessions") / f"{p.patient.id}-{stamp}-tms"
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
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = outdir or Path("sessions") / f"{p.patient.id}-{stamp}"
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
    isi: Annotated[
        str, typer.Option(help="Inter-pulse interval MIN,MAX in s (uniform).")
    ] = "4,6",
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
    from mirrorvr.stim.factory import parse_stimulator_option
    from mirrorvr.threshold.standalone import ThresholdRun, run_threshold

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
    kind, port = ("ttl-box", None)
    if stimulator:
        kind, port = parse_stimulator_option(stimulator)
    folder = outdir or Path("thresholds") / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
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
            table.add_row(f"site {s_.site}", f"median MEP {med} ({s_.positive}/{s_.accepted} > "
                          f"{criterion:g} µV)")
        table.add_row("hotspot", str(hs.best))
    est = outcome.estimate
    table.add_row("threshold", f"{est.mt_pct_mso:g} % MSO" if est.mt_pct_mso is not None else "none")
    if est.ci_pct_mso:
        table.add_row("95 % interval", f"{est.ci_pct_mso[0]:.1f}-{est.ci_pct_mso[1]:.1f} % MSO")
    table.add_row("trials / pulses", f"{est.n_trials} accepted / {outcome.pulses} "
                  f"({outcome.rejected} rejected)")
    table.add_row("stopped", f"{outcome.status}: {outcome.reason or est.stop_reason}")
    if port is None:
        rec = json.loads((folder / "threshold.json").read_text(encoding="utf-8"))
        true_here = rec.get("simulated_true_mt_pct_mso")
        if true_here is not None:
            table.add_row("simulated true MT", f"{true_here:g} % MSO at this site (fast path)")
    out.print(table)
    out.print(f"folder: {folder}")
    mt = outcome.motor_threshold(dt.date.today())
    if mt is None:
        raise typer.Exit(1)
    out.print(
        "[stimulation.motor_threshold]\n"
        f"rmt_pct_mso = {mt.rmt_pct_mso:g}\nmeasured_on = \"{mt.measured_on}\"\n"
        f"method = \"{mt.method}\"",
        highlight=False,
        markup=False,
    )


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

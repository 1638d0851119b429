"""``mirrorvr record | xdf … | node …``: LSL recording, XDF files, multi-machine nodes.

docs/streams.md describes every stream; these commands configure liblsl first (known peers,
session id) because liblsl reads its configuration only once, at the first LSL call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mirrorvr.cli.common import Out, Seed, StimOpt, err, out, parse_date, print_summary, store
from mirrorvr.session.folder import new_session_folder

xdf_app = typer.Typer(help="Check and repair XDF files.", no_args_is_help=True)
node_app = typer.Typer(help="Run one node of a multi-machine session.", no_args_is_help=True)

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
    """Keep every readable chunk (past damage too), set the rest aside in FILE.torn (nothing
    is deleted), rebuild broken stream headers, add missing stream footers."""
    from mirrorvr.streams.xdf_repair import repair_xdf

    for f in files:
        r = repair_xdf(f, dry_run=dry_run)
        if not r.changed:
            out.print(f"{f}: intact ({len(r.streams)} streams)")
            continue
        head = f"{f}: {'would repair (dry run)' if dry_run else 'repaired'}"
        out.print(f"{head}\n{r.describe()}", highlight=False)


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
    patient: Annotated[
        str | None,
        typer.Option(
            help="Patient id in the clinic store: reserve the node's pulses in the patient's "
            "daily budget (and count today's earlier pulses) before the first pulse."
        ),
    ] = None,
) -> None:
    """TMS node: follow the VR node's cue markers and deliver the plan's stimulation."""
    from mirrorvr.run.start import checked_plan, stimulator_option
    from mirrorvr.run.tms_node import NodeOptions, run_tms_node

    p, _, _ = checked_plan(plan)
    _lsl_setup(known_peers, session_id, p)
    kind, port = stimulator_option(stimulator)
    folder = outdir if outdir is not None else new_session_folder(f"{p.patient.id}-tms")
    opts = NodeOptions(
        out=folder,
        stimulator_port=port,
        stimulator_kind=kind,
        vr_session=vr_session,
        connect_timeout_s=connect_timeout,
        timeout_s=timeout,
        session_date=parse_date(date, "--date") if date else None,
        on_ready=lambda: err.print("following the VR node's markers", highlight=False),
    )
    if patient is not None:
        from mirrorvr.run.tms_node import run_tms_node_for_patient

        with store(None) as s:
            res = run_tms_node_for_patient(s, patient, p, opts)
    else:
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
    from mirrorvr.run.session import LaunchOptions, run_session, with_seed
    from mirrorvr.run.start import checked_plan

    p, _, _ = checked_plan(plan)
    p = with_seed(p, seed)
    _lsl_setup(known_peers, session_id, p)
    folder = outdir if outdir is not None else new_session_folder(p.patient.id)
    opts = LaunchOptions(
        out=folder,
        realtime=True,
        stimulator_kind="none",  # the TMS node delivers stimulation
        simulated=simulated,
        session_date=parse_date(date, "--date") if date else None,
        lsl=True,
        wait_for_node="tms" if wait_tms > 0 else None,
        wait_node_s=wait_tms,
    )
    result, summary = run_session(p, opts)
    print_summary(summary, folder)
    out.print(f"session folder: {folder}")
    if result.state != "completed":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command()(record)
    app.add_typer(xdf_app, name="xdf")
    app.add_typer(node_app, name="node")

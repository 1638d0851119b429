"""``mirrorvr record | xdf … | node …``: LSL recording, XDF files, multi-machine nodes.

docs/streams.md describes every stream; these commands configure liblsl first (known peers,
session id) because liblsl reads its configuration only once, at the first LSL call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mirrorvr.cli.common import (
    Out,
    Seed,
    StimOpt,
    err,
    out,
    parse_date,
    print_summary,
    store,
)
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.folder import SessionFolder, new_session_folder

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
    known_peers: str | None,
    session_id: str | None,
    plan: Any = None,
    scope: str | None = None,
    *,
    log_file: Path,
) -> None:
    """Configure liblsl (peers, session id, scope) with its own log going to ``log_file``."""
    from mirrorvr.streams.lslconfig import configure_lsl

    log_file.parent.mkdir(parents=True, exist_ok=True)
    peers = [p.strip() for p in (known_peers or "").split(",") if p.strip()]
    lsl = getattr(plan, "lsl", None)
    if lsl is not None:
        peers = [*lsl.known_peers, *[p for p in peers if p not in lsl.known_peers]]
        session_id = session_id or lsl.session_id
        scope = scope or lsl.resolve_scope
    configure_lsl(
        known_peers=peers or None, session_id=session_id, resolve_scope=scope, log_file=log_file
    )


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

    if duration is not None and not duration > 0:
        raise MirrorVRError(f"--duration {duration:g}: give a number of seconds above 0")
    if outfile.exists() and outfile.is_dir():
        raise MirrorVRError(f"--out {outfile}: that is a folder; name the XDF file to write")
    _lsl_setup(known_peers, session_id, log_file=outfile.with_name(outfile.name + ".lsl.log"))
    preds = [s if any(c in s for c in "='()") else f"name='{s}'" for s in streams or []]
    stop = threading.Event()
    # set from a thread: the handler runs in the main thread, which may hold the Event's lock
    # inside stop.wait() below (setting it in the handler itself could deadlock)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop.set, daemon=True).start())

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
            "--patient",
            help="Patient id in the clinic store: their pulses earlier today count toward "
            "the daily limit, and the node's pulses are reserved in it before the first pulse "
            "($MIRRORVR_CLINIC_DB picks the database).",
        ),
    ] = None,
) -> None:
    """TMS node: follow the VR node's cue markers and deliver the plan's stimulation."""
    from mirrorvr.run.start import checked_plan, stimulator_option
    from mirrorvr.run.tms_node import NodeOptions, run_tms_node

    p, _, _ = checked_plan(plan)
    kind, port = stimulator_option(stimulator)
    folder = outdir if outdir is not None else new_session_folder(f"{p.patient.id}-tms")
    _lsl_setup(known_peers, session_id, p, log_file=SessionFolder(folder).lsl_log)
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
        # the same path as every session start: today's pulses counted, the node's reserved
        from mirrorvr.run.tms_node import run_tms_node_for_patient

        with store(None) as s:
            s.patient(patient)  # an unknown id is an error, not zero pulses
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
    folder = outdir if outdir is not None else new_session_folder(p.patient.id)
    _lsl_setup(known_peers, session_id, p, log_file=SessionFolder(folder).lsl_log)
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
    app.add_typer(node_app, name="node")

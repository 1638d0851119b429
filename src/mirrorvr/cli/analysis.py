"""``mirrorvr analyze | export-bids``: reports and BIDS datasets from session folders and XDF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from mirrorvr.cli.common import err, out
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.folder import SessionFolder


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
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Recordings analysed at once, each in its own process "
            "(default: the CPU cores this process may use).",
        ),
    ] = None,
) -> None:
    """Timing QA, outcomes and plots of one session or a study: report.html + summary.json."""
    import os

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
            paths,
            outdir,
            settings=settings,
            rule=rule,
            pooled=sessions is not None,
            progress=step,
            jobs=jobs or len(os.sched_getaffinity(0)),
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


def export_bids(
    source: Annotated[Path, typer.Argument(help="Session folder, XDF file, or a folder of them.")],
    outdir: Annotated[Path, typer.Option("--out", help="BIDS root to create or add to.")],
    dataset_config: Annotated[
        Path | None,
        typer.Option(
            help="TOML file with a [dataset] table: name, authors, license, funding, "
            "acknowledgements, how_to_acknowledge, references_and_links, dataset_doi, "
            "ethics_approvals (options below override it)."
        ),
    ] = None,
    dataset_name: Annotated[str | None, typer.Option(help="Dataset name.")] = None,
    authors: Annotated[
        str | None, typer.Option(help="Dataset authors, ';'-separated: \"A. Author; B. Author\".")
    ] = None,
    license_: Annotated[
        str | None, typer.Option("--license", help="Dataset licence, e.g. CC0 or CC-BY-4.0.")
    ] = None,
    funding: Annotated[str | None, typer.Option(help="Funding sources, ';'-separated.")] = None,
    streams: Annotated[
        list[str] | None,
        typer.Option(
            "--stream",
            help="Also export this regularly sampled stream (name or LSL type; repeatable): "
            "EMG-typed ones to emg/, others as physio. EEG streams are always exported.",
        ),
    ] = None,
    line_freq: Annotated[
        float | None, typer.Option(help="Mains frequency for EEG sidecars (50 or 60 Hz).")
    ] = None,
) -> None:
    """Write sessions as a BIDS dataset (events, Motion-BIDS poses, EMG, EEG, stimulation)."""
    from mirrorvr.analysis.bids import export_bids as do_export
    from mirrorvr.analysis.bids import load_dataset_info
    from mirrorvr.analysis.report import find_recordings

    info = load_dataset_info(
        dataset_config, name=dataset_name, authors=authors, license=license_, funding=funding
    )
    paths = (
        [source] if source.is_file() or SessionFolder(source).has_log() else find_recordings(source)
    )
    if not paths:
        raise MirrorVRError(f"{source}: no session folders or XDF files found")
    notes: list[str] = []
    written = do_export(
        paths, outdir, dataset=info, streams=streams or (), line_freq=line_freq, notes=notes
    )
    for n in notes:
        err.print(f"[yellow]warning:[/yellow] {n}", highlight=False)
    desc = json.loads((outdir / "dataset_description.json").read_text(encoding="utf-8"))
    if not desc.get("Authors"):
        err.print(
            "note: no dataset authors (BIDS validators warn): give --authors or --dataset-config",
            highlight=False,
        )
    out.print(f"BIDS dataset: {outdir} ({len(written)} files written)")


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command()(analyze)
    app.command("export-bids")(export_bids)

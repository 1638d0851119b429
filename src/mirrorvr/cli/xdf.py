"""``mirrorvr xdf info | repair``: check and repair XDF files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mirrorvr.cli.common import err, out
from mirrorvr.errors import MirrorVRError

xdf_app = typer.Typer(help="Check and repair XDF files.", no_args_is_help=True)


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
def xdf_info(
    file: Annotated[Path, typer.Argument(help="XDF file.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (streams, samples, times, footers).")
    ] = False,
) -> None:
    """List the streams of an XDF file: samples, time span, clock offsets, footer."""
    from mirrorvr.streams.xdf_repair import scan_xdf

    if not file.is_file():
        raise MirrorVRError(f"{file}: no such XDF file")
    scan = scan_xdf(file)
    if as_json:
        print(json.dumps({"file": str(file), **scan.to_dict()}, indent=2))
        return
    columns = ("id", "name", "format", "channels", "samples", "first", "last", "offsets", "footer")
    rows = [
        (
            str(s.stream_id),
            s.layout.name,
            s.layout.channel_format,
            str(s.layout.channel_count),
            str(s.count),
            f"{s.first:.3f}" if s.first is not None else "-",
            f"{s.last:.3f}" if s.last is not None else "-",
            str(len(s.offsets)),
            "yes" if s.has_footer else "no",
        )
        for s in scan.streams.values()
    ]
    if out.is_terminal:
        table = Table(*columns)
        for row in rows:
            table.add_row(*row)
        out.print(table)
    else:  # piped: whole lines, tab-separated, never cut to the terminal's width
        for row in (columns, *rows):
            print("\t".join(row))
    if scan.problem:
        err.print(
            f"damaged: {len(scan.regions)} range(s) not readable as they are (first "
            f"{scan.problem}): run `mirrorvr xdf repair {file}`",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(xdf_app, name="xdf")

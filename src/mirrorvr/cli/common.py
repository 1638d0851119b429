"""What every command group shares: the consoles, option types, date parsing, the summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mirrorvr.errors import MirrorVRError

out = Console()
err = Console(stderr=True)

PlanArg = Annotated[
    str | None,
    typer.Argument(
        help="Plan TOML file or bundled preset name (default: the bundled default plan)."
    ),
]
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
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Clinic database (default: $MIRRORVR_CLINIC_DB or the user data dir)."
    ),
]


def parse_date(value: str, option: str) -> dt.date:
    """``value`` as a date, or a MirrorVRError naming ``option``."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise MirrorVRError(f"{option}: '{value}' is not a date (YYYY-MM-DD)") from None


def print_summary(summary: dict[str, Any], folder: Path) -> None:
    """The session summary as a two-column table."""
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
        "phantom_motor_execution",
    ):
        v = summary.get(key)
        if key == "phantom_motor_execution" and v is None:
            continue
        if key == "duration_s" and isinstance(v, int | float):
            v = f"{v / 60:.1f} min"
        if key == "reason" and not v:
            continue
        table.add_row(key, str(v))
    out.print(table)
    for warning in summary.get("disarm_warnings") or []:
        # loud, on stderr too: the log does not claim a disarm the device did not confirm
        err.print(f"[bold red]!!! {escape(warning)}[/bold red]")


def store(db: Path | None) -> Any:
    """The clinic store at ``db`` (default: $MIRRORVR_CLINIC_DB or the user data dir)."""
    from mirrorvr.clinic.store import ClinicStore

    return ClinicStore(db)

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


def _minutes(seconds: float) -> str:
    """``20 min 20 s``, ``45 s``."""
    m, sec = divmod(round(seconds), 60)
    return f"{m} min {sec} s" if m else f"{sec} s"


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The session summary as (label, value) rows a therapist reads: units, nothing empty."""
    rows = [("state", str(summary.get("state", "?")))]
    if summary.get("reason"):
        rows.append(("why", str(summary["reason"])))
    if isinstance(summary.get("duration_s"), int | float):
        rows.append(("duration", _minutes(summary["duration_s"])))
    planned, delivered = summary.get("pulses_planned"), summary.get("pulses_delivered")
    if planned:
        rows.append(("pulses", f"{delivered or 0} of {planned} delivered"))
        for key, label in (
            ("pulses_missed", "pulses missed"),
            ("trains_refused", "trains refused"),
        ):
            if summary.get(key):
                rows.append((label, str(summary[key])))
    rows.append(("e-stops", str(summary.get("estops") or 0)))
    for f in summary.get("device_faults") or []:
        what = "paused (plan: pause)" if f.get("action") == "pause" else "emergency stop"
        back = " · stimulator reconnected" if f.get("reconnected_t") is not None else ""
        rows.append(
            (
                "device fault",
                f"{what} at {float(f['t']):.2f} s, disarm {f.get('disarm')}{back}: {f.get('cause')}",
            )
        )
    rows.append(("cues", str(summary.get("cues") or 0)))
    ratings = summary.get("ratings") or {}
    if ratings:
        pain = " · ".join(f"{k} {v:g}" for k, v in ratings.items() if isinstance(v, int | float))
        change = summary.get("pain_change")
        if isinstance(change, int | float):
            pain += f" (change {change:+g})"
        rows.append(("pain (0-10)", pain))
    lat = summary.get("laterality") or {}
    if lat.get("trials"):
        text = f"{lat.get('correct', 0)} of {lat['trials']} correct"
        if isinstance(lat.get("median_rt_s"), int | float):
            text += f", median {lat['median_rt_s']:.2f} s"
        rows.append(("laterality", text))
    mt = summary.get("motor_threshold") or {}
    if isinstance(mt.get("rmt_pct_mso"), int | float):
        rows.append(("motor threshold", f"{mt['rmt_pct_mso']:g} % MSO ({mt.get('method', '?')})"))
    elif mt.get("status"):
        rows.append(("motor threshold", f"none ({mt.get('stop_reason') or mt['status']})"))
    pme = summary.get("phantom_motor_execution") or {}
    if pme.get("tasks"):
        text = f"{pme.get('completed', 0)} of {pme['tasks']} target tasks completed"
        if isinstance(pme.get("median_completion_s"), int | float):
            text += f", median {pme['median_completion_s']:.1f} s"
        rows.append(("phantom motor execution", text))
    if summary.get("resumes"):
        rows.append(("resumed", f"{summary['resumes']} time(s)"))
    return rows


def print_summary(summary: dict[str, Any], folder: Path) -> None:
    """The session summary as a two-column table."""
    table = Table(title=f"Session {folder}", show_header=False)
    for label, value in summary_rows(summary):
        table.add_row(label, value)
    out.print(table)
    for warning in summary.get("disarm_warnings") or []:
        # loud, on stderr too: the log does not claim a disarm the device did not confirm
        err.print(f"[bold red]!!! {escape(warning)}[/bold red]")


def store(db: Path | None) -> Any:
    """The clinic store at ``db`` (default: $MIRRORVR_CLINIC_DB or the user data dir)."""
    from mirrorvr.clinic.store import ClinicStore

    return ClinicStore(db)

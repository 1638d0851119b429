"""``mirrorvr patients … | rate | console``: the clinic store and the therapist console."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mirrorvr.cli.common import DbOpt, out, parse_date, store
from mirrorvr.errors import MirrorVRError

patients_app = typer.Typer(help="Patients in the clinic store.", no_args_is_help=True)


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
    day = parse_date(amputated_on, "--date") if amputated_on else None
    with store(db) as s:
        p = s.add_patient(patient_id, side, level, day, notes)
        s.audit("cli", "patient_added", p.id)
    out.print(f"added patient {p.id} ({p.amputation_side} {p.amputation_level})")


@patients_app.command("list")
def patients_list(db: DbOpt = None) -> None:
    """List patients with their session count and latest threshold."""
    with store(db) as s:
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

    with store(db) as s:
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
    with store(db) as s:
        t = s.record_threshold(patient_id, rmt, method)
        s.audit("cli", "threshold_recorded", patient_id, rmt_pct_mso=rmt, method=method)
    out.print(f"{patient_id}: threshold {t.rmt_pct_mso:g} % MSO ({t.method}) on {t.date}")


@patients_app.command("screen")
def patients_screen(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    yes: Annotated[
        list[str] | None, typer.Option("--yes", help="An item answered yes (repeat for more).")
    ] = None,
    no: Annotated[
        list[str] | None, typer.Option("--no", help="An item answered no (repeat for more).")
    ] = None,
    all_no: Annotated[
        bool,
        typer.Option("--all-no", help="Every item not given with --yes was asked and answered no."),
    ] = False,
    cleared_by: Annotated[str, typer.Option(help="Physician who weighed any yes.")] = "",
    db: DbOpt = None,
) -> None:
    """Record a TMS screening: --yes/--no per item (or --all-no); items not given: not asked."""
    from mirrorvr.clinic.screening import ITEMS, screening_status

    yes_set, no_set = set(yes or []), set(no or [])
    unknown = (yes_set | no_set) - set(ITEMS)
    if unknown:
        raise MirrorVRError(f"{', '.join(sorted(unknown))}: items are {', '.join(ITEMS)}")
    if yes_set & no_set:
        raise MirrorVRError(f"answered both yes and no: {', '.join(sorted(yes_set & no_set))}")
    if not (yes_set or no_set or all_no):
        raise MirrorVRError(
            "an empty screening form: answer every item with --yes ITEM / --no ITEM, or give "
            "--all-no if the patient answered no to every question not given with --yes"
        )
    answers: dict[str, bool | None] = {
        k: True if k in yes_set else False if (k in no_set or all_no) else None for k in ITEMS
    }
    with store(db) as s:
        sc = s.record_screening(patient_id, answers, cleared_by=cleared_by)
        st = screening_status(sc, dt.date.today())
        s.audit("cli", "screening_recorded", patient_id, yes=sc.yes_items, cleared=st.cleared)
    out.print(f"{patient_id}: {'cleared' if st.cleared else 'NOT cleared'} ({st.reason})")


def rate(
    patient_id: Annotated[str, typer.Argument(help="Patient id.")],
    value: Annotated[float, typer.Argument(help="Pain rating (NRS 0-10, or VAS 0-100 mm).")],
    timepoint: Annotated[
        str,
        typer.Option(
            help="When it was rated: pre, post, during, end-of-treatment, or follow-up-N "
            "with a unit (e.g. follow-up-3m, follow-up-6w). Required: a rating filed under "
            "the wrong timepoint would skew the outcome tables."
        ),
    ],
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
    with store(db) as s:
        r = s.add_rating(
            patient_id, value, timepoint=timepoint, scale=scale, session_id=session, items=items
        )
        s.audit("cli", "rating_recorded", patient_id, timepoint=r.timepoint, value=r.value)
    out.print(f"{patient_id}: {r.scale.upper()} {r.value:g} ({r.timepoint}) on {r.date}")


def console(
    host: Annotated[
        str, typer.Option(help="Address to bind (default: this computer only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1-65535).", min=1, max=65535)] = 8765,
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
    with store(db) as s:
        server = ConsoleServer(s, access, port=port, sessions_dir=sessions_dir)
        out.print(f"clinic database: {s.path}")
        if access.lan:
            out.print(
                "[yellow]serving the LAN: anyone with the address below can control it[/yellow]"
            )
        out.print(f"open: {server.url}", highlight=False, soft_wrap=True)
        server.serve()


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(patients_app, name="patients")
    app.command()(rate)
    app.command()(console)

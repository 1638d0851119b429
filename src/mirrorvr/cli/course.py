"""``mirrorvr course …``: eligibility, a patient's course, its visits (parsing and printing only).

Nothing here prints a trial arm: a patient in a trial is shown as "allocation blinded" (the
operator's view is ``mirrorvr trial operator``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mirrorvr.cli.common import DbOpt, out, parse_date, store
from mirrorvr.errors import MirrorVRError

course_app = typer.Typer(
    help="Courses of treatment: eligibility, sessions, boosters, follow-ups.", no_args_is_help=True
)

PatientArg = Annotated[str, typer.Argument(help="Patient id.")]
DateOpt = Annotated[str | None, typer.Option("--date", help="Date (YYYY-MM-DD, default today).")]


def _day(value: str | None) -> dt.date:
    return parse_date(value, "--date") if value else dt.date.today()


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    outd: dict[str, str] = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise MirrorVRError(f"{option} {v}: write KEY=VALUE")
        outd[key] = val
    return outd


@course_app.command("eligibility")
def eligibility(
    patient_id: PatientArg,
    answer: Annotated[
        list[str] | None,
        typer.Option(
            "--answer",
            help="ITEM=yes|no|not_asked (repeat); items not given are stored as not asked.",
        ),
    ] = None,
    detail: Annotated[
        list[str] | None,
        typer.Option(
            "--detail", help="ITEM.FIELD=VALUE, e.g. depression_screened.phq9=12 (repeat)."
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who asked.")] = "",
    date: DateOpt = None,
    db: DbOpt = None,
) -> None:
    """Record eligibility answers (with --answer), then show the verdict."""
    from mirrorvr.clinic.course_store import CourseStore
    from mirrorvr.clinic.eligibility import ITEMS

    with store(db) as s:
        cs = CourseStore(s)
        if answer or detail:
            raw: dict[str, Any] = {k: {"answer": v} for k, v in _pairs(answer, "--answer").items()}
            for key, val in _pairs(detail, "--detail").items():
                item, dot, field = key.partition(".")
                if not dot or item not in ITEMS:
                    raise MirrorVRError(
                        f"--detail {key}: write ITEM.FIELD=VALUE with an item of {', '.join(ITEMS)}"
                    )
                num: Any = val
                try:
                    num = float(val)
                except ValueError:
                    pass
                raw.setdefault(item, {"answer": "yes"})[field] = num
            cs.record_eligibility(patient_id, raw, recorded_by=by)
            s.audit("cli", "eligibility_recorded", patient_id)
        v = cs.eligibility_verdict(patient_id, _day(date))
    out.print(
        f"{patient_id}: {'a course may start' if v.may_start else 'a course may NOT start'}",
        highlight=False,
    )
    for f in v.findings:
        out.print(f"  {f.level:7} {f.item}: {f.message}", highlight=False)


@course_app.command("blocking")
def blocking(
    items: Annotated[
        list[str] | None, typer.Argument(help="Items that block a course (none: show).")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Show or set the eligibility items this clinic makes blocking."""
    from mirrorvr.clinic.course_store import CourseStore

    with store(db) as s:
        cs = CourseStore(s)
        if items:
            cs.set_blocking_items(items)
        out.print("blocking: " + ", ".join(sorted(cs.blocking_items())), highlight=False)


@course_app.command("start")
def start(
    patient_id: PatientArg,
    course_file: Annotated[str, typer.Argument(help="Course TOML (configs/courses/).")],
    baseline: Annotated[
        float | None, typer.Option(help="Pain NRS 0-10 at the start (the course baseline).")
    ] = None,
    retreatment: Annotated[
        bool, typer.Option("--retreatment", help="A re-treatment course.")
    ] = False,
    date: DateOpt = None,
    db: DbOpt = None,
) -> None:
    """Start a course for a patient (after checking eligibility)."""
    from mirrorvr.clinic.course import load_course
    from mirrorvr.clinic.course_store import CourseStore

    course = load_course(course_file)
    day = _day(date)
    with store(db) as s:
        cs = CourseStore(s)
        rec = cs.start_course(
            patient_id,
            course,
            day=day,
            baseline=baseline,
            kind="retreatment" if retreatment else "course",
        )
        if baseline is not None:
            s.add_rating(patient_id, baseline, timepoint="pre", date=day)
    out.print(
        f"{patient_id}: course {rec.id} '{rec.name}' started {rec.started} "
        f"({course.spec.sessions} sessions)",
        highlight=False,
    )


def _status_lines(patient_id: str, db: Path | None, day: dt.date) -> dict[str, Any]:
    from mirrorvr.clinic.course_view import course_view

    with store(db) as s:
        s.patient(patient_id)
        view = course_view(s, patient_id, day)
    if view["course"] is None:
        raise MirrorVRError(
            f"patient '{patient_id}' has no course: start one with `mirrorvr course start "
            f"{patient_id} COURSE.toml`"
        )
    return view


@course_app.command("show")
def show(
    patient_id: PatientArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    date: DateOpt = None,
    db: DbOpt = None,
) -> None:
    """Where the patient stands: sessions done and due, adherence, pain, responders, advice."""
    v = _status_lines(patient_id, db, _day(date))
    if as_json:
        out.print_json(json.dumps(v, default=str))
        return
    c = v["course"]
    out.print(f"[bold]{c['name']}[/bold] ({c['kind']}, {c['status']}, started {c['started']})")
    if v["trial"]:
        out.print(f"trial {v['trial']['id']}: allocation blinded", highlight=False)
    adherence = "-" if c["adherence"] is None else f"{100 * c['adherence']:.0f} %"
    out.print(
        f"sessions {c['sessions_done']} done of {c['sessions_total']}, {c['sessions_missed']} "
        f"missed, {c['boosters_done']} booster(s); adherence {adherence}",
        highlight=False,
    )
    pc = "-" if c["pct_change"] is None else f"{c['pct_change']:+.0f} %"
    out.print(f"pain: baseline {c['baseline']} -> latest {c['latest']} ({pc})", highlight=False)
    out.print(
        "responders: "
        + ", ".join(
            f"{k} {'-' if r is None else ('yes' if r else 'no')}"
            for k, r in c["responders"].items()
        ),
        highlight=False,
    )
    if c["interrupted"]:
        out.print(f"interrupted: {c['interrupted']}", highlight=False)
    if c["suggestion"]:
        out.print(c["suggestion"], highlight=False)
    table = Table("visit", "date", "status")
    for visit in c["visits"]:
        table.add_row(visit["label"], visit["date"], visit["status"])
    out.print(table)
    table = Table("date", "timepoint", "NRS")
    for t in c["trajectory"]:
        table.add_row(t["date"], t["timepoint"], f"{t['nrs']:g}")
    out.print(table)


@course_app.command("next")
def next_visit(patient_id: PatientArg, date: DateOpt = None, db: DbOpt = None) -> None:
    """The next visit: what, when, with which plan or instruments, and why."""
    c = _status_lines(patient_id, db, _day(date))["course"]
    n = c["next"]
    if n is None:
        out.print(f"{patient_id}: nothing due", highlight=False)
    else:
        when = f"due {n['due']}" + (f", at the latest {n['latest']}" if n["latest"] else "")
        what = f"plan {n['plan']}" if n["plan"] else "collect " + ", ".join(n["instruments"])
        out.print(f"{patient_id}: {n['label']} {when}; {what}", highlight=False)
    if c["suggestion"]:
        out.print(c["suggestion"], highlight=False)


@course_app.command("record")
def record(
    patient_id: PatientArg,
    kind: Annotated[str, typer.Argument(help="session, booster or follow-up.")],
    number: Annotated[
        int | None, typer.Option(help="Visit number (default: the next one).")
    ] = None,
    missed: Annotated[bool, typer.Option("--missed", help="The visit did not happen.")] = False,
    session: Annotated[int | None, typer.Option(help="The session id this visit was.")] = None,
    outcome: Annotated[
        list[str] | None,
        typer.Option("--outcome", help="Follow-up instrument, e.g. nrs_now=4 (repeat for each)."),
    ] = None,
    date: DateOpt = None,
    db: DbOpt = None,
) -> None:
    """Record a visit of the patient's course (refused if out of order)."""
    from mirrorvr.clinic.course_store import CourseStore

    outcomes: dict[str, float] = {}
    for key, val in _pairs(outcome, "--outcome").items():
        try:
            outcomes[key] = float(val)
        except ValueError:
            raise MirrorVRError(f"--outcome {key}={val}: the value must be a number") from None
    with store(db) as s:
        v = CourseStore(s).record_visit(
            patient_id,
            kind,
            day=_day(date),
            number=number,
            status="missed" if missed else "done",
            session_id=session,
            outcomes=outcomes,
        )
    out.print(f"{patient_id}: {v.label} on {v.date} recorded ({v.status})", highlight=False)


@course_app.command("end")
def end(
    patient_id: PatientArg,
    status: Annotated[str, typer.Argument(help="completed, withdrawn or lost.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    db: DbOpt = None,
) -> None:
    """Mark the current course completed, withdrawn or lost to follow-up."""
    from mirrorvr.clinic.course_store import CourseStore

    with store(db) as s:
        cs = CourseStore(s)
        rec = cs.current_course(patient_id)
        cs.set_course_status(rec.id, status, reason)
    out.print(f"{patient_id}: course {rec.id} {status}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(course_app, name="course")

"""Eligibility, courses and their visits in the clinic store (tables of migration 2).

:class:`CourseStore` works over a :class:`~mirrorvr.clinic.store.ClinicStore` and its one SQLite
connection; every write is one ``BEGIN IMMEDIATE`` transaction. Recording a visit reads the
course's visits *inside* that transaction, so two sessions of one course finishing at once (two
processes) get consecutive numbers instead of both claiming the same one.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from typing import Any

from mirrorvr.clinic.course import (
    Course,
    CourseError,
    CourseSpec,
    CourseStatus,
    Visit,
    check_outcomes,
    check_visit,
    course_status,
)
from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.eligibility import (
    DEFAULT_BLOCKING,
    ITEMS,
    EligibilityError,
    ItemAnswer,
    Verdict,
    answers_to_json,
    check_answers,
    evaluate,
)
from mirrorvr.clinic.outcomes import check_rating
from mirrorvr.clinic.store_view import StoreView, now_stamp


@dataclass(frozen=True)
class CourseRecord:
    """A course as stored for a patient."""

    id: int
    patient_id: str
    name: str
    spec: CourseSpec
    spec_toml: str
    kind: str
    started: dt.date
    baseline: float | None
    trial_id: str | None
    status: str
    status_reason: str


@dataclass(frozen=True)
class EligibilityRecord:
    """The latest eligibility answers of a patient."""

    recorded: str
    recorded_by: str
    answers: dict[str, ItemAnswer]


class CourseStore(StoreView):
    """Eligibility and courses of treatment, over one clinic store."""

    # ---- clinic settings: which eligibility items block -----------------------------------
    def blocking_items(self) -> frozenset[str]:
        """The items this clinic made blocking (default: seizure history, head hardware)."""
        rows = self._rows("SELECT value FROM clinic_settings WHERE key = 'eligibility.blocking'")
        return frozenset(json.loads(rows[0]["value"])) if rows else DEFAULT_BLOCKING

    def set_blocking_items(self, items: list[str], actor: str = "cli") -> None:
        """Make exactly ``items`` blocking (any eligibility item or time_since_amputation)."""
        allowed = {*ITEMS, "time_since_amputation"}
        bad = [i for i in items if i not in allowed]
        if bad:
            raise EligibilityError(
                f"blocking item(s) {', '.join(bad)} unknown: use {', '.join(sorted(allowed))}"
            )
        with self._write() as c:
            c.execute(
                "INSERT INTO clinic_settings (key, value) VALUES ('eligibility.blocking', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (json.dumps(sorted(set(items))),),
            )
        self.store.audit(actor, "eligibility_blocking_set", None, items=sorted(set(items)))

    # ---- eligibility ------------------------------------------------------------------------
    def record_eligibility(
        self, patient_id: str, answers: dict[str, Any], recorded_by: str = ""
    ) -> EligibilityRecord:
        """Store eligibility answers; items left out are stored as ``not_asked``."""
        self.store.patient(patient_id)
        parsed = check_answers(answers)
        with self._write() as c:
            c.execute(
                "INSERT INTO eligibility (patient_id, recorded, recorded_by, answers) "
                "VALUES (?, ?, ?, ?)",
                (patient_id, now_stamp(), recorded_by, json.dumps(answers_to_json(parsed))),
            )
        rec = self.eligibility(patient_id)
        assert rec is not None
        return rec

    def eligibility(self, patient_id: str) -> EligibilityRecord | None:
        """The latest answers, or None when none were recorded."""
        rows = self._rows(
            "SELECT * FROM eligibility WHERE patient_id = ? ORDER BY id DESC LIMIT 1", patient_id
        )
        if not rows:
            return None
        r = rows[0]
        return EligibilityRecord(
            r["recorded"], r["recorded_by"], check_answers(json.loads(r["answers"]))
        )

    def eligibility_verdict(self, patient_id: str, today: dt.date) -> Verdict:
        """The verdict with this clinic's blocking items (every item not asked if none stored)."""
        p = self.store.patient(patient_id)
        rec = self.eligibility(patient_id)
        answers = rec.answers if rec else check_answers({})
        return evaluate(
            answers, amputation_date=p.amputation_date, today=today, blocking=self.blocking_items()
        )

    # ---- courses ----------------------------------------------------------------------------
    def start_course(
        self,
        patient_id: str,
        course: Course,
        *,
        day: dt.date,
        baseline: float | None = None,
        kind: str = "course",
        trial_id: str | None = None,
        actor: str = "cli",
    ) -> CourseRecord:
        """Start ``course`` for a patient after checking eligibility (EligibilityError if not)."""
        verdict = self.eligibility_verdict(patient_id, day)
        if not verdict.may_start:
            raise EligibilityError(
                f"patient '{patient_id}' may not start a course: "
                + "; ".join(f"{f.item}: {f.message}" for f in verdict.blocking)
                + " (record answers with `mirrorvr course eligibility`)"
            )
        if baseline is not None:
            check_rating(baseline, "nrs", "pre")
        if kind not in ("course", "retreatment"):
            raise CourseError(f"course kind '{kind}': use course or retreatment")
        with self._write() as c:
            active = c.execute(
                "SELECT id, name FROM courses WHERE patient_id = ? AND status = 'active'",
                (patient_id,),
            ).fetchall()
            if active:
                raise CourseError(
                    f"patient '{patient_id}' already has an active course ({active[0]['name']}, "
                    f"id {active[0]['id']}): finish or withdraw it first"
                )
            cur = c.execute(
                "INSERT INTO courses (patient_id, name, spec_toml, kind, started, baseline, "
                "trial_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    patient_id,
                    course.spec.course.name,
                    course.toml,
                    kind,
                    day.isoformat(),
                    baseline,
                    trial_id,
                    now_stamp(),
                ),
            )
            cid = cur.lastrowid
        assert cid is not None
        self.store.audit(
            actor, "course_started", patient_id, course_id=cid, name=course.spec.course.name
        )
        return self.course(cid)

    @staticmethod
    def _record(r: Any) -> CourseRecord:
        spec = CourseSpec.model_validate(tomllib.loads(r["spec_toml"]))
        return CourseRecord(
            r["id"],
            r["patient_id"],
            r["name"],
            spec,
            r["spec_toml"],
            r["kind"],
            dt.date.fromisoformat(r["started"]),
            r["baseline"],
            r["trial_id"],
            r["status"],
            r["status_reason"],
        )

    def course(self, course_id: int) -> CourseRecord:
        """A course by id."""
        rows = self._rows("SELECT * FROM courses WHERE id = ?", course_id)
        if not rows:
            raise StoreError(f"no course {course_id} in {self.store.path}")
        return self._record(rows[0])

    def courses(self, patient_id: str) -> list[CourseRecord]:
        """A patient's courses, oldest first."""
        return [
            self._record(r)
            for r in self._rows(
                "SELECT * FROM courses WHERE patient_id = ? ORDER BY started, id", patient_id
            )
        ]

    def current_course(self, patient_id: str) -> CourseRecord:
        """The active course, else the latest one; StoreError naming what to do if none."""
        self.store.patient(patient_id)
        cs = self.courses(patient_id)
        active = [c for c in cs if c.status == "active"]
        if active:
            return active[-1]
        if cs:
            return cs[-1]
        raise StoreError(
            f"patient '{patient_id}' has no course: start one with `mirrorvr course start "
            f"{patient_id} COURSE.toml`"
        )

    def set_course_status(
        self, course_id: int, status: str, reason: str = "", actor: str = "cli"
    ) -> None:
        """Mark a course completed, withdrawn or lost (to follow-up), with a reason."""
        if status not in ("active", "completed", "withdrawn", "lost"):
            raise CourseError(f"course status '{status}': use completed, withdrawn or lost")
        rec = self.course(course_id)
        with self._write() as c:
            c.execute(
                "UPDATE courses SET status = ?, status_reason = ? WHERE id = ?",
                (status, reason, course_id),
            )
        self.store.audit(actor, "course_status", rec.patient_id, course_id=course_id, status=status)

    def visits(self, course_id: int) -> list[Visit]:
        """The course's recorded visits, in date order."""
        return [
            Visit(
                r["kind"],
                r["number"],
                r["label"],
                dt.date.fromisoformat(r["date"]),
                r["status"],
                r["session_id"],
                json.loads(r["outcomes"]),
            )
            for r in self._rows(
                "SELECT * FROM course_visits WHERE course_id = ? ORDER BY date, id", course_id
            )
        ]

    def record_visit(
        self,
        patient_id: str,
        kind: str,
        *,
        day: dt.date,
        number: int | None = None,
        status: str = "done",
        session_id: int | None = None,
        outcomes: dict[str, float] | None = None,
        actor: str = "cli",
    ) -> Visit:
        """Record the next (or the given) visit of the patient's active course.

        The order is checked against the visits already stored, inside the same transaction.
        A follow-up's pain now (``nrs_now`` / ``vas_now``) is also stored as a rating with the
        follow-up's timepoint, so it is on the pain trend and the course trajectory.
        """
        rec = self.current_course(patient_id)
        # a completed course still takes boosters and follow-ups; withdrawn or lost takes nothing
        if rec.status != "active" and not (rec.status == "completed" and kind != "session"):
            raise CourseError(
                f"patient '{patient_id}': course {rec.id} is {rec.status}; start a new one"
            )
        if status not in ("done", "missed"):
            raise CourseError(f"visit status '{status}': use done or missed")
        if session_id is not None and self.store.session(session_id).patient_id != patient_id:
            raise CourseError(f"session {session_id} is not a session of patient '{patient_id}'")
        outcomes = dict(outcomes or {})
        spec = rec.spec
        with self._write() as c:
            visits = [
                Visit(
                    r["kind"],
                    r["number"],
                    r["label"],
                    dt.date.fromisoformat(r["date"]),
                    r["status"],
                )
                for r in c.execute(
                    "SELECT kind, number, label, date, status FROM course_visits "
                    "WHERE course_id = ? ORDER BY date, id",
                    (rec.id,),
                ).fetchall()
            ]
            n = number
            if n is None:
                n = sum(1 for v in visits if v.kind == kind) + 1
            check_visit(spec, visits, kind, n, day, rec.started)
            if kind == "follow-up":
                fu = spec.follow_ups[n - 1]
                label = f"follow-up {fu.label}"
                if status == "done":
                    check_outcomes(fu.instruments, outcomes, f"{label} of patient '{patient_id}'")
            else:
                label = f"{kind} {n}"
                if outcomes:
                    check_outcomes([], outcomes, f"{label} of patient '{patient_id}'")
            c.execute(
                "INSERT INTO course_visits (course_id, kind, number, label, date, status, "
                "session_id, outcomes, recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    kind,
                    n,
                    label,
                    day.isoformat(),
                    status,
                    session_id,
                    json.dumps(outcomes),
                    now_stamp(),
                ),
            )
            if kind == "follow-up" and status == "done":
                fu = spec.follow_ups[n - 1]
                for key, scale in (("nrs_now", "nrs"), ("vas_now", "vas")):
                    if key in outcomes:
                        c.execute(
                            "INSERT INTO ratings (patient_id, session_id, date, timepoint, scale, "
                            "value, source) VALUES (?, NULL, ?, ?, ?, ?, 'manual')",
                            (
                                patient_id,
                                day.isoformat(),
                                f"follow-up-{fu.label}",
                                scale,
                                float(outcomes[key]),
                            ),
                        )
                        break
        self.store.audit(
            actor, "course_visit", patient_id, course_id=rec.id, visit=label, status=status
        )
        return next(v for v in self.visits(rec.id) if v.kind == kind and v.number == n)

    def status(self, patient_id: str, today: dt.date) -> tuple[CourseRecord, CourseStatus]:
        """The current course and where the patient stands in it."""
        rec = self.current_course(patient_id)
        ratings = self.store.ratings(patient_id)
        return rec, course_status(
            rec.spec, rec.started, rec.baseline, self.visits(rec.id), ratings, today
        )

    def complete_without_log(self, session_id: int, pulses: int, note: str) -> None:
        """Mark a session completed with ``pulses`` delivered, for a run that kept no event log.

        Only the simulated cohort's light path uses this (docs/courses-and-trials.md): the plan
        was fitted and checked by the governor and its pulses counted from the compiled
        timeline, but no session ran, so there is no ``events.jsonl`` to import. The deviation
        list says so, so no table built from the store can mistake it for a logged session.
        """
        rec = self.store.session(session_id)
        if rec.status != "planned":
            raise StoreError(f"session {session_id} is {rec.status}, not planned")
        with self._write() as c:
            c.execute(
                "UPDATE sessions SET status = 'completed', pulses_delivered = ?, estops = 0, "
                "deviations = ? WHERE id = ?",
                (pulses, json.dumps([note]), session_id),
            )

    def attach_session(self, session_id: int, actor: str = "session") -> Visit | None:
        """Count a finished session as the next visit of its patient's active course.

        A course session while course sessions remain, else a booster while boosters remain;
        nothing (None) when the patient has no active course, the session did not complete, or
        the visit would be out of order (a second session on a day the course allows one).
        """
        rec = self.store.session(session_id)
        if rec.status != "completed":
            return None
        active = [c for c in self.courses(rec.patient_id) if c.status == "active"]
        if not active:
            return None
        course = active[-1]
        if any(v.session_id == session_id for v in self.visits(course.id)):
            return None
        done = sum(1 for v in self.visits(course.id) if v.kind == "session")
        kind = "session" if done < course.spec.sessions else "booster"
        try:
            return self.record_visit(
                rec.patient_id, kind, day=rec.date, session_id=session_id, actor=actor
            )
        except CourseError:
            return None

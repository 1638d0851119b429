"""The clinic store: patients, screening, motor thresholds, sessions, ratings, GMI progress, audit.

One :class:`ClinicStore` wraps one SQLite connection (WAL mode, see :mod:`mirrorvr.clinic.db`).
It is safe to share between threads (calls are serialised) and any number of processes may
open the same file. Every write is one ``BEGIN IMMEDIATE … COMMIT`` transaction: once a method
returns, its rows are on disk; a crash before that leaves nothing half-written.

The session folder's ``events.jsonl`` is authoritative for what happened in a session. What the
database copies from it (pulses delivered, emergency stops, deviations, in-headset ratings) is
written only by :meth:`ClinicStore.import_session_log`, which first checks that earlier copies
still agree with the log.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mirrorvr.clinic.db import StoreError, connect, default_db_path
from mirrorvr.clinic.outcomes import check_items, check_rating
from mirrorvr.clinic.records import (
    Patient,
    Rating,
    Screening,
    SessionRecord,
    ThresholdRecord,
)
from mirrorvr.config.plan import LOWER_LEVELS, UPPER_LEVELS
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.summary import delivered_pulses

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: amputation levels a patient record may hold: the plan's upper- and lower-limb levels
LEVELS = (*UPPER_LEVELS, *LOWER_LEVELS, "other")
THRESHOLD_METHODS = ("5-10", "ml-pest", "two-threshold", "visual", "other")
GMI_STAGES = ("laterality", "imagery", "mirror", "functional")


class ReservationRefused(StoreError):
    """A session's pulses do not fit into what remains of the patient's daily limit."""

    def __init__(self, patient_id: str, wanted: int, remaining: int, limit: int) -> None:
        self.remaining = remaining
        super().__init__(
            f"patient {patient_id}: this session needs {wanted} pulses but only {remaining} "
            f"remain today (daily limit {limit}, counting sessions running now); "
            "no pulse was given"
        )


def _date(v: str | None) -> dt.date | None:
    return dt.date.fromisoformat(v) if v else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class ClinicStore:
    """Patients and their treatment history in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._conn = connect(self.path)
        self._lock = threading.RLock()

    # ---- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ClinicStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def schema_version(self) -> int:
        """The database's schema version."""
        return int(self._rows("PRAGMA user_version")[0][0])

    # ---- patients -------------------------------------------------------------------------
    def add_patient(
        self,
        patient_id: str,
        amputation_side: str,
        amputation_level: str = "transradial",
        amputation_date: dt.date | None = None,
        notes: str = "",
    ) -> Patient:
        """Register a patient under a pseudonymous id (never a name)."""
        if not _ID.match(patient_id):
            raise StoreError(
                f"patient id '{patient_id}': use 1-64 letters, digits, '.', '_' or '-' "
                "(a pseudonym, never a name)"
            )
        if amputation_side not in ("left", "right"):
            raise StoreError(f"amputation side '{amputation_side}': use left or right")
        if amputation_level not in LEVELS:
            raise StoreError(
                f"amputation level '{amputation_level}': use one of {', '.join(LEVELS)}"
            )
        if amputation_date is not None and amputation_date > dt.date.today():
            raise StoreError(f"amputation date {amputation_date} is in the future")
        try:
            with self._write() as c:
                c.execute(
                    "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        patient_id,
                        amputation_side,
                        amputation_level,
                        amputation_date.isoformat() if amputation_date else None,
                        notes,
                        _now(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise StoreError(f"patient '{patient_id}' already exists") from None
        return self.patient(patient_id)

    def patient(self, patient_id: str) -> Patient:
        """The patient with this id, or a StoreError saying it is unknown."""
        rows = self._rows("SELECT * FROM patients WHERE id = ?", patient_id)
        if not rows:
            raise StoreError(
                f"no patient '{patient_id}' in {self.path} (`mirrorvr patients list` shows them)"
            )
        return self._patient(rows[0])

    @staticmethod
    def _patient(r: sqlite3.Row) -> Patient:
        return Patient(
            r["id"],
            r["amputation_side"],
            r["amputation_level"],
            _date(r["amputation_date"]),
            r["notes"],
            r["created"],
        )

    def patients(self) -> list[Patient]:
        """Every patient, by id."""
        return [self._patient(r) for r in self._rows("SELECT * FROM patients ORDER BY id")]

    def set_patient_notes(self, patient_id: str, notes: str) -> None:
        """Replace a patient's free-text notes."""
        self.patient(patient_id)
        with self._write() as c:
            c.execute("UPDATE patients SET notes = ? WHERE id = ?", (notes, patient_id))

    # ---- screening and motor threshold ----------------------------------------------------
    def record_screening(
        self,
        patient_id: str,
        answers: Mapping[str, bool | None],
        *,
        date: dt.date | None = None,
        cleared_by: str = "",
        notes: str = "",
    ) -> Screening:
        """Store a screening questionnaire (True yes, False no, None or missing: not asked).

        An empty form (nothing answered) is refused; a partial one is stored but does not clear
        the patient (:func:`mirrorvr.clinic.screening.screening_status` names what is missing).
        """
        from mirrorvr.clinic.screening import check_answers

        self.patient(patient_id)
        answers = check_answers(answers)
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO screenings (patient_id, date, answers, cleared_by, notes) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    patient_id,
                    (date or dt.date.today()).isoformat(),
                    json.dumps(dict(answers)),
                    cleared_by,
                    notes,
                ),
            )
            rowid = cur.lastrowid
        s = self.latest_screening(patient_id)
        assert s is not None and s.id == rowid
        return s

    def latest_screening(self, patient_id: str) -> Screening | None:
        """The most recent screening, if any."""
        rows = self._rows(
            "SELECT * FROM screenings WHERE patient_id = ? ORDER BY date DESC, id DESC LIMIT 1",
            patient_id,
        )
        if not rows:
            return None
        r = rows[0]
        return Screening(
            r["id"],
            r["patient_id"],
            dt.date.fromisoformat(r["date"]),
            json.loads(r["answers"]),
            r["cleared_by"],
            r["notes"],
        )

    def record_threshold(
        self,
        patient_id: str,
        rmt_pct_mso: float,
        method: str,
        *,
        date: dt.date | None = None,
    ) -> ThresholdRecord:
        """Store a resting motor threshold (% of maximum stimulator output)."""
        self.patient(patient_id)
        if not 0 < rmt_pct_mso <= 100:
            raise StoreError(f"motor threshold {rmt_pct_mso:g} % MSO: must be above 0 and ≤ 100")
        if method not in THRESHOLD_METHODS:
            raise StoreError(
                f"threshold method '{method}': use one of {', '.join(THRESHOLD_METHODS)}"
            )
        day = date or dt.date.today()
        if day > dt.date.today():
            raise StoreError(f"threshold date {day} is in the future")
        with self._write() as c:
            c.execute(
                "INSERT INTO motor_thresholds (patient_id, date, rmt_pct_mso, method) "
                "VALUES (?, ?, ?, ?)",
                (patient_id, day.isoformat(), float(rmt_pct_mso), method),
            )
        t = self.latest_threshold(patient_id)
        assert t is not None
        return t

    def thresholds(self, patient_id: str) -> list[ThresholdRecord]:
        """Every threshold on record, oldest first."""
        return [
            ThresholdRecord(
                r["id"],
                r["patient_id"],
                dt.date.fromisoformat(r["date"]),
                r["rmt_pct_mso"],
                r["method"],
            )
            for r in self._rows(
                "SELECT * FROM motor_thresholds WHERE patient_id = ? ORDER BY date, id",
                patient_id,
            )
        ]

    def latest_threshold(self, patient_id: str) -> ThresholdRecord | None:
        """The most recent threshold, if any."""
        ts = self.thresholds(patient_id)
        return ts[-1] if ts else None

    # ---- sessions -------------------------------------------------------------------------
    def create_session(
        self,
        patient_id: str,
        *,
        plan_name: str,
        plan_toml: str,
        folder: str | Path,
        pulses_planned: int,
        date: dt.date | None = None,
    ) -> int:
        """Register a session about to run in ``folder``; returns its id."""
        self.patient(patient_id)
        try:
            with self._write() as c:
                cur = c.execute(
                    "INSERT INTO sessions (patient_id, date, plan_name, plan_toml, folder, "
                    "status, pulses_planned) VALUES (?, ?, ?, ?, ?, 'planned', ?)",
                    (
                        patient_id,
                        (date or dt.date.today()).isoformat(),
                        plan_name,
                        plan_toml,
                        str(Path(folder).resolve()),
                        pulses_planned,
                    ),
                )
                assert cur.lastrowid is not None
                return cur.lastrowid
        except sqlite3.IntegrityError:
            raise StoreError(f"session folder {folder} is already linked to a session") from None

    def set_session_status(self, session_id: int, status: str) -> None:
        """Mark a session running (the final status always comes from its log)."""
        with self._write() as c:
            c.execute("UPDATE sessions SET status = ? WHERE id = ?", (status, session_id))

    def session(self, session_id: int) -> SessionRecord:
        """One session with its adverse events."""
        rows = self._rows("SELECT * FROM sessions WHERE id = ?", session_id)
        if not rows:
            raise StoreError(f"no session {session_id} in {self.path}")
        return self._session(rows[0])

    def _session(self, r: sqlite3.Row) -> SessionRecord:
        aes = [
            dict(a)
            for a in self._rows(
                "SELECT recorded, description, severity, relatedness, action "
                "FROM adverse_events WHERE session_id = ? ORDER BY id",
                r["id"],
            )
        ]
        return SessionRecord(
            r["id"],
            r["patient_id"],
            dt.date.fromisoformat(r["date"]),
            r["plan_name"],
            r["folder"],
            r["status"],
            r["pulses_planned"],
            r["pulses_delivered"],
            r["estops"],
            json.loads(r["deviations"]) if r["deviations"] else [],
            r["notes"],
            aes,
        )

    def sessions(self, patient_id: str) -> list[SessionRecord]:
        """A patient's sessions, oldest first."""
        return [
            self._session(r)
            for r in self._rows(
                "SELECT * FROM sessions WHERE patient_id = ? ORDER BY date, id", patient_id
            )
        ]

    def set_session_notes(self, session_id: int, notes: str) -> None:
        """Post-session notes (free text)."""
        self.session(session_id)
        with self._write() as c:
            c.execute("UPDATE sessions SET notes = ? WHERE id = ?", (notes, session_id))

    def add_adverse_event(
        self,
        session_id: int,
        description: str,
        severity: str,
        relatedness: str = "unknown",
        action: str = "",
    ) -> None:
        """Structured adverse-event entry for a session (timing, severity, relatedness, action)."""
        self.session(session_id)
        if not description.strip():
            raise StoreError("an adverse event needs a description")
        if severity not in ("mild", "moderate", "severe"):
            raise StoreError(f"severity '{severity}': use mild, moderate or severe")
        if relatedness not in (
            "unrelated",
            "unlikely",
            "possible",
            "probable",
            "definite",
            "unknown",
        ):
            raise StoreError(
                f"relatedness '{relatedness}': use unrelated, unlikely, possible, probable, "
                "definite or unknown"
            )
        with self._write() as c:
            c.execute(
                "INSERT INTO adverse_events (session_id, recorded, description, severity, "
                "relatedness, action) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, _now(), description.strip(), severity, relatedness, action),
            )

    def pulses_today(self, patient_id: str, day: dt.date | None = None) -> int:
        """Pulses delivered, possibly delivered or reserved for this patient on ``day``.

        Read from each session's own event log, which is authoritative and current even while a
        session runs or after a crash; the database's copy is used only when a folder is gone.
        A session holding a reservation (running, or crashed and not yet resumed to its end)
        counts its reservation in full, or what its log says if that is more.
        """
        with self._lock:
            return self._day_count(self._conn, patient_id, day or dt.date.today())

    @staticmethod
    def _day_count(c: sqlite3.Connection, patient_id: str, day: dt.date) -> int:
        total = 0
        for r in c.execute(
            "SELECT folder, pulses_delivered, pulses_reserved, reservation FROM sessions "
            "WHERE patient_id = ? AND date = ?",
            (patient_id, day.isoformat()),
        ).fetchall():
            log = SessionFolder(Path(r["folder"])).events
            if log.exists():
                n = delivered_pulses(read_events(log).events)[1]
            else:
                n = int(r["pulses_delivered"] or 0)
            if r["reservation"] == "held":
                n = max(n, int(r["pulses_reserved"]))
            total += n
        return total

    def reserve_session(
        self,
        patient_id: str,
        *,
        plan_name: str,
        plan_toml: str,
        folder: str | Path,
        pulses_planned: int,
        pulses_reserved: int,
        daily_limit: int,
        date: dt.date | None = None,
    ) -> int:
        """Register a session and reserve its pulses for the patient's day, atomically.

        One ``BEGIN IMMEDIATE`` transaction reads the day's count (delivered + held
        reservations) and inserts the session holding ``pulses_reserved`` pulses, so two
        sessions started at the same instant, in any processes, can never together exceed
        ``daily_limit``. Raises :class:`ReservationRefused` (saying how many pulses remain today)
        when the reservation does not fit. The reservation is settled to what was delivered when
        :meth:`import_session_log` finds the session ended; a crashed session keeps holding it
        until ``mirrorvr resume`` finishes it.
        """
        self.patient(patient_id)
        day = date or dt.date.today()
        try:
            with self._write() as c:
                used = self._day_count(c, patient_id, day)
                if used + pulses_reserved > daily_limit:
                    raise ReservationRefused(
                        patient_id, pulses_reserved, max(0, daily_limit - used), daily_limit
                    )
                cur = c.execute(
                    "INSERT INTO sessions (patient_id, date, plan_name, plan_toml, folder, "
                    "status, pulses_planned, pulses_reserved, reservation) "
                    "VALUES (?, ?, ?, ?, ?, 'planned', ?, ?, 'held')",
                    (
                        patient_id,
                        day.isoformat(),
                        plan_name,
                        plan_toml,
                        str(Path(folder).resolve()),
                        pulses_planned,
                        pulses_reserved,
                    ),
                )
                assert cur.lastrowid is not None
                return cur.lastrowid
        except sqlite3.IntegrityError:
            raise StoreError(f"session folder {folder} is already linked to a session") from None

    def reservation(self, session_id: int) -> tuple[str, int]:
        """(state, pulses) of a session's daily reservation: none, held or settled."""
        r = self._rows("SELECT reservation, pulses_reserved FROM sessions WHERE id = ?", session_id)
        if not r:
            raise StoreError(f"no session {session_id}")
        return str(r[0]["reservation"]), int(r[0]["pulses_reserved"])

    # ---- importing a session's log ---------------------------------------------------------
    def import_session_log(self, session_id: int) -> SessionRecord:
        """Copy status, pulses, e-stops, deviations and ratings from the session's log.

        Raises StoreError if what an earlier import copied no longer matches the log (the log or
        the database was altered): nothing is changed then.
        """
        rec = self.session(session_id)
        folder = Path(rec.folder)
        log = SessionFolder(folder).events
        if not log.exists() and rec.status == "planned":
            # the session never started (refused, or failed before its log was created, which
            # comes before any device is connected): no pulse can have gone out, so its
            # reservation is released rather than held against the patient's day for ever
            with self._write() as c:
                c.execute(
                    "UPDATE sessions SET status = 'not started', pulses_delivered = 0, "
                    "reservation = CASE reservation WHEN 'held' THEN 'settled' ELSE reservation "
                    "END WHERE id = ?",
                    (session_id,),
                )
            return self.session(session_id)
        read = read_events(log)
        events = read.events
        problems = self.check_consistency(session_id, events)
        if problems:
            raise StoreError(
                f"session {session_id} ({folder}): the database disagrees with events.jsonl: "
                + "; ".join(problems)
            )
        facts = session_facts(events, rec.pulses_planned)
        if read.bad_lines:
            facts["deviations"].append(f"{len(read.bad_lines)} unreadable log lines")
        with self._write() as c:
            c.execute(
                "UPDATE sessions SET status = ?, pulses_delivered = ?, estops = ?, "
                "deviations = ?, imported_seq = ? WHERE id = ?",
                (
                    facts["status"],
                    facts["pulses_delivered"],
                    facts["estops"],
                    json.dumps(facts["deviations"]),
                    events[-1].seq if events else None,
                    session_id,
                ),
            )
            if any(e.kind == "session_end" for e in events):
                # ended: the day now counts what the log says was (possibly) delivered
                c.execute(
                    "UPDATE sessions SET reservation = 'settled' "
                    "WHERE id = ? AND reservation = 'held'",
                    (session_id,),
                )
            for e in events:
                if e.kind == "midline" and e.get("method") in ("head", "marked", "body"):
                    # a calibrated (or marked) midline: the patient's next sessions reuse it
                    px, py, pz = (float(v) for v in e["point"])
                    nx, ny, nz = (float(v) for v in e["normal"])
                    c.execute(
                        "INSERT OR IGNORE INTO midlines (patient_id, session_id, date, method, "
                        "point_x, point_y, point_z, normal_x, normal_y, normal_z, event_seq) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            rec.patient_id,
                            session_id,
                            rec.date.isoformat(),
                            e["method"],
                            px,
                            py,
                            pz,
                            nx,
                            ny,
                            nz,
                            e.seq,
                        ),
                    )
                if e.kind == "rating" and e.get("value") is not None:
                    c.execute(
                        "INSERT OR IGNORE INTO ratings (patient_id, session_id, date, timepoint, "
                        "scale, value, source, event_seq) VALUES (?, ?, ?, ?, 'nrs', ?, 'log', ?)",
                        (
                            rec.patient_id,
                            session_id,
                            rec.date.isoformat(),
                            e["timepoint"],
                            float(e["value"]),
                            e.seq,
                        ),
                    )
        return self.session(session_id)

    def reconcile(self) -> list[int]:
        """Import the logs of sessions left 'planned' or 'running' (their program crashed).

        Returns the ids updated; their status becomes what the log says ('incomplete' for a
        session that never logged its end: resume it with ``mirrorvr resume FOLDER``).
        """
        done = []
        for r in self._rows(
            "SELECT id, folder FROM sessions WHERE status IN ('planned', 'running')"
        ):
            if SessionFolder(Path(r["folder"])).has_log():
                self.import_session_log(int(r["id"]))
                done.append(int(r["id"]))
        return done

    def check_consistency(self, session_id: int, events: list[Event] | None = None) -> list[str]:
        """Where the database's copies differ from the session's log (empty = consistent)."""
        rec = self.session(session_id)
        if events is None:
            events = read_events(SessionFolder(Path(rec.folder)).events).events
        rows = self._rows("SELECT imported_seq FROM sessions WHERE id = ?", session_id)
        seq = rows[0]["imported_seq"]
        problems = []
        if seq is not None:
            upto = [e for e in events if e.seq <= seq]
            if not upto or upto[-1].seq != seq:
                problems.append(f"the log no longer has event {seq} that was imported")
            facts = session_facts(upto, rec.pulses_planned)
            if facts["pulses_delivered"] != rec.pulses_delivered:
                problems.append(
                    f"pulses delivered: database {rec.pulses_delivered}, log "
                    f"{facts['pulses_delivered']}"
                )
            if facts["estops"] != rec.estops:
                problems.append(f"emergency stops: database {rec.estops}, log {facts['estops']}")
        by_seq = {e.seq: e for e in events}
        for r in self._rows(
            "SELECT event_seq, value, timepoint FROM ratings "
            "WHERE session_id = ? AND source = 'log'",
            session_id,
        ):
            e = by_seq.get(r["event_seq"])
            if e is None or e.kind != "rating" or e.get("value") is None:
                problems.append(f"rating from event {r['event_seq']} is not in the log")
            elif float(e["value"]) != r["value"] or e["timepoint"] != r["timepoint"]:
                problems.append(
                    f"rating from event {r['event_seq']}: database {r['value']:g} "
                    f"({r['timepoint']}), log {e['value']} ({e['timepoint']})"
                )
        return problems

    # ---- ratings --------------------------------------------------------------------------
    def latest_midline(self, patient_id: str) -> tuple[float, ...] | None:
        """The patient's last stored midline: point x y z, normal x y z (or ``None``)."""
        rows = self._rows(
            "SELECT point_x, point_y, point_z, normal_x, normal_y, normal_z FROM midlines "
            "WHERE patient_id = ? ORDER BY id DESC LIMIT 1",
            patient_id,
        )
        return tuple(float(v) for v in rows[0]) if rows else None

    def add_rating(
        self,
        patient_id: str,
        value: float,
        *,
        timepoint: str,
        scale: str = "nrs",
        date: dt.date | None = None,
        session_id: int | None = None,
        items: Mapping[str, float] | None = None,
    ) -> Rating:
        """Store a rating entered by hand (ratings answered in the headset come from the log)."""
        self.patient(patient_id)
        check_rating(value, scale, timepoint)
        if items:
            check_items(items)
        if session_id is not None and self.session(session_id).patient_id != patient_id:
            raise StoreError(f"session {session_id} is not a session of patient '{patient_id}'")
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO ratings (patient_id, session_id, date, timepoint, scale, value, "
                "items, source) VALUES (?, ?, ?, ?, ?, ?, ?, 'manual')",
                (
                    patient_id,
                    session_id,
                    (date or dt.date.today()).isoformat(),
                    timepoint,
                    scale,
                    float(value),
                    json.dumps(dict(items)) if items else None,
                ),
            )
            rowid = cur.lastrowid
        return next(r for r in self.ratings(patient_id) if r.id == rowid)

    def ratings(self, patient_id: str) -> list[Rating]:
        """Every rating of a patient, in date order."""
        return [
            Rating(
                r["id"],
                r["patient_id"],
                r["session_id"],
                dt.date.fromisoformat(r["date"]),
                r["timepoint"],
                r["scale"],
                r["value"],
                json.loads(r["items"]) if r["items"] else None,
                r["source"],
            )
            for r in self._rows(
                "SELECT * FROM ratings WHERE patient_id = ? ORDER BY date, id", patient_id
            )
        ]

    def pain_trend(self, patient_id: str) -> list[dict[str, Any]]:
        """Per session (and per follow-up rating): date, pre and post NRS, change."""
        ratings = self.ratings(patient_id)
        out: list[dict[str, Any]] = []
        for s in self.sessions(patient_id):
            mine = [r for r in ratings if r.session_id == s.id]
            pre = next((r.nrs for r in mine if r.timepoint == "pre"), None)
            post = next((r.nrs for r in reversed(mine) if r.timepoint == "post"), None)
            out.append(
                {
                    "date": s.date.isoformat(),
                    "session_id": s.id,
                    "label": f"session {s.id}",
                    "pre": pre,
                    "post": post,
                    "change": (post - pre) if pre is not None and post is not None else None,
                }
            )
        for r in ratings:
            if r.session_id is None:
                # every rating counts: one entered outside a session (console, `mirrorvr rate`,
                # a follow-up visit) is on the trend under its own timepoint, "pre" included
                out.append(
                    {
                        "date": r.date.isoformat(),
                        "session_id": None,
                        "label": r.timepoint,
                        "pre": r.nrs if r.timepoint == "pre" else None,
                        "post": r.nrs if r.timepoint != "pre" else None,
                        "change": None,
                    }
                )
        # on one day, sessions first (in order), then ratings taken outside a session
        return sorted(out, key=lambda d: (d["date"], d["session_id"] is None, d["session_id"] or 0))

    # ---- GMI stage progress ----------------------------------------------------------------
    def record_gmi(
        self,
        patient_id: str,
        stage: str,
        change: str,
        reason: str = "",
        *,
        date: dt.date | None = None,
    ) -> None:
        """Note that the patient started, progressed to, regressed to or repeats ``stage``."""
        self.patient(patient_id)
        if stage not in GMI_STAGES:
            raise StoreError(f"GMI stage '{stage}': use one of {', '.join(GMI_STAGES)}")
        if change not in ("start", "progress", "regress", "repeat"):
            raise StoreError(f"GMI change '{change}': use start, progress, regress or repeat")
        with self._write() as c:
            c.execute(
                "INSERT INTO gmi_progress (patient_id, date, stage, change, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (patient_id, (date or dt.date.today()).isoformat(), stage, change, reason),
            )

    def gmi_history(self, patient_id: str) -> list[dict[str, Any]]:
        """Stage changes, oldest first."""
        return [
            dict(r)
            for r in self._rows(
                "SELECT date, stage, change, reason FROM gmi_progress WHERE patient_id = ? "
                "ORDER BY date, id",
                patient_id,
            )
        ]

    def current_gmi_stage(self, patient_id: str) -> str | None:
        """The stage the patient is on now (None before the first)."""
        h = self.gmi_history(patient_id)
        return h[-1]["stage"] if h else None

    # ---- audit ----------------------------------------------------------------------------
    def audit(self, actor: str, action: str, patient_id: str | None = None, **details: Any) -> None:
        """Append one line to the audit log (who did what, when)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO audit (t, actor, action, patient_id, details) VALUES (?, ?, ?, ?, ?)",
                (_now(), actor, action, patient_id, json.dumps(details, default=str)),
            )

    def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The most recent audit entries, newest last."""
        rows = self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", limit)
        return [dict(r) | {"details": json.loads(r["details"])} for r in reversed(rows)]


def session_facts(events: list[Event], pulses_planned: int) -> dict[str, Any]:
    """What the database copies from a session's log (pure)."""
    kinds = [e.kind for e in events]
    end = next((e for e in reversed(events) if e.kind == "session_end"), None)
    if end is not None:
        status = str(end["state"])
    elif "session_start" in kinds:
        status = "incomplete"
    else:
        status = "planned"
    _certain, possible = delivered_pulses(events)
    deviations: list[str] = []
    missed = kinds.count("pulse_missed")
    refused = kinds.count("stim_refused")
    estops = kinds.count("estop")
    if end is not None and possible != pulses_planned:
        deviations.append(f"{possible} of {pulses_planned} planned pulses delivered")
    if missed:
        deviations.append(f"{missed} pulses missed their deadline")
    if refused:
        deviations.append(f"{refused} stimulation requests refused by the safety governor")
    if estops:
        deviations.append(f"{estops} emergency stop(s)")
    pauses = sum(1 for e in events if e.kind == "state" and e.get("to") == "paused")
    if pauses:
        deviations.append(f"paused {pauses} time(s)")
    if end is not None and end.get("reason"):
        deviations.append(f"ended {end['state']}: {end['reason']}")
    unanswered = sum(1 for e in events if e.kind == "rating" and e.get("value") is None)
    if unanswered:
        deviations.append(f"{unanswered} rating(s) unanswered")
    return {
        "status": status,
        "pulses_delivered": possible,
        "estops": estops,
        "deviations": deviations,
    }

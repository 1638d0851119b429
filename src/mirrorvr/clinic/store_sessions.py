"""Sessions in the store: reserved and created before they run, filled in from their event
log and checked against it; adverse events; the day's pulse count (part of
:class:`~mirrorvr.clinic.store.ClinicStore`)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.records import (
    SessionRecord,
)
from mirrorvr.clinic.store_core import (
    ReservationRefused,
    _now,
)
from mirrorvr.clinic.store_patients import PatientRecords
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.summary import delivered_pulses


class SessionRecords(PatientRecords):
    """Sessions, reservations, adverse events and the pulses of a day."""

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

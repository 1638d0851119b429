"""The clinic store: patients, screening, motor thresholds, sessions, ratings, GMI progress, audit.

One :class:`ClinicStore` wraps one SQLite connection (WAL mode, see :mod:`mirrorvr.clinic.db`).
It is safe to share between threads (calls are serialised) and any number of processes may
open the same file. Every write is one ``BEGIN IMMEDIATE … COMMIT`` transaction: once a method
returns, its rows are on disk; a crash before that leaves nothing half-written.

The session folder's ``events.jsonl`` is authoritative for what happened in a session. What the
database copies from it (pulses delivered, emergency stops, deviations, in-headset ratings) is
written only by :meth:`ClinicStore.import_session_log`, which first checks that earlier copies
still agree with the log.

The store is split by table group: :mod:`.store_core` (connection, audit),
:mod:`.store_patients`, :mod:`.store_sessions` (sessions, reservations); ratings, GMI progress
and midlines are here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.outcomes import check_items, check_rating
from mirrorvr.clinic.records import (
    Rating,
)
from mirrorvr.clinic.store_core import (
    GMI_STAGES,
    ReservationRefused,
)
from mirrorvr.clinic.store_sessions import SessionRecords, session_facts

__all__ = ["ClinicStore", "ReservationRefused", "session_facts"]


class ClinicStore(SessionRecords):
    """Patients and their treatment history in one SQLite file."""

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

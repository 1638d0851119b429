"""Patients, their screening and their motor thresholds (part of
:class:`~mirrorvr.clinic.store.ClinicStore`)."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping

from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.records import (
    Patient,
    Screening,
    ThresholdRecord,
)
from mirrorvr.clinic.store_core import (
    _ID,
    LEVELS,
    THRESHOLD_METHODS,
    StoreCore,
    _date,
    _now,
)


class PatientRecords(StoreCore):
    """Patients, screening and motor thresholds."""

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

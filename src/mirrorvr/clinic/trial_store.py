"""Trials in the clinic store: registration with a sealed allocation, enrolment, unblinding.

Registering a trial generates every stratum's permuted-block list at once and stores it with a
SHA-256 commitment; database triggers refuse any later change to the list, to a randomised
patient's slot, or to an unblinding. Randomising a patient takes the next free slot of their
stratum inside one ``BEGIN IMMEDIATE`` transaction (two consoles cannot take the same slot).

Reading an arm goes through :meth:`TrialStore.arm_for`, which answers only an unblinded role,
or anyone once the patient or the whole trial was unblinded. Unblinding needs a reason, is
written to the audit log and cannot be undone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from mirrorvr.clinic.randomise import group_codes, permuted_blocks
from mirrorvr.clinic.store_view import StoreView, now_stamp
from mirrorvr.clinic.trial import (
    ROLES,
    Trial,
    TrialError,
    TrialSpec,
    all_strata,
    check_randomisable,
    parse_trial,
    strata_of,
)

_GROUPS = "#groups"  # the sealed arm -> blinded group-code rows live under this stratum


def allocation_digest(rows: list[tuple[str, int, str]]) -> str:
    """SHA-256 over the sorted (stratum, slot, arm) rows: the commitment stored at registration."""
    blob = json.dumps(sorted(rows), separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Enrolment:
    """A patient's place in a trial (never the arm: ask :meth:`TrialStore.arm_for`)."""

    trial_id: str
    patient_id: str
    stage: str
    stratum: str | None
    slot: int | None
    reason: str
    t: str


class TrialStore(StoreView):
    """Trials over one clinic store."""

    # ---- registration -----------------------------------------------------------------------
    def register(self, trial: Trial, actor: str = "cli", seed: int | None = None) -> str:
        """Store the trial and its sealed allocation; returns the commitment digest.

        ``seed`` (else the file's, else a random one that is not stored) seeds every stratum.
        """
        spec = trial.spec
        check_randomisable(spec)
        s = seed if seed is not None else spec.randomisation.seed
        if s is None:
            s = secrets.randbits(63)
        arms = [a.id for a in spec.arms]
        ratios = [a.ratio for a in spec.arms]
        rows: list[tuple[str, int, str]] = []
        for stratum in all_strata(spec.randomisation.strata):
            seq = permuted_blocks(
                arms,
                ratios,
                spec.randomisation.block_sizes,
                spec.randomisation.slots_per_stratum,
                s,
                stratum,
            )
            rows += [(stratum, i + 1, a) for i, a in enumerate(seq)]
        codes = group_codes(arms, s)
        rows += [(_GROUPS, ord(codes[a][-1]) - ord("A") + 1, a) for a in arms]
        digest = allocation_digest(rows)
        try:
            with self._write() as c:
                c.execute(
                    "INSERT INTO trials (id, spec_toml, allocation_sha256, created) "
                    "VALUES (?, ?, ?, ?)",
                    (trial.id, trial.toml, digest, now_stamp()),
                )
                c.executemany(
                    "INSERT INTO trial_allocation (trial_id, stratum, slot, arm) VALUES (?, ?, ?, ?)",
                    [(trial.id, st, sl, a) for st, sl, a in rows],
                )
        except sqlite3.IntegrityError:
            raise TrialError(
                f"trial '{trial.id}' is already registered in {self.store.path}: its allocation "
                "is sealed and cannot be registered again"
            ) from None
        self.store.audit(actor, "trial_registered", None, trial=trial.id, allocation_sha256=digest)
        return digest

    def spec(self, trial_id: str) -> TrialSpec:
        """The registered trial's spec."""
        rows = self._rows("SELECT spec_toml FROM trials WHERE id = ?", trial_id)
        if not rows:
            raise TrialError(
                f"no trial '{trial_id}' in {self.store.path}: register it with "
                "`mirrorvr trial register TRIAL.toml`"
            )
        import tomllib

        return TrialSpec.model_validate(tomllib.loads(rows[0]["spec_toml"]))

    def trial(self, trial_id: str, base: Any = None) -> Trial:
        """The registered trial with its courses (loaded relative to ``base``)."""
        rows = self._rows("SELECT spec_toml FROM trials WHERE id = ?", trial_id)
        if not rows:
            self.spec(trial_id)
        return parse_trial(rows[0]["spec_toml"], f"trial {trial_id}", base)

    def trials(self) -> list[str]:
        """Registered trial ids."""
        return [r["id"] for r in self._rows("SELECT id FROM trials ORDER BY id")]

    def verify_allocation(self, trial_id: str) -> bool:
        """Whether the stored list still matches the commitment made at registration."""
        rows = self._rows(
            "SELECT stratum, slot, arm FROM trial_allocation WHERE trial_id = ?", trial_id
        )
        stored = self._rows("SELECT allocation_sha256 FROM trials WHERE id = ?", trial_id)
        if not stored:
            raise TrialError(f"no trial '{trial_id}'")
        return allocation_digest([(r[0], r[1], r[2]) for r in rows]) == stored[0][0]

    # ---- screening and randomisation --------------------------------------------------------
    def screen(self, trial_id: str, patient_id: str, eligible: bool, reason: str = "") -> None:
        """Record that a patient was screened for the trial (and whether eligible)."""
        self.spec(trial_id)
        self.store.patient(patient_id)
        try:
            with self._write() as c:
                c.execute(
                    "INSERT INTO trial_patients (trial_id, patient_id, stage, reason, t) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        trial_id,
                        patient_id,
                        "screened" if eligible else "ineligible",
                        reason,
                        now_stamp(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise TrialError(f"patient '{patient_id}' is already in trial '{trial_id}'") from None

    def randomise(
        self,
        trial_id: str,
        patient_id: str,
        *,
        baseline_nrs: float,
        day: dt.date,
        actor: str = "cli",
    ) -> Enrolment:
        """Give a screened, eligible patient the next sealed slot of their stratum."""
        spec = self.spec(trial_id)
        p = self.store.patient(patient_id)
        if baseline_nrs < spec.trial.min_baseline_nrs:
            raise TrialError(
                f"patient '{patient_id}': baseline NRS {baseline_nrs:g} is below the trial's "
                f"minimum {spec.trial.min_baseline_nrs:g}"
            )
        stratum = strata_of(
            spec.randomisation.strata,
            baseline_nrs=baseline_nrs,
            amputation_side=p.amputation_side,
            amputation_date=p.amputation_date,
            day=day,
        )
        with self._write() as c:
            row = c.execute(
                "SELECT stage FROM trial_patients WHERE trial_id = ? AND patient_id = ?",
                (trial_id, patient_id),
            ).fetchone()
            if row is None:
                raise TrialError(f"patient '{patient_id}' was not screened for trial '{trial_id}'")
            if row["stage"] != "screened":
                raise TrialError(
                    f"patient '{patient_id}' is {row['stage']} in trial '{trial_id}': cannot "
                    "randomise"
                )
            used = c.execute(
                "SELECT COALESCE(MAX(slot), 0) FROM trial_patients WHERE trial_id = ? AND stratum = ?",
                (trial_id, stratum),
            ).fetchone()[0]
            slot = int(used) + 1
            if slot > spec.randomisation.slots_per_stratum:
                raise TrialError(
                    f"stratum '{stratum}' of trial '{trial_id}' has no sealed slot left "
                    f"({spec.randomisation.slots_per_stratum} used)"
                )
            c.execute(
                "UPDATE trial_patients SET stage = 'randomised', stratum = ?, slot = ?, t = ? "
                "WHERE trial_id = ? AND patient_id = ?",
                (stratum, slot, now_stamp(), trial_id, patient_id),
            )
        self.store.audit(
            actor, "randomised", patient_id, trial=trial_id, stratum=stratum, slot=slot
        )
        return self.enrolment(trial_id, patient_id)

    def enrol(
        self,
        trial: Trial,
        patient_id: str,
        *,
        baseline_nrs: float,
        day: dt.date,
        actor: str = "cli",
    ) -> tuple[Enrolment | None, list[str]]:
        """Screen a patient into ``trial``; if eligible, randomise and start the arm's course.

        Eligibility is the patient's verdict (this clinic's blocking items) and the trial's
        minimum baseline. Returns the enrolment, or None and the reasons for exclusion. The arm
        is read only to pick its course file, and is not returned.
        """
        from mirrorvr.clinic.course_store import CourseStore

        registered = self._rows("SELECT spec_toml FROM trials WHERE id = ?", trial.id)
        if not registered:
            raise TrialError(
                f"trial '{trial.id}' is not registered: `mirrorvr trial register` first"
            )
        if registered[0]["spec_toml"] != trial.toml:
            raise TrialError(f"{trial.source} differs from the trial registered as '{trial.id}'")
        cs = CourseStore(self.store)
        verdict = cs.eligibility_verdict(patient_id, day)
        reasons = [f"{f.item}: {f.message}" for f in verdict.blocking]
        if baseline_nrs < trial.spec.trial.min_baseline_nrs:
            reasons.append(
                f"baseline NRS {baseline_nrs:g} below {trial.spec.trial.min_baseline_nrs:g}"
            )
        self.screen(trial.id, patient_id, eligible=not reasons, reason="; ".join(reasons))
        if reasons:
            return None, reasons
        e = self.randomise(trial.id, patient_id, baseline_nrs=baseline_nrs, day=day, actor=actor)
        course = trial.courses[self._sealed_arm(trial.id, patient_id)]
        cs.start_course(
            patient_id, course, day=day, baseline=baseline_nrs, trial_id=trial.id, actor=actor
        )
        return e, []

    def enrolment(self, trial_id: str, patient_id: str) -> Enrolment:
        """A patient's enrolment (TrialError if not in the trial)."""
        rows = self._rows(
            "SELECT * FROM trial_patients WHERE trial_id = ? AND patient_id = ?",
            trial_id,
            patient_id,
        )
        if not rows:
            raise TrialError(f"patient '{patient_id}' is not in trial '{trial_id}'")
        r = rows[0]
        return Enrolment(
            r["trial_id"], r["patient_id"], r["stage"], r["stratum"], r["slot"], r["reason"], r["t"]
        )

    def enrolments(self, trial_id: str) -> list[Enrolment]:
        """Everyone screened for the trial, in order."""
        return [
            Enrolment(
                r["trial_id"],
                r["patient_id"],
                r["stage"],
                r["stratum"],
                r["slot"],
                r["reason"],
                r["t"],
            )
            for r in self._rows(
                "SELECT * FROM trial_patients WHERE trial_id = ? ORDER BY t, patient_id", trial_id
            )
        ]

    def trial_of(self, patient_id: str) -> str | None:
        """The trial a patient is randomised in, if any."""
        rows = self._rows(
            "SELECT trial_id FROM trial_patients WHERE patient_id = ? AND stage = 'randomised'",
            patient_id,
        )
        return rows[0]["trial_id"] if rows else None

    # ---- blinding ---------------------------------------------------------------------------
    def _sealed_arm(self, trial_id: str, patient_id: str) -> str:
        e = self.enrolment(trial_id, patient_id)
        if e.stage != "randomised":
            raise TrialError(f"patient '{patient_id}' is not randomised in trial '{trial_id}'")
        rows = self._rows(
            "SELECT arm FROM trial_allocation WHERE trial_id = ? AND stratum = ? AND slot = ?",
            trial_id,
            e.stratum,
            e.slot,
        )
        return str(rows[0]["arm"])

    def unblinded(self, trial_id: str, patient_id: str | None = None) -> bool:
        """Whether the whole trial (or this patient) has been unblinded."""
        rows = self._rows(
            "SELECT 1 FROM unblindings WHERE trial_id = ? AND (patient_id IS NULL OR patient_id = ?)",
            trial_id,
            patient_id,
        )
        return bool(rows)

    def arm_for(self, trial_id: str, patient_id: str, role: str) -> str | None:
        """The patient's arm if ``role`` may see it, else None (blinded)."""
        spec = self.spec(trial_id)
        if role not in ROLES:
            raise TrialError(f"role '{role}': use one of {', '.join(ROLES)}")
        if role in spec.blinding.unblinded or self.unblinded(trial_id, patient_id):
            return self._sealed_arm(trial_id, patient_id)
        return None

    def arms_unblinded(self, trial_id: str) -> dict[str, str]:
        """patient -> arm for every randomised patient: only after the whole trial is unblinded."""
        if not self.unblinded(trial_id):
            raise TrialError(f"trial '{trial_id}' is blinded: unblind it (with a reason) first")
        return self._all_arms(trial_id)

    def _all_arms(self, trial_id: str) -> dict[str, str]:
        # internal: used to build aggregate blinded outputs (group codes), never shown per patient
        return {
            r["patient_id"]: r["arm"]
            for r in self._rows(
                "SELECT p.patient_id, a.arm FROM trial_patients p JOIN trial_allocation a "
                "ON a.trial_id = p.trial_id AND a.stratum = p.stratum AND a.slot = p.slot "
                "WHERE p.trial_id = ? AND p.stage = 'randomised'",
                trial_id,
            )
        }

    def group_codes(self, trial_id: str) -> dict[str, str]:
        """Sealed arm -> blinded group label ("group A", ...)."""
        return {
            r["arm"]: f"group {chr(ord('A') + r['slot'] - 1)}"
            for r in self._rows(
                "SELECT slot, arm FROM trial_allocation WHERE trial_id = ? AND stratum = ?",
                trial_id,
                _GROUPS,
            )
        }

    def operator_instruction(
        self, trial_id: str, patient_id: str, role: str, actor: str = "cli"
    ) -> str:
        """What the unblinded operator mounts for this patient's session (audited)."""
        spec = self.spec(trial_id)
        if role not in spec.blinding.unblinded:
            raise TrialError(
                f"role '{role}' is blinded in trial '{trial_id}': only "
                f"{', '.join(spec.blinding.unblinded) or 'nobody'} may see the coil"
            )
        arm = spec.arm(self._sealed_arm(trial_id, patient_id))
        self.store.audit(actor, "operator_view", patient_id, trial=trial_id, role=role)
        if arm.stimulation == "active":
            return f"arm {arm.id}: mount the ACTIVE coil"
        if spec.sham.method == "sham-coil":
            return f"arm {arm.id}: mount the SHAM coil"
        ref = spec.sham.device_placebo_reference or "UNVERIFIED: no documented reference"
        return f"arm {arm.id}: set the device's placebo mode ({ref})"

    def unblind(
        self, trial_id: str, *, actor: str, reason: str, patient_id: str | None = None
    ) -> str | None:
        """Unblind one patient (e.g. for safety) or the whole trial; audited and irreversible.

        Returns the patient's arm (None for the whole trial).
        """
        self.spec(trial_id)
        if not reason.strip():
            raise TrialError(
                "unblinding needs a reason (e.g. a serious adverse event, end of trial)"
            )
        if not actor.strip():
            raise TrialError("unblinding needs the name of who unblinds")
        if patient_id is not None:
            self._sealed_arm(trial_id, patient_id)  # must be randomised
        with self._write() as c:
            c.execute(
                "INSERT INTO unblindings (trial_id, patient_id, t, actor, reason) VALUES (?, ?, ?, ?, ?)",
                (trial_id, patient_id, now_stamp(), actor, reason.strip()),
            )
        self.store.audit(actor, "unblinded", patient_id, trial=trial_id, reason=reason.strip())
        return self._sealed_arm(trial_id, patient_id) if patient_id else None

    def unblindings(self, trial_id: str) -> list[dict[str, Any]]:
        """Every unblinding: when, who, whom, why."""
        return [
            dict(r)
            for r in self._rows(
                "SELECT * FROM unblindings WHERE trial_id = ? ORDER BY id", trial_id
            )
        ]

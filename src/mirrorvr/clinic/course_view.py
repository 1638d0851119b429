"""What every blinded screen shows of a patient's course: eligibility, course status, trial.

Used by the console and by ``mirrorvr course show|next``. It never reads an allocation: a patient
in a trial is "allocation blinded" here whatever the arm, so the output is the same shape and
wording in every arm.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mirrorvr.clinic.course_store import CourseStore
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.clinic.trial_store import TrialStore


def course_view(store: ClinicStore, pid: str, today: dt.date) -> dict[str, Any]:
    """What the console shows of a patient's course (JSON-ready, identical across arms)."""
    cs = CourseStore(store)
    verdict = cs.eligibility_verdict(pid, today)
    out: dict[str, Any] = {
        "eligibility": {
            "may_start": verdict.may_start,
            "findings": [f.__dict__ for f in verdict.findings],
        },
        "course": None,
        "trial": None,
    }
    if cs.courses(pid):
        rec, status = cs.status(pid, today)
        out["course"] = {
            "id": rec.id,
            "name": rec.name,
            "kind": rec.kind,
            "started": rec.started.isoformat(),
            "status": rec.status,
            "visits": [
                {"label": v.label, "date": v.date.isoformat(), "status": v.status}
                for v in cs.visits(rec.id)
            ],
        } | status.as_dict()
    trial = TrialStore(store).trial_of(pid)
    if trial is not None:
        out["trial"] = {"id": trial, "allocation": "blinded"}
    return out

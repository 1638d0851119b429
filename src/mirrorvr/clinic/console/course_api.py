"""The console's course routes: a patient's course and eligibility, never a trial arm.

The console is the therapist's screen, and therapists are blinded in every bundled trial, so
nothing here reads an allocation: a patient in a trial is shown as "in trial X (blinded)". The
operator who mounts the coil uses ``mirrorvr trial operator`` instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI

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


def add_course_routes(app: FastAPI, store: ClinicStore, actor: Callable[..., str]) -> None:
    """Register the course routes on the console app (``actor`` checks the token)."""

    @app.get("/api/patients/{pid}/course")
    def course(pid: str, who: str = Depends(actor)) -> dict[str, Any]:
        store.patient(pid)
        return course_view(store, pid, dt.date.today())

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

from mirrorvr.clinic.course_view import course_view
from mirrorvr.clinic.store import ClinicStore


def add_course_routes(app: FastAPI, store: ClinicStore, actor: Callable[..., str]) -> None:
    """Register the course routes on the console app (``actor`` checks the token)."""

    @app.get("/api/patients/{pid}/course")
    def course(pid: str, who: str = Depends(actor)) -> dict[str, Any]:
        store.patient(pid)
        return course_view(store, pid, dt.date.today())

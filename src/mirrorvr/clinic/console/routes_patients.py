"""Console routes: patients, screening, thresholds, ratings, GMI progress."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI

from mirrorvr.clinic.console.models import (
    GmiIn,
    NewPatient,
    RatingIn,
    ScreeningIn,
    ThresholdIn,
)
from mirrorvr.clinic.exercises import (
    laterality_suggestion,
    score_laterality,
)
from mirrorvr.clinic.readiness import governor_inputs
from mirrorvr.clinic.screening import ITEMS as SCREENING_ITEMS
from mirrorvr.clinic.screening import screening_status
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.folder import SessionFolder


def _laterality(folder: str) -> dict[str, Any] | None:
    """Per-side laterality score of a session, from its log (None without trials)."""
    log = SessionFolder(Path(folder)).events
    if not log.exists():
        return None
    events = read_events(log).events
    if not any(e.kind == "laterality_response" for e in events):
        return None
    score = score_laterality(events)
    return {"by_side": score["by_side"], "suggestion": laterality_suggestion(score)}


def add_patient_routes(app: FastAPI, store: ClinicStore, actor: Callable[..., str]) -> None:
    """Add the patient routes to ``app``."""

    # ---- patients ----
    @app.get("/api/patients")
    def patients(who: str = Depends(actor)) -> list[dict[str, Any]]:
        out = []
        for p in store.patients():
            trend = store.pain_trend(p.id)
            last = next((t for t in reversed(trend) if t["post"] is not None), None)
            sessions = store.sessions(p.id)
            out.append(
                {
                    "id": p.id,
                    "amputation_side": p.amputation_side,
                    "amputation_level": p.amputation_level,
                    "sessions": len(sessions),
                    "last_session": sessions[-1].date.isoformat() if sessions else None,
                    "last_pain": last["post"] if last else None,
                    "gmi_stage": store.current_gmi_stage(p.id),
                }
            )
        return out

    @app.post("/api/patients")
    def add_patient(body: NewPatient, who: str = Depends(actor)) -> dict[str, Any]:
        p = store.add_patient(
            body.id, body.amputation_side, body.amputation_level, body.amputation_date, body.notes
        )
        store.audit(who, "patient_added", p.id)
        return p.__dict__

    @app.get("/api/patients/{pid}")
    def patient(pid: str, who: str = Depends(actor)) -> dict[str, Any]:
        p = store.patient(pid)
        inputs = governor_inputs(store, pid)
        scr = store.latest_screening(pid)
        return {
            "patient": p.__dict__,
            "screening": (scr.__dict__ | {"yes_items": scr.yes_items}) if scr else None,
            "screening_status": screening_status(scr, dt.date.today()).__dict__,
            "thresholds": [t.__dict__ for t in store.thresholds(pid)],
            "pulses_today": inputs.pulses_today,
            "sessions": [
                s.__dict__ | {"laterality": _laterality(s.folder)} for s in store.sessions(pid)
            ],
            "ratings": [r.__dict__ for r in store.ratings(pid)],
            "trend": store.pain_trend(pid),
            "gmi": store.gmi_history(pid),
            "gmi_stage": store.current_gmi_stage(pid),
        }

    @app.get("/api/screening-items")
    def screening_items(who: str = Depends(actor)) -> dict[str, str]:
        return SCREENING_ITEMS

    @app.post("/api/patients/{pid}/screening")
    def screening(pid: str, body: ScreeningIn, who: str = Depends(actor)) -> dict[str, Any]:
        s = store.record_screening(pid, body.answers, cleared_by=body.cleared_by, notes=body.notes)
        st = screening_status(s, dt.date.today())
        store.audit(who, "screening_recorded", pid, yes=s.yes_items, cleared=st.cleared)
        return st.__dict__

    @app.post("/api/patients/{pid}/threshold")
    def threshold(pid: str, body: ThresholdIn, who: str = Depends(actor)) -> dict[str, Any]:
        t = store.record_threshold(pid, body.rmt_pct_mso, body.method)
        store.audit(who, "threshold_recorded", pid, rmt_pct_mso=t.rmt_pct_mso, method=t.method)
        return t.__dict__

    @app.post("/api/patients/{pid}/ratings")
    def rating(pid: str, body: RatingIn, who: str = Depends(actor)) -> dict[str, Any]:
        r = store.add_rating(
            pid,
            body.value,
            timepoint=body.timepoint,
            scale=body.scale,
            session_id=body.session_id,
            items=body.items,
        )
        store.audit(who, "rating_recorded", pid, timepoint=r.timepoint, value=r.value)
        return r.__dict__

    @app.post("/api/patients/{pid}/gmi")
    def gmi(pid: str, body: GmiIn, who: str = Depends(actor)) -> dict[str, Any]:
        from mirrorvr.clinic.exercises import move_stage

        stage = move_stage(store.current_gmi_stage(pid), body.change)  # type: ignore[arg-type]
        store.record_gmi(pid, stage, body.change, body.reason)
        store.audit(who, "gmi_stage", pid, stage=stage, change=body.change)
        return {"stage": stage}

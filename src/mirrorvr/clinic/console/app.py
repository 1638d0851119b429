"""The console's web app: JSON API, live websocket, static pages (all served locally).

Every ``/api`` route and the ``/ws/live`` websocket need the console token (see
:mod:`mirrorvr.clinic.console.auth`); every action that can affect stimulation (screening,
threshold, starting, pausing, resuming, stopping, emergency stop) is written to the store's
audit log with who did it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
import threading
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from mirrorvr.clinic.console.auth import Access
from mirrorvr.clinic.console.live import LiveSession
from mirrorvr.clinic.exercises import (
    DEFAULT_EXERCISES,
    STAGES,
    laterality_suggestion,
    plan_with_exercises,
    score_laterality,
)
from mirrorvr.clinic.protocols import library
from mirrorvr.clinic.readiness import governor_inputs, plan_for_patient, readiness_problems
from mirrorvr.clinic.screening import ITEMS as SCREENING_ITEMS
from mirrorvr.clinic.screening import screening_status
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import list_presets, load_plan, plan_from_dict
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError, PlanError, Problem
from mirrorvr.run.patient import open_store_session
from mirrorvr.run.session import with_seed
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.folder import SessionFolder, new_session_folder
from mirrorvr.session.timeline import compile_timeline

STATIC = Path(__file__).resolve().parent / "static"
#: how often the live websocket checks for news (s)
PUSH_INTERVAL_S = 0.2


# ---- request bodies ---------------------------------------------------------------------------
class NewPatient(BaseModel):
    """Register a patient."""

    id: str
    amputation_side: str
    amputation_level: str = "transradial"
    amputation_date: dt.date | None = None
    notes: str = ""


class ScreeningIn(BaseModel):
    """A screening questionnaire: yes (true), no (false) or not asked (null) per item."""

    answers: dict[str, bool | None]
    cleared_by: str = ""
    notes: str = ""


class ThresholdIn(BaseModel):
    """A resting motor threshold measured today."""

    rmt_pct_mso: float
    method: str = "5-10"


class RatingIn(BaseModel):
    """A rating entered by the therapist."""

    value: float
    timepoint: str
    scale: str = "nrs"
    session_id: int | None = None
    items: dict[str, float] | None = None


class GmiIn(BaseModel):
    """A GMI stage change."""

    stage: str
    change: str
    reason: str = ""


class PlanIn(BaseModel):
    """The plan editor's fields: a preset and the therapist's changes to it."""

    patient_id: str
    preset: str
    intensity_pct_rmt: float | None = None
    stage: str | None = Field(
        default=None, description="GMI stage exercises instead of the preset's"
    )


class NotesIn(BaseModel):
    """Post-session notes."""

    notes: str


class AdverseEventIn(BaseModel):
    """An adverse event."""

    description: str
    severity: str
    relatedness: str = "unknown"
    action: str = ""


# ---- the app ----------------------------------------------------------------------------------
class Console:
    """State shared by the routes: the store, the access rule, the live session."""

    def __init__(
        self, store: ClinicStore, access: Access, sessions_dir: Path, *, realtime: bool = True
    ) -> None:
        self.store = store
        self.access = access
        self.sessions_dir = sessions_dir
        self.realtime = realtime
        self.live: LiveSession | None = None
        self._lock = threading.Lock()

    def build_plan(self, body: PlanIn) -> tuple[SessionPlan | None, list[Problem], Any]:
        """The plan the editor describes, fitted to the patient; problems instead if invalid."""
        if body.preset not in list_presets():
            return None, [Problem("preset", f"unknown preset '{body.preset}'")], None
        inputs = governor_inputs(self.store, body.patient_id)
        try:
            base = load_plan(body.preset)
            if body.stage:
                if body.stage not in STAGES:
                    return None, [Problem("stage", f"unknown GMI stage '{body.stage}'")], inputs
                base = plan_with_exercises(base, DEFAULT_EXERCISES[body.stage])
            data = base.model_dump(mode="json", exclude_none=True)
            if body.intensity_pct_rmt is not None:
                data.setdefault("stimulation", {})["intensity_pct_rmt"] = body.intensity_pct_rmt
            plan = plan_for_patient(plan_from_dict(data, "plan"), inputs)
        except PlanError as e:
            return None, [_strip(p) for p in e.problems], inputs
        except MirrorVRError as e:
            return None, [Problem("plan", str(e))], inputs
        return plan, [_strip(p) for p in readiness_problems(plan, inputs)], inputs


def _strip(p: Problem) -> Problem:
    where = p.where[len("plan:") :] if p.where.startswith("plan:") else p.where
    return Problem(where, p.message)


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


def _plan_summary(plan: SessionPlan) -> dict[str, Any]:
    tl = compile_timeline(plan)
    stim = plan.stimulation
    return {
        "name": plan.session.name,
        "blocks": [b.label or b.kind for b in plan.blocks],
        "mode": stim.mode,
        "intensity_pct_rmt": stim.intensity_pct_rmt,
        "intensity_pct_mso": stim.intensity_pct_mso,
        "pulses": tl.total_pulses,
        "duration_s": round(tl.duration, 1),
        "limits": {
            "max_intensity_pct_rmt": plan.safety.max_intensity_pct_rmt,
            "max_pulses_per_session": plan.safety.max_pulses_per_session,
            "max_pulses_per_day": plan.safety.max_pulses_per_day,
        },
    }


def create_app(
    store: ClinicStore, access: Access, sessions_dir: Path, *, realtime: bool = True
) -> FastAPI:
    """The console app over ``store``; sessions are written under ``sessions_dir``."""
    store.reconcile()  # sessions a crashed console left 'running' get their logs' status
    con = Console(store, access, sessions_dir, realtime=realtime)
    app = FastAPI(title="mirrorvr console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = con
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=access.allowed_hosts())

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        # everything is served from here: no CDN, no inline script, no framing
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def actor(request: Request) -> str:
        token = request.headers.get("authorization", "")
        presented = token[7:] if token.lower().startswith("bearer ") else None
        if not access.check(presented):
            raise HTTPException(401, "missing or wrong console token (open the URL it printed)")
        who = request.headers.get("x-operator", "").strip()[:40] or "therapist"
        host = request.client.host if request.client else "?"
        return f"{who}@{host} (token {access.fingerprint})"

    from mirrorvr.clinic.console.course_api import add_course_routes

    add_course_routes(app, store, actor)

    @app.exception_handler(PlanError)
    async def plan_error(_: Request, e: PlanError) -> JSONResponse:
        return JSONResponse(
            {"error": "plan refused", "problems": [p.__dict__ for p in e.problems]}, 422
        )

    @app.exception_handler(MirrorVRError)
    async def user_error(_: Request, e: MirrorVRError) -> JSONResponse:
        return JSONResponse({"error": str(e)}, 400)

    # ---- pages ----
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

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

    # ---- protocols and plans ----
    @app.get("/api/protocols")
    def protocols(who: str = Depends(actor)) -> list[dict[str, object]]:
        return library()

    @app.post("/api/plan/check")
    def plan_check(body: PlanIn, who: str = Depends(actor)) -> dict[str, Any]:
        plan, problems, _ = con.build_plan(body)
        return {
            "ok": plan is not None and not problems,
            "problems": [p.__dict__ for p in problems],
            "summary": _plan_summary(plan) if plan is not None else None,
        }

    # ---- the live session ----
    @app.post("/api/sessions/start")
    def start(body: PlanIn, who: str = Depends(actor)) -> dict[str, Any]:
        with con._lock:
            if con.live is not None and not con.live.ended.is_set():
                raise HTTPException(409, "a session is already running: stop it first")
            plan, problems, inputs = con.build_plan(body)
            if plan is None or problems:
                store.audit(
                    who, "start_refused", body.patient_id, problems=[str(p) for p in problems]
                )
                raise PlanError(problems)
            # a fresh seed per session (kept in the session's plan.toml, so it stays replayable)
            plan = with_seed(plan, secrets.randbelow(2**31))
            folder = new_session_folder(body.patient_id, sessions_dir)
            sid = open_store_session(
                store,
                body.patient_id,
                plan,
                folder,
                actor=who,
                preset=body.preset,
                intensity_pct_rmt=plan.stimulation.intensity_pct_rmt,
                pulses_today_before=inputs.pulses_today,
            )
            con.live = LiveSession(
                store=store,
                session_id=sid,
                patient_id=body.patient_id,
                plan=plan,
                folder=folder,
                pulses_today=inputs.pulses_today,
                realtime=con.realtime,
            )
            con.live.start()
            return {"session_id": sid, "folder": str(folder)}

    def _control(action: str, who: str) -> dict[str, Any]:
        live = con.live
        if live is None or live.ended.is_set():
            store.audit(who, f"{action}_refused", None, reason="no session running")
            raise HTTPException(409, "no session is running")
        getattr(live, action)()
        store.audit(who, action, live.patient_id, session_id=live.session_id)
        return live.status()

    @app.post("/api/sessions/current/estop")
    def estop(who: str = Depends(actor)) -> dict[str, Any]:
        return _control("estop", who)

    @app.post("/api/sessions/current/pause")
    def pause(who: str = Depends(actor)) -> dict[str, Any]:
        return _control("pause", who)

    @app.post("/api/sessions/current/resume")
    def resume(who: str = Depends(actor)) -> dict[str, Any]:
        return _control("resume", who)

    @app.post("/api/sessions/current/stop")
    def stop(who: str = Depends(actor)) -> dict[str, Any]:
        return _control("stop", who)

    @app.get("/api/sessions/current")
    def current(who: str = Depends(actor)) -> dict[str, Any] | None:
        return con.live.status() if con.live is not None else None

    @app.post("/api/sessions/{sid}/notes")
    def notes(sid: int, body: NotesIn, who: str = Depends(actor)) -> dict[str, str]:
        store.set_session_notes(sid, body.notes)
        store.audit(who, "session_notes", store.session(sid).patient_id, session_id=sid)
        return {"ok": "saved"}

    @app.post("/api/sessions/{sid}/adverse-events")
    def adverse(sid: int, body: AdverseEventIn, who: str = Depends(actor)) -> dict[str, str]:
        store.add_adverse_event(sid, body.description, body.severity, body.relatedness, body.action)
        store.audit(
            who,
            "adverse_event",
            store.session(sid).patient_id,
            session_id=sid,
            severity=body.severity,
        )
        return {"ok": "saved"}

    @app.get("/api/audit")
    def audit(who: str = Depends(actor)) -> list[dict[str, Any]]:
        return store.audit_log(200)

    @app.websocket("/ws/live")
    async def ws_live(ws: WebSocket) -> None:
        if not access.check(ws.query_params.get("token")):
            await ws.close(code=4401)  # policy: no token, no live view
            return
        await ws.accept()
        seen = (-1, -1)
        try:
            while True:
                live = con.live
                key = (id(live), live.version) if live is not None else (0, 0)
                if key != seen:
                    seen = key
                    await ws.send_json(live.status() if live is not None else {"state": "none"})
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.receive_text(), PUSH_INTERVAL_S)
        except WebSocketDisconnect:
            return

    return app

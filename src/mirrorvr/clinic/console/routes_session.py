"""Console routes: protocols and plan checks, the live session and its controls, notes,
adverse events, the audit log, and the live websocket."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, WebSocket, WebSocketDisconnect

from mirrorvr.clinic.console.app_state import PUSH_INTERVAL_S, Console
from mirrorvr.clinic.console.auth import Access
from mirrorvr.clinic.console.live import LiveSession
from mirrorvr.clinic.console.models import (
    AdverseEventIn,
    NotesIn,
    PlanIn,
)
from mirrorvr.clinic.protocols import library
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import PlanError
from mirrorvr.run.patient import open_store_session
from mirrorvr.run.session import with_seed
from mirrorvr.session.folder import new_session_folder
from mirrorvr.session.timeline import compile_timeline


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


def add_session_routes(
    app: FastAPI,
    con: Console,
    store: ClinicStore,
    access: Access,
    sessions_dir: Path,
    actor: Callable[..., str],
) -> None:
    """Add the plan and live-session routes to ``app``."""

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


def add_record_routes(
    app: FastAPI, con: Console, store: ClinicStore, access: Access, actor: Callable[..., str]
) -> None:
    """Add the session-notes, adverse-event, audit and live-websocket routes to ``app``."""

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

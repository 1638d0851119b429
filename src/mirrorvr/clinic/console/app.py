"""The console's web app: JSON API, live websocket, static pages (all served locally).

Every ``/api`` route and the ``/ws/live`` websocket need the console token (see
:mod:`mirrorvr.clinic.console.auth`); every action that can affect stimulation (screening,
threshold, starting, pausing, resuming, stopping, emergency stop) is written to the store's
audit log with who did it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from mirrorvr.clinic.console.app_state import STATIC, Console
from mirrorvr.clinic.console.auth import Access
from mirrorvr.clinic.console.routes_patients import add_patient_routes
from mirrorvr.clinic.console.routes_session import add_record_routes, add_session_routes
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.errors import MirrorVRError, PlanError


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
    from mirrorvr.clinic.console.appearance_api import add_appearance_routes

    add_appearance_routes(app, store, actor)

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

    add_patient_routes(app, store, actor)
    add_session_routes(app, con, store, access, sessions_dir, actor)
    add_record_routes(app, con, store, access, actor)

    return app

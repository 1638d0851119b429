"""The console's state shared by its routes: the store, access, the live session, plan
building."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mirrorvr.clinic.console.auth import Access
from mirrorvr.clinic.console.live import LiveSession
from mirrorvr.clinic.console.models import (
    PlanIn,
)
from mirrorvr.clinic.exercises import (
    DEFAULT_EXERCISES,
    STAGES,
    plan_with_exercises,
)
from mirrorvr.clinic.readiness import governor_inputs, plan_for_patient, readiness_problems
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import list_presets, load_plan, plan_from_dict
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import MirrorVRError, PlanError, Problem

STATIC = Path(__file__).resolve().parent / "static"
#: how often the live websocket checks for news (s)
PUSH_INTERVAL_S = 0.2


# ---- request bodies ---------------------------------------------------------------------------
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

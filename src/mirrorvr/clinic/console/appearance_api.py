"""The console's appearance routes: a patient's limb appearance, and its live preview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Response
from pydantic import BaseModel

from mirrorvr.clinic.appearance import Appearance, as_dict, get_appearance, set_appearance
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.patient import LOWER_LEVELS
from mirrorvr.config.plan import SceneSettings
from mirrorvr.errors import MirrorVRError
from mirrorvr.tracking.pose import LimbKind


class AppearanceIn(BaseModel):
    """What the therapist sets (colours as #rrggbb, lengths in cm on the intact hand)."""

    skin: str
    sleeve: str
    hand_length_cm: float | None = None
    hand_width_cm: float | None = None

    def appearance(self) -> Appearance:
        """As the store's record."""
        return Appearance(self.skin, self.sleeve, self.hand_length_cm, self.hand_width_cm)


def add_appearance_routes(app: FastAPI, store: ClinicStore, actor: Callable[..., str]) -> None:
    """Register the appearance routes on the console app (``actor`` checks the token)."""

    @app.get("/api/patients/{pid}/appearance")
    def appearance(pid: str, who: str = Depends(actor)) -> dict[str, Any]:
        store.patient(pid)
        return as_dict(get_appearance(store, pid))

    @app.put("/api/patients/{pid}/appearance")
    def save(pid: str, body: AppearanceIn, who: str = Depends(actor)) -> dict[str, Any]:
        a = set_appearance(store, pid, body.appearance())
        store.audit(who, "appearance_set", pid, **as_dict(a))
        return as_dict(a)

    @app.post("/api/patients/{pid}/appearance/preview")
    def preview(pid: str, body: AppearanceIn, who: str = Depends(actor)) -> Response:
        """A PNG of both hands (or legs) with these (not yet saved) settings."""
        from mirrorvr.render.preview import render_preview

        p = store.patient(pid)
        a = body.appearance()
        problems = a.problems()
        if problems:
            raise MirrorVRError("; ".join(problems))
        settings = SceneSettings(**a.scene_overrides())
        side = p.amputation_side if p.amputation_side in ("left", "right") else "left"
        limb: LimbKind = "lower" if p.amputation_level in LOWER_LEVELS else "upper"
        return Response(render_preview(settings, side, limb), media_type="image/png")

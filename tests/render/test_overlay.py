"""The therapist's overlay: session state, cue, tracking, midline, pulses and keys over the
patient's view (drawn in the preview window; here forced on offscreen to look at it)."""

from __future__ import annotations

import numpy as np

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.presenter import PandaPresenter, PresenterOptions
from mirrorvr.session.clock import SimClock


def test_overlay_shows_the_session_over_the_patients_view() -> None:
    plan = SessionPlan.model_validate(
        {
            "patient": {"id": "T", "amputation_side": "left"},
            "blocks": [{"kind": "rest", "duration_s": 5}],
        }
    )
    shots = []
    for overlay in (False, True):
        display = OffscreenDisplay((320, 180))
        presenter = PandaPresenter(
            SimClock(),
            None,
            plan,
            display,
            options=PresenterOptions(simulated_input=False, therapist_overlay=overlay),
        )
        presenter.idle(0.6)
        shots.append(display.screenshot())
        lines = presenter.overlay_lines()
        presenter.close()
    plain, with_overlay = shots
    assert lines[2] == "tracking (synthetic): right hand tracked"
    assert lines[-1].startswith("Esc e-stop")
    # the text sits in the top-left corner; the rest of the picture is the patient's
    changed = np.any(plain != with_overlay, axis=-1)
    h, w = changed.shape
    assert changed[: h // 2, : w // 2].sum() > 300
    assert changed[h // 2 :, w // 2 :].sum() == 0

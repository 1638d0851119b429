"""The scene is loaded into the renderer before the first block (no stall when it begins)."""

from __future__ import annotations

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.presenter import PandaPresenter, PresenterOptions
from mirrorvr.session.clock import SimClock


def test_warm_queues_the_whole_scene_hidden_parts_included_for_the_renderer() -> None:
    plan = SessionPlan.model_validate(
        {
            "patient": {"id": "T", "amputation_side": "left"},
            "blocks": [{"kind": "mirror", "repetitions": 1}],
        }
    )
    display = OffscreenDisplay((160, 90))
    presenter = PandaPresenter(
        SimClock(), None, plan, display, options=PresenterOptions(simulated_input=False)
    )
    try:
        prepared = display.output.get_gsg().get_prepared_objects()
        before = prepared.get_num_queued()
        assert presenter.warm()
        assert prepared.get_num_queued() > before
    finally:
        presenter.close()

"""The preview window's session keys reach the session: Esc e-stops, P pauses, R resumes."""

from __future__ import annotations

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.presenter import PandaPresenter, PresenterOptions
from mirrorvr.session.clock import SimClock


class Recorder:
    """Stands in for the runner's controls, recording what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def pause(self, reason: str = "") -> None:
        self.calls.append(("pause", reason))

    def estop(self, cause: str) -> None:
        self.calls.append(("estop", cause))

    def resume(self) -> None:
        self.calls.append(("resume", ""))


def test_escape_estops_p_pauses_r_resumes() -> None:
    plan = SessionPlan.model_validate(
        {
            "patient": {"id": "T", "amputation_side": "left"},
            "blocks": [{"kind": "rest", "duration_s": 5}],
        }
    )
    clock = SimClock()
    display = OffscreenDisplay((160, 90))
    presenter = PandaPresenter(
        clock, None, plan, display, options=PresenterOptions(simulated_input=False)
    )
    control = Recorder()
    presenter.keys.press("escape")  # before the runner is attached: queued, not lost
    presenter.idle(0.6)
    assert control.calls == []
    presenter.attach_control(control)
    for key in ("p", "r"):
        presenter.keys.press(key)
        presenter.idle(clock.now() + 0.6)
    assert [c[0] for c in control.calls] == ["estop", "pause", "resume"]
    assert "Esc" in control.calls[0][1]
    presenter.close()

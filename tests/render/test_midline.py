"""Midline calibration as a logged session step: the plane follows the patient's head, the
mirrored hand follows the plane (real rendering, real event log)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.presenter import PandaPresenter, PresenterOptions
from mirrorvr.session.clock import SimClock
from mirrorvr.session.eventlog import EventLog, read_events
from mirrorvr.tracking.pose import Pose, TrackingFrame
from mirrorvr.tracking.synthetic import SyntheticSource
from tests.render.helpers import skin_mask

SIZE = (320, 180)


@dataclass
class SeatedOffCentre(SyntheticSource):
    """The synthetic patient, sitting ``head_dx`` metres to the right of the world's x = 0."""

    head_dx: float = 0.0

    def poll(self, t: float) -> TrackingFrame:
        frame = super().poll(t)
        assert frame.head is not None
        return replace(frame, head=Pose(frame.head.position + np.array([self.head_dx, 0.0, 0.0])))


@dataclass
class Control:
    """The runner's side of the seam: its event log (pause/estop/resume are not used here)."""

    log: EventLog

    def pause(self, reason: str = "") -> None: ...
    def estop(self, cause: str) -> None: ...
    def resume(self) -> None: ...


def _calibrated(tmp_path: Path, display: OffscreenDisplay, head_dx: float, **tracking: object):  # type: ignore[no-untyped-def]
    plan = SessionPlan.model_validate(
        {
            "patient": {"id": "T", "amputation_side": "left"},
            "blocks": [{"kind": "rest", "duration_s": 5}],
            "scene": {"show_real_side": False, "smoothing": False},
            "tracking": tracking,
        }
    )
    clock = SimClock()
    source = SeatedOffCentre("right", noise=False, head_dx=head_dx)
    presenter = PandaPresenter(
        clock, None, plan, display, source=source, options=PresenterOptions(simulated_input=False)
    )
    path = tmp_path / f"events-{len(list(tmp_path.iterdir()))}.jsonl"
    with EventLog(path) as log:
        presenter.attach_control(Control(log))
        presenter.idle(clock.now() + 0.6)
    mask = skin_mask(display.screenshot())[:, : SIZE[0] // 2]
    presenter.loop.close()
    events = [e for e in read_events(path).events if e.kind == "midline"]
    return events, mask


def test_an_offset_midline_moves_the_reflection(tmp_path: Path) -> None:
    display = OffscreenDisplay(SIZE)
    try:
        centred, m0 = _calibrated(tmp_path, display, 0.0)
        shifted, m5 = _calibrated(tmp_path, display, 0.05)
        marked, mk = _calibrated(tmp_path, display, 0.0, midline="marked", midline_x_m=0.05)
    finally:
        display.close()
    # one logged calibration each: through the head, or the therapist's mark
    assert [e["method"] for e in centred + shifted + marked] == ["head", "head", "marked"]
    assert abs(centred[0]["point"][0]) < 1e-6 and abs(shifted[0]["point"][0] - 0.05) < 1e-6
    assert np.allclose(shifted[0]["normal"], [1, 0, 0]) and marked[0]["point"][0] == 0.05
    # a midline 5 cm to the right puts the mirrored hand 10 cm further right (towards the
    # centre of the picture); the mark does the same as the head
    cols = np.arange(SIZE[0] // 2)
    x0, x5, xk = ((m.sum(axis=0) * cols).sum() / m.sum() for m in (m0, m5, mk))
    assert m0.sum() > 300 and x5 > x0 + 10 and abs(xk - x5) < 1.0, (x0, x5, xk)


def test_the_midline_is_stored_for_the_patient_and_reused(tmp_path: Path) -> None:
    import datetime as dt

    from mirrorvr.clinic.readiness import governor_inputs, plan_for_patient
    from mirrorvr.clinic.store import ClinicStore
    from mirrorvr.config.loader import plan_to_toml
    from mirrorvr.render.backends import presenter_factory
    from mirrorvr.run.session import LaunchOptions, run_session

    plan = SessionPlan.model_validate(
        {
            "patient": {"id": "P-7", "amputation_side": "left"},
            "blocks": [{"kind": "rest", "duration_s": 1}],
            "tracking": {"midline": "marked", "midline_x_m": 0.03},
        }
    )
    with ClinicStore(tmp_path / "c.sqlite3") as store:
        store.add_patient("P-7", "left")
        folder = tmp_path / "s1"
        sid = store.create_session(
            "P-7", plan_name="m", plan_toml=plan_to_toml(plan), folder=folder, pulses_planned=0
        )
        factory = presenter_factory("offscreen", plan, size=(160, 90))
        _, summary = run_session(plan, LaunchOptions(out=folder, presenter_factory=factory))
        assert summary["state"] == "completed"
        store.import_session_log(sid)
        stored = store.latest_midline("P-7")
        assert stored is not None and np.allclose(stored, [0.03, 0, 0, 1, 0, 0])
        # the next session's plan asks for the stored midline: it is filled in from the store
        again = SessionPlan.model_validate(
            {**plan.model_dump(mode="json"), "tracking": {"midline": "stored"}}
        )
        fitted = plan_for_patient(again, governor_inputs(store, "P-7", dt.date.today()))
        assert fitted.tracking.midline_plane is not None
        assert np.allclose(fitted.tracking.midline_plane, stored)


def test_the_headset_mirrors_across_the_plans_mark_or_stored_plane() -> None:
    from mirrorvr.render.xr_scene import MirrorHeadsetScene

    base = {
        "patient": {"id": "T", "amputation_side": "left"},
        "blocks": [{"kind": "rest", "duration_s": 1}],
    }
    marked = SessionPlan.model_validate(
        {**base, "tracking": {"midline": "marked", "midline_x_m": 0.04}}
    )
    stored = SessionPlan.model_validate(
        {
            **base,
            "tracking": {"midline": "stored", "midline_plane": [0.02, 0.1, 0.0, 1.0, 0.0, 0.0]},
        }
    )
    assert np.allclose(MirrorHeadsetScene(marked).plane.point, [0.04, 0.0, 0.0])
    assert np.allclose(MirrorHeadsetScene(stored).plane.point, [0.02, 0.1, 0.0])

"""Offscreen: the amputated side shows the phantom as decoded, not the mirror image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.render.backends import presenter_factory
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.streams.layout import HAND_JOINTS

TIP, WRIST = HAND_JOINTS.index("middle_tip"), HAND_JOINTS.index("wrist")


def test_offscreen_frames_show_the_phantom_moving_as_decoded(tmp_path: Path) -> None:
    plan = plan_from_dict(
        {
            "session": {"name": "pme scene", "seed": 11},
            "patient": {"id": "T-S", "amputation_side": "left"},
            "blocks": [
                {
                    "kind": "phantom_motor_execution",
                    "motions": ["hand_close", "wrist_flexion"],
                    "calibration_repetitions": 2,
                    "contraction_s": 2.0,
                    "rest_s": 2.0,
                    "tasks": 2,
                    "task_limit_s": 6.0,
                    "randomise": False,
                }
            ],
        },
        "pme-scene",
    )
    make = presenter_factory("offscreen", plan, size=(320, 180), frames_dir=tmp_path / "frames")
    assert make is not None
    drawn: list[tuple[float, Any]] = []

    def factory(clock: Any, patient: Any) -> Any:
        p = make(clock, patient)
        set_hands = p.scene.set_hands

        def spy(intact: Any, mirrored: Any) -> None:
            drawn.append((clock.now(), mirrored))
            set_hands(intact, mirrored)

        p.scene.set_hands = spy
        return p

    folder = tmp_path / "s"
    result, _ = run_session(plan, LaunchOptions(out=folder, presenter_factory=factory))
    assert result.state == "completed"
    events = read_events(folder / "events.jsonl").events
    close = next(e for e in events if e.kind == "pme_task" and e["movement"] == "hand_close")
    assert close["completed"]
    cue = next(e for e in events if e.kind == "cue" and e.get("task") == close["task"])

    def curl(t0: float, t1: float) -> float:
        """Middle fingertip to wrist distance of the drawn left hand (smaller = closed)."""
        d = [
            np.linalg.norm(m.positions[TIP] - m.positions[WRIST])
            for t, m in drawn
            if t0 <= t <= t1 and m is not None
        ]
        assert d, "frames were drawn in that span"
        return float(np.median(d))

    assert all(m is None or m.side == "left" for _, m in drawn)
    open_hand = curl(cue.t, cue.t + 0.5)  # the phantom starts each task relaxed
    held = curl(close.t - 0.5, close.t)  # the hold that completed the task
    assert held < open_hand - 0.02
    assert (tmp_path / "frames" / "frames.jsonl").exists()


@pytest.mark.slow
def test_realtime_display_process_draws_the_decoded_phantom(tmp_path: Path) -> None:
    """Real time: the display runs in its own process and follows mirrorvr-pme; the mirrored
    pose stream it publishes (what it drew) closes during the hand_close task."""
    import pyxdf

    plan = plan_from_dict(
        {
            "session": {"name": "pme rt scene", "seed": 11},
            "patient": {"id": "T-R", "amputation_side": "left"},
            "blocks": [
                {
                    "kind": "phantom_motor_execution",
                    "motions": ["hand_close", "wrist_flexion"],
                    "calibration_repetitions": 2,
                    "cue_s": 1.0,
                    "contraction_s": 2.0,
                    "rest_s": 2.0,
                    "fit_s": 0.5,
                    "tasks": 1,
                    "task_limit_s": 5.0,
                    "task_rest_s": 1.0,
                    "randomise": False,
                }
            ],
        },
        "pme-rt-scene",
    )
    folder = tmp_path / "rt"
    make = presenter_factory("offscreen", plan, size=(320, 180), fps=30.0)
    result, _ = run_session(plan, LaunchOptions(out=folder, realtime=True, presenter_factory=make))
    assert result.state == "completed"
    events = read_events(folder / "events.jsonl").events
    window = next(e for e in events if e.kind == "window" and e.get("phase") == "task")
    assert window["movement"] == "hand_close"
    streams, _ = pyxdf.load_xdf(str(folder / "session.xdf"), dejitter_timestamps=False)
    pose = next(s for s in streams if s["info"]["name"][0] == "mirrorvr-pose-mirrored")
    labels = [c["label"][0] for c in pose["info"]["desc"][0]["channels"][0]["channel"]]
    tip = [labels.index(f"middle_tip_{a}") for a in ("px", "py", "pz")]
    wrist = [labels.index(f"wrist_{a}") for a in ("px", "py", "pz")]
    ts, x = pose["time_stamps"], np.asarray(pose["time_series"], dtype=float)
    reach = np.linalg.norm(x[:, tip] - x[:, wrist], axis=1)
    during = (ts >= window.t) & (ts <= window.t + 5.0)
    before = (ts >= window.t - 1.0) & (ts < window.t)  # the task cue: phantom at neutral
    assert during.any() and before.any()
    assert reach[during].min() < np.median(reach[before]) - 0.02

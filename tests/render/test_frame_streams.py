"""A real-time session with a display publishes every frame's poses and timing into session.xdf."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from mirrorvr.render.frame_streams import controller_poses, missed_intervals, stage_joints
from mirrorvr.render.xr_frames import position_to_xr, quat_to_xr
from mirrorvr.streams.layout import HAND_JOINTS
from mirrorvr.tracking import quat
from mirrorvr.tracking.mirror import MidlinePlane
from mirrorvr.tracking.motion import params_at
from mirrorvr.tracking.pose import ControllerPose, Pose, TrackingFrame
from mirrorvr.tracking.skeleton import hand_pose
from tests.conftest import mirrorvr_cmd


def test_stage_joints_is_the_xr_frame_change() -> None:
    hand = hand_pose("right", params_at("fist", 0.3))
    rows = stage_joints(hand)
    np.testing.assert_allclose(rows[:, :3], position_to_xr(hand.positions), atol=1e-12)
    np.testing.assert_allclose(rows[:, 3:], quat_to_xr(hand.orientations), atol=1e-12)
    grip = Pose(np.array([0.2, 0.35, 0.8]), quat.from_axis_angle(np.array([0.0, 0, 1]), 0.4))
    np.testing.assert_allclose(
        stage_joints(grip),
        np.concatenate([position_to_xr(grip.position), quat_to_xr(grip.orientation)])[None],
        atol=1e-12,
    )


def test_controller_poses_reflect_the_intact_grip() -> None:
    plane = MidlinePlane.sagittal()
    grip = Pose(np.array([0.2, 0.35, 0.8]))
    ctl = {"right": ControllerPose("right", 1.0, grip)}
    tracked, mirrored = controller_poses(TrackingFrame(1.0, controllers=ctl), "right", plane)
    assert tracked is grip and mirrored is not None
    np.testing.assert_allclose(mirrored.position, [-0.2, 0.35, 0.8])
    # the other side's controller, an invalid pose or no tracking at all: no poses
    assert controller_poses(TrackingFrame(1.0, controllers=ctl), "left", plane) == (None, None)
    lost = {"right": ControllerPose("right", 1.0, Pose(grip.position, flags=0))}
    assert controller_poses(TrackingFrame(1.0, controllers=lost), "right", plane) == (None, None)
    assert controller_poses(None, "right", plane) == (None, None)


def test_missed_intervals() -> None:
    assert [missed_intervals(d, 90.0) for d in (1 / 90, 1.4 / 90, 1.6 / 90, 3 / 90)] == [0, 0, 1, 2]
    assert missed_intervals(float("nan"), 90.0) == 0


@pytest.mark.slow
def test_realtime_display_session_records_pose_and_frame_streams(
    tmp_path: Path, short_plan: Path
) -> None:
    out = tmp_path / "rt"
    res = subprocess.run(
        mirrorvr_cmd(
            "sim", str(short_plan), "--realtime", "--display", "offscreen", "--size", "160x90",
            "--out", str(out),
        ),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["state"] == "completed"
    # raw stamps (one machine, one clock): exactly what the display process pushed
    streams, _ = pyxdf.load_xdf(
        str(out / "session.xdf"), synchronize_clocks=False, dejitter_timestamps=False
    )
    by = {s["info"]["name"][0]: s for s in streams}
    key = out.name
    for name in ("mirrorvr-pose-tracked", "mirrorvr-pose-mirrored", "mirrorvr-frames"):
        s = by[name]
        assert s["info"]["source_id"] == [f"{name.replace('mirrorvr-', f'mirrorvr-{key}-')}"]
        assert len(s["time_stamps"]) > 10, name
        assert np.all(np.diff(s["time_stamps"]) > 0), f"{name}: timestamps not increasing"
    frames, tracked, mirrored = (
        by["mirrorvr-frames"],
        by["mirrorvr-pose-tracked"],
        by["mirrorvr-pose-mirrored"],
    )
    # each frame is stamped with its display time, which is also its display_time channel
    np.testing.assert_allclose(frames["time_series"][:, 1], frames["time_stamps"], atol=1e-6)
    assert np.all(np.diff(frames["time_series"][:, 0]) >= 1)  # frame numbers only go up
    # the session ran while the frames were shown (same LSL clock)
    markers = [json.loads(m[0]) for m in by["mirrorvr-markers"]["time_series"]]
    t0 = next(m["t"] for m in markers if m["kind"] == "session_start")
    t1 = markers[-1]["t"]
    inside = (frames["time_stamps"] > t0) & (frames["time_stamps"] < t1)
    assert inside.sum() > 10
    # tracked and mirrored poses of the frames shown; the intact hand is the right one. The
    # recorder attaches to each stream on its own and poses are pushed before their frame, so a
    # few poses may be recorded before the first or after the last recorded frame.
    for poses in (tracked, mirrored):
        ts = poses["time_stamps"]
        shown = ts[(ts >= frames["time_stamps"][0]) & (ts <= frames["time_stamps"][-1])]
        assert len(shown) > 0.95 * len(ts)
        assert np.isin(shown, frames["time_stamps"]).all()
    both = np.intersect1d(tracked["time_stamps"], mirrored["time_stamps"])
    assert len(both) > 0.9 * len(tracked["time_stamps"])
    setup = tracked["info"]["desc"][0]["setup"][0]
    assert setup["hand"] == ["right"] and setup["source"] == ["simulated_hand"]
    assert mirrored["info"]["desc"][0]["setup"][0]["hand"] == ["left"]
    assert tracked["time_series"].shape[1] == 7 * len(HAND_JOINTS)
    # x is the first channel of every joint; the midline is x = 0 (docs/scene.md)
    tx = tracked["time_series"][:, 0::7]
    mx = mirrored["time_series"][:, 0::7]
    assert np.all(tx > 0) and np.all(mx < 0), "mirrored hand not on the amputated (left) side"
    # quaternions stay unit length through the frame conversion
    q = mirrored["time_series"].reshape(len(mx), len(HAND_JOINTS), 7)[:, :, 3:]
    np.testing.assert_allclose(np.linalg.norm(q, axis=2), 1.0, atol=1e-3)

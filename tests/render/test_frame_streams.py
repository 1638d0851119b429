"""A real-time session with a display publishes every frame's poses and timing into session.xdf."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from mirrorvr.render.frame_streams import missed_intervals
from mirrorvr.streams.layout import HAND_JOINTS
from tests.conftest import mirrorvr_cmd


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
    # tracked and mirrored poses of the frames shown (the last one or two may be cut off when
    # the display closes); the intact hand is the right one
    # (poses are pushed before their frame, so a pose after the last recorded frame is allowed,
    # and the recorder may join one stream a frame or two before another)
    for poses in (tracked, mirrored):
        ts = poses["time_stamps"]
        ts = ts[ts >= frames["time_stamps"][0]]
        shown = ts[ts <= frames["time_stamps"][-1]]
        assert len(shown) >= len(ts) - 2
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

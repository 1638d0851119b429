"""Whole sessions through the OpenXR backend against the simulated headset (Xvfb + Mesa GLX).

Each session runs `mirrorvr sim --display openxr --realtime` in its own process, with the
simulated runtime scripted through its environment: hand/controller trajectories in, eye
images and the log of submitted frames out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyxdf

from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.sim.xr_runtime import (
    SimulatedHeadset,
    SubmittedFrame,
    read_frame_log,
    read_ppm,
    seated_head,
    write_controllers_csv,
    write_hands_csv,
    write_head_csv,
)
from mirrorvr.streams.layout import HAND_JOINTS
from mirrorvr.tracking.motion import params_at
from mirrorvr.tracking.skeleton import HandParams, hand_pose
from mirrorvr.tracking.synthetic import HEAD
from tests.conftest import ROOT, mirrorvr_cmd
from tests.render.helpers import skin_mask
from tests.xr_fixtures import x_display, xr_manifest

__all__ = ["x_display", "xr_manifest"]

pytestmark = pytest.mark.slow

#: the simulated headset's rate in tests; eye images stay small to keep llvmpipe quick
RATE_HZ = 60.0
VIEW = (256, 288)


def _headset(tmp: Path, manifest: Path, commands: list[str], **kw: object) -> SimulatedHeadset:
    p, q = seated_head()
    return SimulatedHeadset(
        manifest=manifest,
        rate_hz=RATE_HZ,
        view_size=VIEW,
        head_csv=write_head_csv(tmp / "head.csv", [(0.0, p, q)]),
        frame_log=tmp / "frames.csv",
        script_path=tmp / "script.txt",
        control_dir=tmp / "control",
        commands=commands,
        **kw,  # type: ignore[arg-type]
    )


def _run(
    tmp: Path,
    plan: Path,
    headset: SimulatedHeadset,
    display: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[Event]]:
    out = tmp / "session"
    env = {**os.environ, **headset.env(), "DISPLAY": display, **(extra_env or {})}
    proc = subprocess.run(
        mirrorvr_cmd("sim", str(plan), "--out", str(out), "--display", "openxr", "--realtime"),
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    events = read_events(out / "events.jsonl").events if (out / "events.jsonl").exists() else []
    return proc, events


def _spread(mask: np.ndarray) -> float:
    """How spread out the marked pixels are (RMS distance from their centroid, pixels)."""
    ys, xs = np.nonzero(mask)
    assert len(xs) > 20, "the hand is not in the image"
    return float(np.sqrt(xs.var() + ys.var()))


def test_session_in_simulated_headset(
    tmp_path: Path, short_plan: Path, xr_manifest: Path, x_display: str
) -> None:
    # the intact (right) hand is open for 3 s, then closes into a fist and stays closed
    open_hand, fist = HandParams(), params_at("fist", 0.5)
    hands = write_hands_csv(
        tmp_path / "hands.csv",
        [
            (0.0, hand_pose("right", open_hand)),
            (3.0, hand_pose("right", open_hand)),
            (4.0, hand_pose("right", fist)),
        ],
    )
    shots = {n: tmp_path / f"{n}.ppm" for n in ("open_left", "fist_left", "fist_right")}
    headset = _headset(
        tmp_path,
        xr_manifest,
        [
            f"t=2 capture left {shots['open_left']}",
            f"t=6 capture left {shots['fist_left']}",
            f"t=6 capture right {shots['fist_right']}",
        ],
        hands_csv=hands,
    )
    proc, events = _run(tmp_path, short_plan, headset, x_display)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert events[-1]["state"] == "completed"

    # frames: one per display slot, on the runtime's grid of display times
    frames = read_frame_log(tmp_path / "frames.csv")
    period = frames[0].period
    steps = np.diff([f.display_time for f in frames]) / period
    assert (steps > 0.5).all(), "two frames were submitted for one display time"
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    shown = np.array([f.display_time for f in frames if f.layers == 1])

    # every onset is the predicted display time of a frame that showed it, on the LSL clock
    onsets = [e for e in events if e.kind in ("cue", "window", "rest", "rating_prompt")]
    assert len([e for e in onsets if e.kind == "cue"]) == 6
    assert len(frames) > len(onsets)
    for e in onsets:
        nearest = np.abs(shown - e.t).min()  # the event log keeps 0.1 µs
        assert nearest < 1e-6, f"{e.kind} onset {e.t} is not a displayed frame's time"

    display = [e for e in events if e.kind == "display"]
    assert {"what": "input", "mode": "hands"} in [e.data for e in display]
    assert "focused" in [e.get("state") for e in display]

    # the session XDF holds the headset's pose and frame streams (docs/streams.md)
    _check_headset_streams(tmp_path / "session", frames, open_hand, fist)

    # the fist on the intact hand appears as a fist on the mirrored side of the eye image
    open_img, fist_img = read_ppm(shots["open_left"]), read_ppm(shots["fist_left"])
    w = open_img.shape[1] // 2
    area = {}
    for name, img in (
        ("open", open_img),
        ("fist", fist_img),
        ("fist_r", read_ppm(shots["fist_right"])),
    ):
        skin = skin_mask(img)
        # the mirrored hand is drawn on the amputated (left) side, the real one on the right
        area[name] = (int(skin[:, :w].sum()), int(skin[:, w:].sum()))
        assert area[name][0] > 150 and area[name][1] > 150, (name, area[name])
    print(area)
    assert area["fist"][0] < 0.8 * area["open"][0], "the mirrored hand did not close"
    assert area["fist"][1] < 0.8 * area["open"][1], "the real hand did not close"
    # mirrored and real hand look alike (same pose, reflected), seen from either eye
    for name in ("open", "fist", "fist_r"):
        left, right = area[name]
        assert 0.6 < left / right < 1.6, (name, area[name])


TIPS = [HAND_JOINTS.index(f"{f}_tip") for f in ("thumb", "index", "middle", "ring", "little")]


def _curl(positions: np.ndarray) -> np.ndarray:
    """Mean fingertip-to-palm distance of ``(n, 26, 3)`` joint positions (small: a fist)."""
    return np.linalg.norm(positions[:, TIPS] - positions[:, :1], axis=2).mean(axis=1)


def _load_streams(session: Path) -> dict[str, dict[str, Any]]:
    # raw stamps (one machine, one clock): exactly what the headset process pushed
    streams, _ = pyxdf.load_xdf(
        str(session / "session.xdf"), synchronize_clocks=False, dejitter_timestamps=False
    )
    return {s["info"]["name"][0]: s for s in streams}


def _check_headset_streams(
    session: Path, log: list[SubmittedFrame], open_hand: HandParams, fist: HandParams
) -> None:
    by = _load_streams(session)
    for kind in ("pose-tracked", "pose-mirrored", "frames"):
        s = by[f"mirrorvr-{kind}"]
        assert s["info"]["source_id"] == [f"mirrorvr-{session.name}-{kind}"]
        assert len(s["time_stamps"]) > 30, kind
        assert np.all(np.diff(s["time_stamps"]) > 0), f"{kind}: timestamps not increasing"
    frames, tracked, mirrored = (
        by["mirrorvr-frames"],
        by["mirrorvr-pose-tracked"],
        by["mirrorvr-pose-mirrored"],
    )
    # one sample per submitted frame, none skipped, stamped with the predicted display time
    # that the runtime logged for that frame (its log counts frames from 1)
    number = frames["time_series"][:, 0].astype(int)
    assert np.all(np.diff(number) == 1)
    logged = {f.frame: f.display_time for f in log}
    np.testing.assert_allclose(frames["time_stamps"], [logged[n + 1] for n in number], atol=1e-6)
    np.testing.assert_allclose(frames["time_series"][:, 1], frames["time_stamps"], atol=1e-6)
    # poses: of frames shown (a pose after the last recorded frame may be cut off at close);
    # to 1 µs as above: the runtime's log is text, a stamp read back from it may differ from
    # the pushed double in its last bit
    shown = np.sort(np.fromiter(logged.values(), float))
    for poses in (tracked, mirrored):
        stamps = poses["time_stamps"]
        i = np.clip(np.searchsorted(shown, stamps), 1, len(shown) - 1)
        nearest = np.minimum(np.abs(shown[i] - stamps), np.abs(shown[i - 1] - stamps))
        assert (nearest < 1e-6).all(), stamps[nearest >= 1e-6]
    setup = tracked["info"]["desc"][0]["setup"][0]
    assert setup["hand"] == ["right"] and setup["source"] == ["openxr_hand_tracking"]
    assert mirrored["info"]["desc"][0]["setup"][0]["hand"] == ["left"]
    both, ti, mi = np.intersect1d(
        tracked["time_stamps"], mirrored["time_stamps"], return_indices=True
    )
    # every frame shown has both poses (the recorder may join one stream a frame before the
    # other, and the last one or two may be cut off when the headset process closes)
    for a, b in ((tracked, mirrored), (mirrored, tracked)):
        ts = a["time_stamps"]
        assert np.isin(ts[(ts >= b["time_stamps"][0]) & (ts <= b["time_stamps"][-1])], both).all()
    tp = tracked["time_series"][ti].reshape(-1, len(HAND_JOINTS), 7)[:, :, :3]
    mp = mirrored["time_series"][mi].reshape(-1, len(HAND_JOINTS), 7)[:, :, :3]
    # mirrored across the midline (x = 0 in stage space): x flips, height and depth stay
    assert np.all(tp[:, :, 0] > 0) and np.all(mp[:, :, 0] < 0)
    np.testing.assert_allclose(mp, tp * np.array([-1.0, 1.0, 1.0]), atol=1e-4)
    # the scripted hand (open until 3 s after the runtime's session began, a fist from 4 s)
    # shows up in the tracked joints; the first logged frame is ~t = 0 of the script
    script_t = both - log[0].display_time
    curl = _curl(tp)
    want = {n: _curl(hand_pose("right", p).positions[None])[0] for n, p in (("open", open_hand),
            ("fist", fist))}  # fmt: skip
    assert want["fist"] < 0.8 * want["open"]
    closed = script_t > 4.6  # after the fist keyframe and the smoothing filter's settling
    assert closed.sum() > 30
    np.testing.assert_allclose(curl[closed], want["fist"], atol=0.005)
    opened = script_t < 2.8
    np.testing.assert_allclose(curl[opened], want["open"], atol=0.005)


#: the right controller's grip pose in the scripted controller sessions (world frame)
GRIP = HEAD + np.array([0.2, 0.35, -0.4])


def _scripted_controller_session(
    tmp_path: Path, plan: Path, manifest: Path, display: str, mode: str
) -> list[Event]:
    """A headset session without hand tracking (the right controller's grip pose), run by
    ``tests/render/xr_driver.py MODE`` in its own process; its events."""
    controllers = write_controllers_csv(
        tmp_path / "controllers.csv", [(0.0, "right", GRIP, np.array([1.0, 0, 0, 0]), {})]
    )
    headset = _headset(tmp_path, manifest, [], hand_tracking=False, controllers_csv=controllers)
    out = tmp_path / "session"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.render.xr_driver", mode, str(plan), str(out)],
        cwd=ROOT,
        env={**os.environ, **headset.env(), "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return read_events(out / "events.jsonl").events


def test_an_unattended_headset_session_ends_after_an_emergency_stop(
    tmp_path: Path, short_plan: Path, xr_manifest: Path, x_display: str
) -> None:
    # no console, no keys: nobody can resume, so the e-stop ends the session (it used to wait
    # until the headset's runtime stopped, i.e. forever in an unattended simulation)
    events = _scripted_controller_session(
        tmp_path, short_plan, xr_manifest, x_display, "unattended"
    )
    assert any(e.kind == "estop" and e["cause"] == "headset tracking lost" for e in events)
    end = events[-1]
    assert end.kind == "session_end" and end["state"] == "aborted"
    assert "no operator" in end["reason"] and end["disarm"] == "confirmed"


def test_headset_events_pause_stop_and_end_the_session(
    tmp_path: Path, short_plan: Path, xr_manifest: Path, x_display: str
) -> None:
    # no hand tracking: controllers through actions; the script (tests/render/xr_driver.py)
    # reacts to the session's events: focus lost → pause, focus back → resume, tracking lost
    # → emergency stop, menu button → emergency stop, runtime stops → session aborted
    events = _scripted_controller_session(tmp_path, short_plan, xr_manifest, x_display, "events")
    out, grip = tmp_path / "session", GRIP

    def idx(pred: Callable[[Event], bool]) -> int:
        return next(i for i, e in enumerate(events) if pred(e))

    assert {"what": "input", "mode": "controllers"} in [
        e.data for e in events if e.kind == "display"
    ]
    paused = idx(
        lambda e: e.kind == "state" and e["to"] == "paused" and "focus lost" in e["reason"]
    )
    resumed = idx(lambda e: e.kind == "state" and e["to"] == "running" and e["reason"] == "resumed")
    lost = idx(lambda e: e.kind == "estop" and e["cause"] == "headset tracking lost")
    button = idx(lambda e: e.kind == "estop" and e["cause"] == "right controller menu button")
    ended = idx(lambda e: e.kind == "session_end")
    assert paused < resumed < lost < button < ended
    end = events[ended]
    assert end["state"] == "aborted"
    assert end["reason"] == "the headset's OpenXR session ended (stopping)"
    # nothing was stimulated after the emergency stop
    assert not [e for e in events[lost:] if e.kind == "pulse"]
    # without hand tracking the pose streams carry the intact (right) controller's grip pose,
    # and its reflection across the midline (stage x = world x; y = world z)
    by = _load_streams(out)
    tracked, mirrored = by["mirrorvr-pose-tracked"], by["mirrorvr-pose-mirrored"]
    for s, hand in ((tracked, "right"), (mirrored, "left")):
        setup = s["info"]["desc"][0]["setup"][0]
        assert setup["source"] == ["openxr_controller_grip"] and setup["hand"] == [hand]
        assert setup["joints"][0]["joint"] == ["grip"]
        assert s["time_series"].shape[1] == 7 and len(s["time_stamps"]) > 10
    for s, x in ((tracked, grip[0]), (mirrored, -grip[0])):
        np.testing.assert_allclose(s["time_series"][:, 0], x, atol=1e-4)
        np.testing.assert_allclose(s["time_series"][:, 1], grip[2], atol=1e-4)
    assert len(by["mirrorvr-frames"]["time_stamps"]) >= len(tracked["time_stamps"])


RATING_PLAN = """
[session]
name = "rating in the headset"
seed = 1

[patient]
id = "T-2"
amputation_side = "left"

[[blocks]]
kind = "rating"
timepoint = "pre"
duration_s = 0.5
timeout_s = 60

[stimulation]
mode = "none"

[devices]
stimulator = { kind = "none" }
"""


def test_real_session_takes_the_rating_from_the_controllers(
    tmp_path: Path, xr_manifest: Path, x_display: str
) -> None:
    plan = tmp_path / "rating.toml"
    plan.write_text(RATING_PLAN, encoding="utf-8")
    grip = HEAD + np.array([0.2, 0.35, -0.4])
    controllers = write_controllers_csv(
        tmp_path / "controllers.csv", [(0.0, "right", grip, np.array([1.0, 0, 0, 0]), {})]
    )
    shot = tmp_path / "eye.ppm"
    headset = _headset(
        tmp_path,
        xr_manifest,
        [f"t=1.5 capture left {shot}"],
        hand_tracking=False,
        controllers_csv=controllers,
    )
    out = tmp_path / "session"
    env = {
        **os.environ,
        **headset.env(),
        "DISPLAY": x_display,
        # a Quest-like controller: trigger (select) and grip (squeeze)
        "XRSIM_PROFILE": "/interaction_profiles/oculus/touch_controller",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.render.xr_driver",
            "answers",
            str(plan),
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = read_events(out / "events.jsonl").events
    prompt = next(e for e in events if e.kind == "rating_prompt")
    rating = next(e for e in events if e.kind == "rating")
    # the slider starts at 5; two trigger presses move it to 7, the grip confirms
    assert rating["value"] == 7
    assert rating.t > prompt.t and rating["rt_s"] > 1.0  # three presses of 0.5 s each
    assert events[-1]["state"] == "completed"
    # no hand tracking: the controller poses the intact hand, and its mirror image is drawn
    # on the amputated (left) side of the eye image
    skin = skin_mask(read_ppm(shot))
    w = skin.shape[1] // 2
    assert skin[:, :w].sum() > 150 and skin[:, w:].sum() > 150, (
        skin[:, :w].sum(),
        skin[:, w:].sum(),
    )


def test_missing_runtime_gives_a_clear_message(
    tmp_path: Path, short_plan: Path, x_display: str
) -> None:
    env = {
        **os.environ,
        "XR_RUNTIME_JSON": str(tmp_path / "no-such-runtime.json"),
        "DISPLAY": x_display,
    }
    proc = subprocess.run(
        mirrorvr_cmd("sim", str(short_plan), "--out", str(tmp_path / "s"), "--display", "openxr"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no OpenXR runtime is available" in proc.stderr
    assert "XR_RUNTIME_JSON" in proc.stderr and "Traceback" not in proc.stderr


LEG_PLAN = """
[session]
name = "lower limb in the headset"
seed = 2

[patient]
id = "T-3"
amputation_side = "left"
limb = "lower"
amputation_level = "transfemoral"

[[blocks]]
kind = "mirror"
movements = ["ankle_dorsiflexion"]
repetitions = 1
cue_s = 0.5
movement_s = 4.0
rest_s = 0.5

[stimulation]
mode = "none"

[devices]
stimulator = { kind = "none" }
"""


@pytest.mark.parametrize("mount", ["trackers", "controllers"])
def test_foot_and_knee_trackers_drive_the_mirrored_leg_in_the_headset(
    tmp_path: Path, xr_manifest: Path, x_display: str, mount: str
) -> None:
    from mirrorvr.config.loader import load_plan
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.sim.xr_runtime import synthetic_leg_tracker_rows
    from mirrorvr.tracking import quat
    from mirrorvr.tracking.controller_leg import GRIP_TO_ANKLE_M

    plan_path = tmp_path / "legs.toml"
    extra = '\n[tracking]\ncontrollers = "feet"\n' if mount == "controllers" else ""
    plan_path.write_text(LEG_PLAN + extra, encoding="utf-8")
    timeline = compile_timeline(load_plan(plan_path))
    rows = synthetic_leg_tracker_rows(timeline, "right")
    if mount == "controllers":
        # a controller strapped on the right instep instead: its grip sits off the ankle
        rows = [
            (t, "right", p - quat.rotate(q, GRIP_TO_ANKLE_M), q, b)
            for t, role, p, q, b in rows
            if role == "right_foot"
        ]
    trackers = write_controllers_csv(tmp_path / "trackers.csv", rows)
    shot = tmp_path / "eye.ppm"
    p, q = seated_head(pitch_down_deg=60.0)
    headset = SimulatedHeadset(
        manifest=xr_manifest,
        rate_hz=RATE_HZ,
        view_size=VIEW,
        head_csv=write_head_csv(tmp_path / "head.csv", [(0.0, p, q)]),
        controllers_csv=trackers,
        frame_log=tmp_path / "frames.csv",
        script_path=tmp_path / "script.txt",
        commands=[f"t=2 capture left {shot}"],
    )
    proc, events = _run(tmp_path, plan_path, headset, x_display)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert events[-1]["state"] == "completed"
    # the right leg's trackers pose it; its mirror image stands on the amputated (left) side
    # (the left eye sees both legs right of its image centre: only the mirrored one reaches
    # the left half — measured 932 skin pixels there, 2694 on the right)
    eye = read_ppm(shot)
    skin = skin_mask(eye)
    w = skin.shape[1] // 2
    left, right = int(skin[:, :w].sum()), int(skin[:, w:].sum())
    assert left > 150 and right > 150, (left, right)
    # and lit: nothing in this scene is near black (the skinned legs' skin once rendered black
    # here — 1 040 such pixels — when its tint column shared a location other draws set)
    dark = int((eye.astype(int).sum(axis=-1) < 90).sum())
    assert dark < 40, dark
    # the midline calibration hold ran in the headset: the plane passes through the head
    # (between the eyes), its normal the head's right axis; logged before the first block
    midline = [e for e in events if e.kind == "midline"]
    assert [(e["method"], e["display"]) for e in midline] == [("head", "openxr")], midline
    np.testing.assert_allclose(midline[0]["point"], p, atol=1e-3)
    np.testing.assert_allclose(midline[0]["normal"], [1.0, 0.0, 0.0], atol=1e-3)
    assert midline[0]["samples"] > 30
    assert midline[0].t < next(e.t for e in events if e.kind == "block_start")
    # the session's pose streams carry the legs: 6 joints × (position, quaternion)
    by = _load_streams(tmp_path / "session")
    for kind in ("tracked", "mirrored"):
        s = by[f"mirrorvr-pose-{kind}"]
        assert s["time_series"].shape[1] == 6 * 7 and len(s["time_stamps"]) > 30
    source = "openxr_trackers" if mount == "trackers" else "openxr_foot_controllers"
    assert by["mirrorvr-pose-tracked"]["info"]["desc"][0]["setup"][0]["source"] == [source]


LSL_PLAN = """
[patient]
id = "T-LSL"
amputation_side = "left"

[[blocks]]
kind = "rest"
duration_s = 20.0

[scene]
show_real_side = false
smoothing = false

[stimulation]
mode = "none"

[devices]
stimulator = { kind = "none" }
tracking = "lsl"

[tracking]
lsl_stream = "%s"
on_lost = "pause"
"""


def test_an_lsl_pose_stream_drives_the_mirrored_hand_in_the_headset(
    tmp_path: Path, xr_manifest: Path, x_display: str, lsl_name: str
) -> None:
    import threading
    import time
    from dataclasses import replace

    from mirrorvr.tracking.pose import TrackingFrame
    from mirrorvr.tracking.synthetic import SyntheticSource
    from tests.render.test_pose_sources import Publisher

    plan_path = tmp_path / "lsl.toml"
    plan_path.write_text(LSL_PLAN % lsl_name, encoding="utf-8")
    home = SyntheticSource("right", noise=False).poll(0.0)
    pub = Publisher(lsl_name, home)
    shots = [tmp_path / "home.ppm", tmp_path / "moved.ppm"]
    hand = home.hands["right"]
    moved = TrackingFrame(
        t=0.0, hands={"right": replace(hand, positions=hand.positions + np.array([0.08, 0.0, 0.0]))}
    )

    def script() -> None:
        # the intact hand moves 8 cm to the right once the first image is taken; the tracker
        # goes away once the second one is
        for shot, then in ((shots[0], lambda: setattr(pub, "frame", moved)), (shots[1], pub.stop)):
            while pub.running and not shot.exists():
                time.sleep(0.05)
            time.sleep(0.2)  # the capture is written whole
            then()

    threading.Thread(target=script, daemon=True).start()
    headset = _headset(
        tmp_path, xr_manifest, [f"t=3 capture left {shots[0]}", f"t=6 capture left {shots[1]}"]
    )
    out = tmp_path / "session"
    proc = subprocess.Popen(
        mirrorvr_cmd("sim", str(plan_path), "--out", str(out), "--display", "openxr", "--realtime"),
        env={**os.environ, **headset.env(), "DISPLAY": x_display},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the stream stops: the session pauses (the plan's on_lost) long before its 20 s rest
        # is over; the operator then ends it (Ctrl-C)
        deadline = time.monotonic() + 180
        paused: list[Event] = []
        while not paused and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            if (out / "events.jsonl").exists():
                events = read_events(out / "events.jsonl").events
                paused = [e for e in events if e.kind == "state" and e["to"] == "paused"]
        proc.send_signal(2)
        _, err = proc.communicate(timeout=60)
    finally:
        pub.running = False
        if proc.poll() is None:
            proc.kill()
    assert paused, err[-3000:]
    assert "pose source lost (lsl)" in paused[0]["reason"], paused
    assert not [e for e in events if e.kind == "block_end"], "the rest ran out before the pause"
    # the mirrored hand followed the stream: 8 cm right on the intact side is left in the image
    masks = [skin_mask(read_ppm(s)) for s in shots]
    w = masks[0].shape[1] // 2
    cols = np.arange(w)
    x = [float((m[:, :w].sum(axis=0) * cols).sum() / m[:, :w].sum()) for m in masks]
    assert all(int(m[:, :w].sum()) > 150 for m in masks), [int(m[:, :w].sum()) for m in masks]
    assert x[1] < x[0] - 8, x


def test_a_killed_headset_session_leaves_no_process_behind(
    tmp_path: Path, short_plan: Path, xr_manifest: Path, x_display: str
) -> None:
    # SIGKILL runs no clean-up: the headset, stimulation and emulator processes must each see
    # their parent die and end (a headset process once rendered on for an hour as an orphan)
    headset = _headset(tmp_path, xr_manifest, [])
    out = tmp_path / "session"
    session = subprocess.Popen(
        mirrorvr_cmd(
            "sim", str(short_plan), "--out", str(out), "--display", "openxr", "--realtime"
        ),
        cwd=ROOT,
        env={**os.environ, **headset.env(), "DISPLAY": x_display},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180  # generous: a loaded machine, not a timing check
        log = out / "events.jsonl"
        while not (log.exists() and '"kind":"cue"' in log.read_text()):
            assert session.poll() is None and time.monotonic() < deadline, "no cue was shown"
            time.sleep(0.1)
        children = _descendants(session.pid)
        assert len(children) >= 2, children  # at least the headset and the stimulation process
        session.send_signal(signal.SIGKILL)
        session.wait(30)
        deadline = time.monotonic() + 30
        while [p for p in children if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {p: _comm(p) for p in children if _alive(p)}
        assert not left, f"processes outlived their killed session: {left}"
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()


def _stat(pid: int) -> list[str]:
    # pid (comm) state ppid ...: comm may hold spaces, so split after its last ')'
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if int(_stat(int(d.name))[1]) == parent:
                        found.append(int(d.name))
                        todo.append(int(d.name))
                except (OSError, IndexError, ValueError):
                    continue
    return found


def _alive(pid: int) -> bool:
    try:
        return _stat(pid)[0] != "Z"
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().replace("\0", " ")[:120]
    except OSError:
        return "?"

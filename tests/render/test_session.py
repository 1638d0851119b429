"""Whole simulated sessions shown in the scene: cue onsets = frame display times, in-scene ratings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirrorvr.config.loader import load_plan
from mirrorvr.render.backends import presenter_factory
from mirrorvr.render.panels import CUE_RGB
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from tests.conftest import mirrorvr_cmd
from tests.render.helpers import near, read_png


def test_cue_shows_in_the_logged_frame_and_ratings_come_from_the_scene(
    tmp_path: Path, short_plan: Path
) -> None:
    plan = load_plan(short_plan)
    frames = tmp_path / "frames"
    opts = LaunchOptions(
        out=tmp_path / "scene",
        presenter_factory=presenter_factory("offscreen", plan, size=(320, 180), frames_dir=frames),
    )
    _, summary = run_session(plan, opts)
    assert summary["state"] == "completed", summary
    events = read_events(tmp_path / "scene" / "events.jsonl").events
    index = [json.loads(line) for line in (frames / "frames.jsonl").read_text().splitlines()]
    cues = [e for e in events if e.kind == "cue"]
    assert len(cues) == 6
    for cue in cues[:2]:
        at = [i for i, f in enumerate(index) if abs(f["t"] - cue.t) < 1e-6]
        assert at, f"no frame displayed at the cue's logged time {cue.t}"
        frame = index[at[0]]
        assert frame["kind"] == "cue" and frame["step"] == cue["step"]
        shown = near(read_png(frames / frame["file"]), CUE_RGB, 12).sum()
        before = near(read_png(frames / index[at[0] - 1]["file"]), CUE_RGB, 12).sum()
        assert shown > 500 and before == 0, (shown, before)
        assert cue.t >= cue["planned"]  # shown on the first frame at or after its planned time
    # ratings were answered in the scene (keys → slider → confirm), with the same values the
    # seeded simulated patient gives without a display
    ratings = [e for e in events if e.kind == "rating"]
    assert [r["timepoint"] for r in ratings] == ["pre", "post"]
    assert all(isinstance(r["value"], int) and r["rt_s"] > 0 for r in ratings)
    headless = tmp_path / "headless"
    run_session(plan, LaunchOptions(out=headless))
    plain = [e for e in read_events(headless / "events.jsonl").events if e.kind == "rating"]
    assert [r["value"] for r in ratings] == [r["value"] for r in plain]


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private X server (Xvfb) for window tests."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.fail("Xvfb is not installed: run scripts/bootstrap (scripts/apt-packages.txt)")
    for n in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(
        [exe, f":{n}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_realtime_session_in_a_window(tmp_path: Path, short_plan: Path, xvfb: str) -> None:
    out, frames = tmp_path / "rt", tmp_path / "frames"
    res = subprocess.run(
        mirrorvr_cmd(
            "sim",
            str(short_plan),
            "--realtime",
            "--display",
            "window",
            "--size",
            "320x180",
            "--frames",
            str(frames),
            "--out",
            str(out),
        ),
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "DISPLAY": xvfb, "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    # every pulse went out or was logged as missed (a loaded machine may miss some in real time)
    assert summary["state"] == "completed"
    assert summary["pulses_delivered"] + summary["pulses_missed"] == 120
    events = read_events(out / "events.jsonl").events
    index = [json.loads(line) for line in (frames / "frames.jsonl").read_text().splitlines()]
    shown = [f["t"] for f in index if f.get("kind") == "cue"]
    cues = [e for e in events if e.kind == "cue"]
    assert len(cues) == 6 and all(any(abs(c.t - t) < 1e-6 for t in shown) for c in cues)
    assert all(isinstance(e["value"], int) for e in events if e.kind == "rating")


def test_display_option_errors(tmp_path: Path, short_plan: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    for args, message in (
        (["--display", "window"], "needs an X display"),
        (["--frames", str(tmp_path / "f")], "--frames needs a display"),
        (["--display", "offscreen", "--size", "big"], "WIDTHxHEIGHT"),
    ):
        res = subprocess.run(
            mirrorvr_cmd("sim", str(short_plan), "--out", str(tmp_path / "x"), *args),
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert res.returncode == 2 and message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr and not (tmp_path / "x").exists()

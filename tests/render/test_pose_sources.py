"""Real pose sources drive the mirrored limb offscreen: an LSL stream published here, a replay
file; and a pose stream that stops pauses the session (real pylsl, real EGL rendering)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pylsl
import pytest

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.backends import presenter_factory
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.presenter import PandaPresenter, PresenterOptions
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.clock import SimClock
from mirrorvr.session.eventlog import read_events
from mirrorvr.tracking.lsl_source import STREAM_TYPE, encode
from mirrorvr.tracking.pose import TrackingFrame
from mirrorvr.tracking.replay import PoseRecorder
from mirrorvr.tracking.synthetic import SyntheticSource
from tests.render.helpers import skin_mask

SIZE = (320, 180)


def _plan(tracking: dict[str, object], limb: str = "upper", rest_s: float = 30.0) -> SessionPlan:
    return SessionPlan.model_validate(
        {
            "patient": {"id": "T1", "amputation_side": "left", "limb": limb},
            "blocks": [{"kind": "rest", "duration_s": rest_s}],
            "devices": {"tracking": tracking.pop("source")},
            "tracking": tracking,
            # only the mirrored limb is drawn: skin on the left half is the mirror image
            "scene": {"show_real_side": False, "smoothing": False},
        }
    )


class Publisher:
    """Pushes a (changeable) tracking frame on a real LSL outlet at 100 Hz from a thread."""

    def __init__(self, name: str, frame: TrackingFrame, limb: str = "upper") -> None:
        self.frame, self.limb = frame, limb
        n = len(encode(frame, limb))  # type: ignore[arg-type]
        self.outlet = pylsl.StreamOutlet(
            pylsl.StreamInfo(name, STREAM_TYPE, n, 100, "float32", name)
        )
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            self.outlet.push_sample(encode(self.frame, self.limb).tolist())  # type: ignore[arg-type]
            time.sleep(0.01)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


@pytest.fixture
def display() -> Iterator[OffscreenDisplay]:
    d = OffscreenDisplay(SIZE)
    yield d
    d.close()


def _left_skin(presenter: PandaPresenter, clock: SimClock, display: OffscreenDisplay) -> np.ndarray:
    presenter.idle(clock.now() + 1.0)
    mask = skin_mask(display.screenshot())
    return mask[:, : SIZE[0] // 2]


def test_an_lsl_pose_stream_drives_the_mirrored_hand(
    lsl_name: str, display: OffscreenDisplay
) -> None:
    hand_frame = SyntheticSource("right", noise=False).poll(0.0)
    pub = Publisher(lsl_name, hand_frame)
    try:
        plan = _plan({"source": "lsl", "lsl_stream": lsl_name, "on_lost": "ignore"})
        clock = SimClock()
        presenter = PandaPresenter(
            clock, None, plan, display, options=PresenterOptions(simulated_input=False)
        )
        at_home = _left_skin(presenter, clock, display)
        assert at_home.sum() > 300, "the mirrored hand is not drawn on the amputated side"
        # the intact hand moves 8 cm to the right: its mirror image moves 8 cm to the left
        hand = hand_frame.hands["right"]
        moved = replace(hand, positions=hand.positions + np.array([0.08, 0.0, 0.0]))
        pub.frame = TrackingFrame(t=0.0, hands={"right": moved})
        time.sleep(0.1)
        further = _left_skin(presenter, clock, display)
        cols = np.arange(SIZE[0] // 2)
        x_home = (at_home.sum(axis=0) * cols).sum() / at_home.sum()
        x_moved = (further.sum(axis=0) * cols).sum() / further.sum()
        assert x_moved < x_home - 10, (x_home, x_moved)
        # the stream stops: the hand is not frozen on screen
        pub.stop()
        time.sleep(0.4)
        assert _left_skin(presenter, clock, display).sum() == 0
        presenter.close()
    finally:
        pub.running = False


def test_a_replay_file_drives_the_mirrored_leg(tmp_path: Path) -> None:
    src = SyntheticSource("right", noise=False, limb="lower")
    src.perform("knee_extension", 0.0, 3.0)
    path = tmp_path / "leg.poses.jsonl"
    with PoseRecorder(path) as rec:
        for k in range(61):
            rec.write(src.poll(k * 0.05))
    plan = _plan({"source": "replay", "replay_file": str(path)}, limb="lower", rest_s=3.0)
    frames = tmp_path / "frames"
    opts = LaunchOptions(
        out=tmp_path / "session",
        presenter_factory=presenter_factory("offscreen", plan, size=SIZE, frames_dir=frames),
    )
    _, summary = run_session(plan, opts)
    assert summary["state"] == "completed", summary
    from tests.render.helpers import read_png

    shots = sorted(frames.glob("frame-*.png"))
    masks = [skin_mask(read_png(p))[:, : SIZE[0] // 2] for p in shots]
    assert all(m.sum() > 200 for m in masks), [int(m.sum()) for m in masks]
    # the knee straightens and bends back in the recording: the mirrored leg's outline changes
    assert max(int((m ^ masks[0]).sum()) for m in masks) > 300


def test_a_pose_stream_that_stops_pauses_the_session(lsl_name: str, tmp_path: Path) -> None:
    pub = Publisher(lsl_name, SyntheticSource("right", noise=False).poll(0.0))
    try:
        plan = _plan({"source": "lsl", "lsl_stream": lsl_name}, rest_s=3600.0)
        factory = presenter_factory("offscreen", plan, size=SIZE)
        assert factory is not None

        def make(clock, patient):  # type: ignore[no-untyped-def]
            threading.Timer(1.0, pub.stop).start()  # the tracker goes away a second in
            return factory(clock, patient)

        _, summary = run_session(plan, LaunchOptions(out=tmp_path / "s", presenter_factory=make))
    finally:
        pub.running = False
    events = read_events(tmp_path / "s" / "events.jsonl").events
    paused = [e for e in events if e.kind == "state" and e["to"] == "paused"]
    assert paused and "pose source lost (lsl): no tracked right hand" in paused[0]["reason"]
    # nobody is there to resume it: the session ends, disarmed, long before the hour's rest
    assert summary["state"] == "aborted" and paused[0].t < 3000

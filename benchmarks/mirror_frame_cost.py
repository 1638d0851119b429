"""CPU cost per frame of pose → mirror → scene update: two hands, a hand and a leg, two legs,
and the same with the pose read from a real LSL stream.

Per frame: take the tracked intact limb (synthetic motion sampled beforehand — the tracker's own
cost is not ours — or, with ``lsl``, the newest sample of a real LSL pose stream published by a
thread of this process at 90 Hz), One Euro smoothing, reflection across the calibrated midline,
visual gain, then place the limbs (CPU skinning into their vertex buffers) and animate the
scene. No rendering. Prints median, p99 and max in microseconds of this thread's CPU time
(``time.thread_time``; on a shared machine the wall time mostly measures waiting for a core),
for the whole path and for the tracking side alone (filter + reflection + gain: the part in
``mirrorvr.tracking``; the rest is the limb model's part matrices and skinning).

Cases: ``hands`` (the upper-limb scene: intact and mirrored hand), ``hand+leg`` (an upper-limb
scene plus a lower-limb pipeline and its two legs: the goal's "a hand and a leg"), ``legs``
(the lower-limb scene), ``lsl-hands`` (``hands`` with the pose from LSL). Frames run back to
back unless ``--pace-ms`` sleeps between them: a real frame loop leaves ~11 ms between frames,
in which other work evicts this one's caches, and every figure rises (measured ≈ 1.7× here).

    .venv/bin/python benchmarks/mirror_frame_cost.py [--frames 3000] [--case hands ...]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable

import numpy as np
from panda3d.core import NodePath

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.scene import MirrorScene
from mirrorvr.tracking.mirror import calibrate_from_body
from mirrorvr.tracking.pipeline import MirrorPipeline, gain_from_settings
from mirrorvr.tracking.pose import TrackingFrame
from mirrorvr.tracking.synthetic import SyntheticSource

CASES = ("hands", "hand+leg", "legs", "lsl-hands")


def _frames(limb: str, n: int) -> list[TrackingFrame]:
    src = SyntheticSource("right", seed=1, limb=limb)  # type: ignore[arg-type]
    moves = (
        ["fist", "thumb_opposition", "wrist_flexion", "pronation"]
        if limb == "upper"
        else ["ankle_dorsiflexion", "toe_flexion", "knee_extension", "foot_circles"]
    )
    for k in range(0, 60, 3):
        src.perform(moves[k % 4], k, 2.5)
    return [src.poll(i / 90.0) for i in range(n)]


def _pipeline(limb: str, scene: MirrorScene) -> MirrorPipeline:
    plane = calibrate_from_body(*SyntheticSource("right").body())
    home = scene.home("left")
    return MirrorPipeline(
        "right",
        plane,
        gain_from_settings(1.5, (0.0, 0.02, 0.0), home),
        limb=limb,  # type: ignore[arg-type]
    )


def _lsl_poll(
    frames: list[TrackingFrame],
) -> tuple[Callable[[int], TrackingFrame], Callable[[], None]]:
    """A publisher thread streaming ``frames`` at 90 Hz and a poll function reading them."""
    import uuid

    import pylsl

    from mirrorvr.tracking.lsl_source import CHANNELS, STREAM_TYPE, LSLPoseSource, encode

    pylsl.set_config_content(
        "[multicast]\nResolveScope = machine\n[lab]\nSessionID = " + uuid.uuid4().hex + "\n"
    )
    name = f"mirrorvr-bench-{os.getpid()}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, STREAM_TYPE, CHANNELS, 90, "float32", name))
    samples = [encode(f).tolist() for f in frames]
    running = True

    def publish() -> None:
        k = 0
        while running:
            outlet.push_sample(samples[k % len(samples)])
            k += 1
            time.sleep(1 / 90)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    src = LSLPoseSource(name, timeout=10.0)

    def stop() -> None:
        nonlocal running
        running = False
        thread.join()
        src.close()

    def poll(i: int) -> TrackingFrame:
        return src.poll(i / 90.0)

    return poll, stop


def run(case: str, n: int, pace_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(whole path, tracking side) CPU microseconds per frame for ``case``."""
    upper = _frames("upper", n) if case != "legs" else []
    lower = _frames("lower", n) if case in ("legs", "hand+leg") else []
    scenes, pipes, feeds = [], [], []
    if upper:
        s = MirrorScene(NodePath("hands"), SceneSettings(), "left")
        scenes.append(s)
        pipes.append(_pipeline("upper", s))
        feeds.append(upper)
    if lower:
        s = MirrorScene(NodePath("legs"), SceneSettings(), "left", limb="lower")
        scenes.append(s)
        pipes.append(_pipeline("lower", s))
        feeds.append(lower)
    stop: Callable[[], None] = lambda: None  # noqa: E731
    lsl: Callable[[int], TrackingFrame] | None = None
    if case == "lsl-hands":
        lsl, stop = _lsl_poll(upper)
    total, tracking = [], []
    try:
        for i in range(n):
            if pace_s > 0:
                time.sleep(pace_s)  # between frames, as in a frame loop (not timed)
            c0 = time.thread_time()
            # with LSL the poll (an inlet pull and decoding) is part of the timed path
            got = [lsl(i)] if lsl is not None else [f[i] for f in feeds]
            tr = 0.0
            for frame, pipe, scene in zip(got, pipes, scenes, strict=True):
                c1 = time.thread_time()
                intact, mirrored = pipe.process(frame)
                tr += time.thread_time() - c1
                scene.set_hands(intact, mirrored)
                scene.update(frame.t)
            total.append(time.thread_time() - c0)
            tracking.append(tr)
    finally:
        stop()
    return np.array(total[100:]) * 1e6, np.array(tracking[100:]) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--case", choices=CASES, action="append")
    ap.add_argument(
        "--pace-ms",
        type=float,
        default=0.0,
        help="sleep between frames (caches go cold, as in a 90 Hz loop); lsl-hands needs > 0 "
        "for samples to arrive and uses 3 ms if not given",
    )
    args = ap.parse_args()
    for case in args.case or CASES:
        load0 = os.getloadavg()[0]
        pace = args.pace_ms or (3.0 if case == "lsl-hands" else 0.0)
        print(f"{case}: frames {'back to back' if not pace else f'{pace:g} ms apart'}")
        total, tracking = run(case, args.frames, pace / 1000.0)
        for label, us in (("whole path", total), ("tracking side", tracking)):
            print(
                f"{case:9s} {label:13s} {len(us)} frames, CPU: median {np.median(us):.0f} µs, "
                f"p99 {np.percentile(us, 99):.0f} µs, max {us.max():.0f} µs"
            )
        print(
            f"          (load average {load0:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )


if __name__ == "__main__":
    main()

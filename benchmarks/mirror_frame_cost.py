"""CPU cost per frame of pose → mirror → scene update, two hands × 26 joints.

Per frame: take the tracked intact hand (synthetic motion, sampled beforehand: the tracker's
own cost is not ours), One Euro smoothing, reflection across the calibrated midline, visual
gain, then place both limbs (CPU skinning into their vertex buffers) and animate the scene.
No rendering. Prints median, p99 and max in microseconds, of wall time and of this thread's
CPU time (``time.thread_time``): on a shared, overloaded machine the wall time mostly measures
waiting for a core, the CPU time what the work itself costs.

    .venv/bin/python benchmarks/mirror_frame_cost.py [--frames 3000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from panda3d.core import NodePath

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.scene import MirrorScene
from mirrorvr.tracking.mirror import calibrate_from_body
from mirrorvr.tracking.pipeline import MirrorPipeline, gain_from_settings
from mirrorvr.tracking.skeleton import HOME_WRIST
from mirrorvr.tracking.synthetic import SyntheticSource


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=3000)
    args = ap.parse_args()
    src = SyntheticSource("right", seed=1)
    for k in range(0, 60, 3):
        src.perform(["fist", "thumb_opposition", "wrist_flexion", "pronation"][k % 4], k, 2.5)
    frames = [src.poll(i / 90.0) for i in range(args.frames)]
    scene = MirrorScene(NodePath("root"), SceneSettings(), "left")
    plane = calibrate_from_body(*src.body())
    pipe = MirrorPipeline(
        "right", plane, gain_from_settings(1.5, (0.0, 0.02, 0.0), HOME_WRIST["left"])
    )
    wall, cpu = [], []
    for f in frames:
        t0, c0 = time.perf_counter(), time.thread_time()
        intact, mirrored = pipe.process(f)
        scene.set_hands(intact, mirrored)
        scene.update(f.t)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    load = os.getloadavg()[0]
    for label, values in (("wall", wall), ("CPU", cpu)):
        us = np.array(values[100:]) * 1e6  # skip warm-up
        print(
            f"pose→mirror→scene, 2 hands × 26 joints, {len(us)} frames, {label} time: "
            f"median {np.median(us):.0f} µs, p99 {np.percentile(us, 99):.0f} µs, "
            f"max {us.max():.0f} µs"
        )
    print(f"(load average {load:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()

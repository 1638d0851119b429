"""The OpenXR frame loop against the simulated headset at 90 Hz.

Runs the headset loop (xrWaitFrame → views → hand joints → mirror scene → render per eye →
xrEndFrame) for N frames while the simulated intact hand opens and closes, and prints:

* the share of frames submitted (xrEndFrame) before their predicted display time, and the
  share of display slots the loop missed, from the runtime's own frame log;
* CPU time per frame outside rendering: the OpenXR plumbing (events, frame begin/end, view
  and joint location, camera placement) and the scene update (mirroring, limb posing),
  medians and 95th percentiles; and the wall time of the render task for context.

    .venv/bin/python benchmarks/openxr_frame_loop.py [--frames 900] [--size 1440x1600]

Needs an X server for GLX (starts a private Xvfb when DISPLAY is unset).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from mirrorvr.config.loader import load_plan
from mirrorvr.render.display import parse_size
from mirrorvr.sim.xr_runtime import (
    SimulatedHeadset,
    build_runtime,
    read_frame_log,
    seated_head,
    write_hands_csv,
    write_head_csv,
)
from mirrorvr.sim.xvfb import Xvfb
from mirrorvr.tracking.motion import params_at
from mirrorvr.tracking.skeleton import hand_pose


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile."""
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=900)
    ap.add_argument("--rate", type=float, default=90.0)
    ap.add_argument("--size", default="1440x1600", help="per-eye image size WIDTHxHEIGHT")
    args = ap.parse_args()
    size = parse_size(args.size)
    plan = load_plan(None)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if not os.environ.get("DISPLAY"):
            os.environ["DISPLAY"] = stack.enter_context(Xvfb()).display
        side = plan.patient.intact_side
        # the hand closes and opens every 2 s so the limb is re-posed every frame
        rows = [(t / 10, hand_pose(side, params_at("fist", (t % 20) / 20))) for t in range(600)]
        p, q = seated_head()
        headset = SimulatedHeadset(
            manifest=build_runtime(),
            rate_hz=args.rate,
            view_size=size,
            head_csv=write_head_csv(tmp / "head.csv", [(0.0, p, q)]),
            hands_csv=write_hands_csv(tmp / "hands.csv", rows),
            frame_log=tmp / "frames.csv",
        )
        os.environ.update(headset.env())

        from mirrorvr.render.headset_loop import HeadsetLoop
        from mirrorvr.render.xr_scene import MirrorHeadsetScene

        scene_cpu: list[float] = []
        render_wall: list[float] = []

        class TimedScene(MirrorHeadsetScene):
            def update(self, frame: Any, t: float) -> None:
                c = time.thread_time()
                super().update(frame, t)
                scene_cpu.append(time.thread_time() - c)

        loop = HeadsetLoop(lambda: TimedScene(plan), keep_frames=True)
        loop.open()
        stack.callback(loop.close)
        render = loop._render_task

        def timed_render() -> None:
            w = time.perf_counter()
            render()
            render_wall.append(time.perf_counter() - w)

        loop.tasks.remove(loop.tasks.find_task("xr-render"))
        loop.add_task("xr-render", timed_render, 50)
        loop.wait_ready()
        scene_cpu.clear()
        render_wall.clear()
        loop.frames.clear()
        first = loop.display.frames_submitted if loop.display else 0
        t0 = time.perf_counter()
        while loop.display is not None and loop.display.frames_submitted - first < args.frames:
            loop.step()
        wall = time.perf_counter() - t0
        renderer = loop.host.get_gsg().get_driver_renderer() if loop.host else "?"
        loop.close()
        log = read_frame_log(tmp / "frames.csv")[-args.frames :]
        before = sum(1 for f in log if f.end_frame_time < f.display_time)
        period = log[0].period
        slots = round((log[-1].display_time - log[0].display_time) / period) + 1
        plumbing = [f.cpu_s for f in loop.frames]
    print(
        f"{args.frames} frames at {args.rate:g} Hz, {size[0]}x{size[1]} per eye, "
        f"renderer {renderer}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"submitted before predicted display time: {100 * before / len(log):.1f} % "
        f"({before}/{len(log)})"
    )
    print(
        f"display slots used: {100 * len(log) / slots:.1f} % ({len(log)} of {slots}; "
        f"{slots - len(log)} missed), achieved {len(log) / wall:.1f} fps"
    )
    print(
        f"CPU per frame, OpenXR plumbing: median {1e3 * statistics.median(plumbing):.2f} ms, "
        f"p95 {1e3 * pct(plumbing, 95):.2f} ms"
    )
    print(
        f"CPU per frame, scene update (mirror + limb): median "
        f"{1e3 * statistics.median(scene_cpu):.2f} ms, p95 {1e3 * pct(scene_cpu, 95):.2f} ms"
    )
    total = [a + b for a, b in zip(plumbing, scene_cpu, strict=False)]
    print(
        f"CPU per frame outside rendering (both): median {1e3 * statistics.median(total):.2f} ms, "
        f"p95 {1e3 * pct(total, 95):.2f} ms (goal <= 2 ms)"
    )
    print(
        f"render task wall time (both eyes, llvmpipe): median "
        f"{1e3 * statistics.median(render_wall):.2f} ms, p95 {1e3 * pct(render_wall, 95):.2f} ms"
    )


if __name__ == "__main__":
    main()

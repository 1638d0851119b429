"""The OpenXR frame loop against the simulated headset at 90 Hz.

Runs the headset loop (xrWaitFrame → views → hand joints → mirror scene → render per eye →
xrEndFrame) for N frames while the simulated intact hand opens and closes, and prints:

* the share of frames submitted (xrEndFrame) before their predicted display time, and the
  share of display slots the loop missed, from the runtime's own frame log;
* CPU time per frame outside rendering: the OpenXR plumbing (events, frame begin/end, view
  and joint location, camera placement) and the scene update (mirroring, limb posing),
  medians and 95th percentiles; and the wall time of the render task for context.

With ``--publish`` (the default; ``--no-publish`` for the loop alone) the loop also publishes
every frame's timing and the tracked and mirrored hand on LSL, as a headset session does
(:class:`~mirrorvr.render.frame_streams.HeadsetFramePublisher`), with an inlet per stream
pulling the samples (as the session's recorder does, here in this process); that CPU time
counts in the plumbing figure, and the publishing alone is printed too.

    .venv/bin/python benchmarks/openxr_frame_loop.py [--frames 900] [--size 1440x1600]
        [--no-publish]

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
    ap.add_argument(
        "--publish",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="publish the pose and frame streams on LSL (kept on this machine)",
    )
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
        publish_cpu: list[float] = []
        inlets: list[Any] = []
        if args.publish:
            inlets = start_publishing(loop, plan, publish_cpu, stack)
        scene_cpu.clear()
        publish_cpu.clear()
        render_wall.clear()
        loop.frames.clear()
        first = loop.display.frames_submitted if loop.display else 0
        t0 = time.perf_counter()
        received = 0
        while loop.display is not None and loop.display.frames_submitted - first < args.frames:
            loop.step()
            if inlets and loop.frame_count % 45 == 0:  # drain the inlets, like a recorder
                received += sum(len(i.pull_chunk(timeout=0.0)[1]) for i in inlets)
        wall = time.perf_counter() - t0
        received += sum(len(i.pull_chunk(timeout=0.5)[1]) for i in inlets)
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
    if publish_cpu:
        print(
            f"  of which publishing on LSL: median {1e3 * statistics.median(publish_cpu):.3f} "
            f"ms, p95 {1e3 * pct(publish_cpu, 95):.3f} ms ({received} samples received by "
            f"{len(inlets)} inlets)"
        )
    else:
        print("  (no LSL publishing: --no-publish)")
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


def start_publishing(loop: Any, plan: Any, cpu: list[float], stack: ExitStack) -> list[Any]:
    """Publish the loop's frames on LSL (machine-local) and open an inlet per stream."""
    import pylsl

    from mirrorvr.render.frame_streams import HeadsetFramePublisher
    from mirrorvr.streams.lslconfig import configure_lsl

    configure_lsl(session_id=f"bench-{os.getpid()}", resolve_scope="machine")
    display = loop.display
    publisher = HeadsetFramePublisher.for_display(
        f"bench{os.getpid()}", display, loop.scene, plan.patient.intact_side
    )
    stack.callback(publisher.close)

    def timed(frame: Any) -> None:
        c = time.thread_time()
        publisher(frame)
        cpu.append(time.thread_time() - c)

    display.frame_listeners.append(timed)
    inlets = []
    for name in publisher.streams.names:
        found = pylsl.resolve_byprop("source_id", f"mirrorvr-bench{os.getpid()}-{name[9:]}", 1, 10)
        if not found:
            raise SystemExit(f"could not resolve {name}")
        inlet = pylsl.StreamInlet(found[0], max_buflen=10)
        inlet.open_stream(timeout=10)
        inlets.append(inlet)
    for _ in range(30):  # let the inlets connect before measuring
        loop.step()
    return inlets


if __name__ == "__main__":
    main()

"""Offscreen frame rate of the patient view (default scene) at 1280×720 with software GL.

Renders the default plan's mirror scene during a movement window through the full frame loop
(pose sync, input, session logic, scene update, render) on the simulated clock, so every loop
iteration renders one frame; also times ``render_frame`` alone. Prints frames per second
(median over repeats) by wall time, and by the process's CPU time (all threads, Mesa's
rasteriser included): the CPU-time rate is what the frame costs, the wall-time rate what an
overloaded shared machine delivered.

``--preset lower-limb-mirror`` measures the lower-limb scene (the legs) instead.

    .venv/bin/python benchmarks/offscreen_fps.py [--frames 300] [--size 1280x720] [--module egl]
        [--preset NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from mirrorvr.config.loader import load_plan
from mirrorvr.render.display import OffscreenDisplay, parse_size
from mirrorvr.render.presenter import PandaPresenter
from mirrorvr.session.clock import SimClock
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.sim.patient import SimulatedPatient


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--module", default="egl", choices=["egl", "tinydisplay"])
    ap.add_argument("--preset", default=None, help="a bundled preset (default: the default plan)")
    args = ap.parse_args()
    plan = load_plan(args.preset)
    clock = SimClock(0.0)
    display = OffscreenDisplay(parse_size(args.size), module=args.module)
    p = PandaPresenter(clock, SimulatedPatient(seed=1), plan, display)
    window = next(s for s in compile_timeline(plan).steps if s.kind == "window")
    clock.sleep_until(window.t)
    p.present(window)
    loop_fps, render_fps, loop_cpu, render_cpu = [], [], [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.frames):
            p._frame()  # one frame on the 90 Hz simulated grid
        loop_fps.append(args.frames / (time.perf_counter() - t0))
        loop_cpu.append(args.frames / (time.process_time() - c0))
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.frames):
            display.render()
        render_fps.append(args.frames / (time.perf_counter() - t0))
        render_cpu.append(args.frames / (time.process_time() - c0))
    med = statistics.median
    print(
        f"{args.preset or 'default plan'}, {args.size} {args.module} ({display.renderer}), "
        f"LP_NUM_THREADS="
        f"{os.environ.get('LP_NUM_THREADS', 'default')}:\n"
        f"  full frame loop: {med(loop_fps):.0f} fps wall, {med(loop_cpu):.0f} frames per CPU-second\n"
        f"  render only:     {med(render_fps):.0f} fps wall, {med(render_cpu):.0f} frames per CPU-second\n"
        f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    p.close()


if __name__ == "__main__":
    main()

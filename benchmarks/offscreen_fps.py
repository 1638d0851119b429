"""Offscreen frame rate of the patient view (default scene) at 1280×720 with software GL.

Renders the default plan's mirror scene during a movement window through the full frame loop
(pose sync, input, session logic, scene update, render) on the simulated clock, so every loop
iteration renders one frame; also times ``render_frame`` alone. Prints frames per second
(median over repeats) by wall time, and by the process's CPU time (all threads, Mesa's
rasteriser included): the CPU-time rate is what the frame costs, the wall-time rate what an
overloaded shared machine delivered.

Every frame is finished (``glFinish``: its pixels exist when the loop moves on), as a window's
buffer swap or a capture does. ``--sync none`` measures what earlier versions of this script
did: llvmpipe only *queues* a pbuffer's frames until its queue fills, so that counted mostly
vertex work and binning, not drawn frames (see docs/performance.md).

Where a frame's CPU goes, by A/B toggles: ``--without shadows|limbs|room|panels|skin-light``
(comma-separated) takes that part out of the picture: ``limbs`` hides both hands (their vertex
and fragment work), ``skin-light`` replaces the skin's per-pixel lighting by its flat colour.
``--detail full|software`` overrides the limbs' detail tier (chosen from the renderer:
``software`` on llvmpipe, see ``render/detail.py``). ``LP_NUM_THREADS`` in the environment sets
llvmpipe's rasteriser threads. ``--preset lower-limb-mirror`` measures another preset's scene
(there: the legs) instead of the default plan's.

    .venv/bin/python benchmarks/offscreen_fps.py [--frames 300] [--size 1280x720] [--module egl]
        [--sync finish|none] [--without shadows,room] [--detail full|software]
        [--preset NAME]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from panda3d.core import Shader

from mirrorvr.config.loader import load_plan
from mirrorvr.render import shaders
from mirrorvr.render.display import OffscreenDisplay, parse_size
from mirrorvr.render.presenter import PandaPresenter
from mirrorvr.session.clock import SimClock
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.sim.patient import SimulatedPatient

TOGGLES = ("shadows", "limbs", "room", "panels", "skin-light")

_FLAT_SKIN = """#version 330
uniform vec4 skin_rgba;
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_tint;
in vec2 v_material;
out vec4 frag;
void main() {
  frag = vec4(skin_rgba.rgb * v_tint, 1.0);
}
"""


def _take_out(p: PandaPresenter, what: str) -> None:
    sc = p.scene
    if what == "shadows":
        for n in p.root.find_all_matches("**/*-shadow"):
            n.hide()
    elif what == "limbs":
        for limb in (sc.mirrored, sc.real):
            limb.root.stash()
    elif what == "room":
        sc.environment.hide()
    elif what == "panels":
        for n in (sc.cue.root, sc.rating.root, sc.progress.root, sc.arrow.root):
            n.hide()
    elif what == "skin-light":
        flat = Shader.make(Shader.SL_GLSL, shaders.SKINNED_VERTEX, _FLAT_SKIN)
        for limb in (sc.mirrored, sc.real):
            limb.root.set_shader(flat, 15)  # above the limb's own, below its shadow's
    else:
        raise SystemExit(f"--without: unknown part {what!r} (one of {', '.join(TOGGLES)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--module", default="egl", choices=["egl", "tinydisplay"])
    ap.add_argument("--sync", default="finish", choices=["finish", "none"])
    ap.add_argument("--without", default="", help=f"comma-separated: {', '.join(TOGGLES)}")
    ap.add_argument("--detail", default=None, choices=["full", "software"])
    ap.add_argument("--preset", default=None, help="a bundled preset (default: the default plan)")
    args = ap.parse_args()
    if args.detail is not None:
        os.environ["MIRRORVR_LIMB_DETAIL"] = args.detail
    load0 = os.getloadavg()[0]
    plan = load_plan(args.preset)
    clock = SimClock(0.0)
    display = OffscreenDisplay(
        parse_size(args.size), module=args.module, finish=args.sync == "finish"
    )
    p = PandaPresenter(clock, SimulatedPatient(seed=1), plan, display)
    window = next(s for s in compile_timeline(plan).steps if s.kind == "window")
    clock.sleep_until(window.t)
    p.present(window)
    for what in filter(None, args.without.split(",")):
        _take_out(p, what)
    for _ in range(10):  # shaders compiled, buffers uploaded
        p._frame()
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
    detail = getattr(p.scene, "detail", "full")  # scenes before the tiers: full
    print(
        f"{args.preset or 'default plan'}, {args.size} {args.module} ({display.renderer}), "
        f"sync={args.sync}, LP_NUM_THREADS="
        f"{os.environ.get('LP_NUM_THREADS', 'default')}, limb detail {detail}"
        f"{', without ' + args.without if args.without else ''}:\n"
        f"  full frame loop: {med(loop_fps):.0f} fps wall, {med(loop_cpu):.0f} frames per CPU-second\n"
        f"  render only:     {med(render_fps):.0f} fps wall, {med(render_cpu):.0f} frames per CPU-second\n"
        f"  load average {load0:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    p.close()


if __name__ == "__main__":
    main()

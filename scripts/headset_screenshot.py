#!/usr/bin/env python3
"""Render the README's headset picture of the lower limb (docs/images/headset-leg.png).

``python scripts/headset_screenshot.py [--at SECONDS ...]``: a real-time ``mirrorvr sim
--display openxr`` of a left transtibial patient (residual limb shown) extending the knee, in
the simulated OpenXR runtime (built with ``make`` on first use) under a private Xvfb; the
intact right leg is posed by foot and knee trackers (``XR_HTCX_vive_tracker_interaction``)
scripted from the synthetic leg, and the runtime captures the left eye. With several ``--at``
times every capture is kept as ``headset-leg-<t>.png`` next to the picture, to choose from.
Run from the repository root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from PIL import Image  # noqa: E402

from mirrorvr.config.loader import load_plan  # noqa: E402
from mirrorvr.session.timeline import compile_timeline  # noqa: E402
from mirrorvr.sim.xr_runtime import (  # noqa: E402
    SimulatedHeadset,
    build_runtime,
    read_ppm,
    seated_head,
    synthetic_leg_tracker_rows,
    write_controllers_csv,
    write_head_csv,
)
from mirrorvr.sim.xvfb import Xvfb  # noqa: E402

OUT = ROOT / "docs" / "images" / "headset-leg.png"
VIEW = (480, 540)

PLAN = """
[session]
name = "lower limb in the headset (screenshot)"
seed = 2

[patient]
id = "SHOT-LEG"
amputation_side = "left"
limb = "lower"
amputation_level = "transtibial"

[[blocks]]
kind = "mirror"
movements = ["knee_extension"]
repetitions = 1
cue_s = 0.5
movement_s = 4.0
rest_s = 0.5

[scene]
show_residual = true

[stimulation]
mode = "none"

[devices]
stimulator = { kind = "none" }
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--at", type=float, action="append", help="capture time(s), seconds")
    args = ap.parse_args()
    times: list[float] = args.at or [5.0]
    manifest = build_runtime()
    with tempfile.TemporaryDirectory() as tmp_name, Xvfb() as x:
        tmp = Path(tmp_name)
        plan_path = tmp / "plan.toml"
        plan_path.write_text(PLAN, encoding="utf-8")
        rows = synthetic_leg_tracker_rows(compile_timeline(load_plan(plan_path)), "right")
        p, q = seated_head(pitch_down_deg=60.0)
        shots = {t: tmp / f"eye-{t:g}.ppm" for t in times}
        headset = SimulatedHeadset(
            manifest=manifest,
            rate_hz=60.0,
            view_size=VIEW,
            head_csv=write_head_csv(tmp / "head.csv", [(0.0, p, q)]),
            controllers_csv=write_controllers_csv(tmp / "trackers.csv", rows),
            frame_log=tmp / "frames.csv",
            script_path=tmp / "script.txt",
            commands=[f"t={t:g} capture left {path}" for t, path in shots.items()],
        )
        env = {**os.environ, **headset.env(), "DISPLAY": x.display}
        cmd = [sys.executable, "-m", "mirrorvr", "sim", str(plan_path), "--out", str(tmp / "s")]
        proc = subprocess.run(
            [*cmd, "--display", "openxr", "--realtime"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        if proc.returncode != 0:
            raise SystemExit(f"the headset session failed:\n{proc.stderr[-2000:]}")
        for t, path in shots.items():
            if not path.exists():
                raise SystemExit(f"no capture at t={t:g} s (the session ended before it?)")
            target = OUT if len(shots) == 1 else OUT.with_name(f"headset-leg-{t:g}.png")
            Image.fromarray(read_ppm(path)).save(target, optimize=True)
            print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

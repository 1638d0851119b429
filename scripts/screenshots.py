#!/usr/bin/env python3
"""Render the README's screenshots (docs/images/*.png) from bundled presets, offscreen.

``python scripts/screenshots.py [NAME.png ...]`` renders the named pictures only.

Each picture is a frame of a simulated session at a chosen moment, rendered exactly as
``mirrorvr sim --display offscreen`` renders it on a GPU: the limbs at full detail, also on
llvmpipe (``MIRRORVR_LIMB_DETAIL=software`` shows the software renderers' tier instead; see
``render/detail.py``). Run from the repository root.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# the README shows what a clinic's GPU draws
os.environ.setdefault("MIRRORVR_LIMB_DETAIL", "full")

from mirrorvr.config.loader import load_plan  # noqa: E402
from mirrorvr.render.display import OffscreenDisplay  # noqa: E402
from mirrorvr.render.presenter import PandaPresenter  # noqa: E402
from mirrorvr.session.clock import SimClock  # noqa: E402
from mirrorvr.session.timeline import compile_timeline  # noqa: E402
from mirrorvr.sim.patient import SimulatedPatient  # noqa: E402

OUT = ROOT / "docs" / "images"
SIZE = (960, 540)

#: (file, preset, step kind, movement or None, seconds after the step's onset)
SHOTS = [
    ("mirror-cue.png", "malavera-mirror", "cue", None, 0.0),
    ("mirror-fist.png", "malavera-mirror", "window", "fist", 0.9),
    ("mirror-pronation.png", "malavera-mirror", "window", "pronation", 0.75),
    ("rating.png", "malavera-mirror", "rating", None, 3.0),
    # the embodiment questionnaire after a mirror block (the preset with embodiment = true)
    ("embodiment.png", "malavera-mirror+embodiment", "embodiment", None, 2.0),
    ("imagery-demo.png", "cue-locked-imagery", "cue", "fist", 0.9),
    ("laterality.png", "cue-locked-imagery", "laterality_trial", None, 0.2),
    # lower limb (left transtibial): the tracked right leg mirrored onto the left
    ("leg-dorsiflexion.png", "lower-limb-mirror", "window", "ankle_dorsiflexion", 0.8),
    ("leg-knee-extension.png", "lower-limb-mirror", "window", "knee_extension", 0.9),
    ("leg-foot-circles.png", "lower-limb-mirror", "window", "foot_circles", 1.4),
    ("foot-laterality.png", "lower-limb-mirror", "laterality_trial", None, 0.2),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    display = OffscreenDisplay(SIZE)
    only = set(sys.argv[1:])  # file names to render (default: all)
    for name, preset, kind, movement, after in SHOTS:
        if only and name not in only:
            continue
        plan = load_plan(preset.split("+")[0])
        if preset.endswith("+embodiment"):
            blocks = [
                b.model_copy(update={"embodiment": True}) if b.kind == "mirror" else b
                for b in plan.blocks
            ]
            plan = plan.model_copy(update={"blocks": blocks})
        clock = SimClock(0.0)
        display.clear_cameras()
        p = PandaPresenter(clock, SimulatedPatient(seed=1), plan, display)
        steps = compile_timeline(plan).steps
        step = next(
            s
            for s in steps
            if s.kind == kind and (movement is None or s.data.get("movement") == movement)
        )
        # the steps before it (so the cue, progress and hands are as in the session)
        for s in steps:
            if s.index >= step.index:
                break
            if s.kind in ("cue", "window", "rest") and s.index >= step.index - 3:
                clock.sleep_until(s.t)
                p.present(s)
        clock.sleep_until(step.t)
        onset = p.present(step)
        if after:
            p.idle(onset + after)
        display.save_png(OUT / name)
        p.loop.close()
        print(f"wrote docs/images/{name}")
    display.close()


if __name__ == "__main__":
    main()

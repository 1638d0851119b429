#!/usr/bin/env python3
"""Build the leg model's parts procedurally and write them to assets/leg/leg-parts.egg.

Run from the repository root: ``python scripts/build_leg_asset.py``. Simple parts, like the
hand's: a joint sphere, a tapered bone tube (thigh, shank, toes, heel) and a foot slab, unit
sized and placed on the leg skeleton (``mirrorvr.tracking.leg_skeleton``) every frame. The
output is deterministic; the test suite checks the committed file matches this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

# the shared helper sits next to this script (also when a test loads the script by path)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from egg_parts import ROOT, egg_text, write_asset

from mirrorvr.render.meshes import egg_group, foot, sphere, tube

OUT = ROOT / "assets" / "leg" / "leg-parts.egg"


def build() -> str:
    """The egg file's text."""
    return egg_text(
        "leg",
        "scripts/build_leg_asset.py",
        [
            egg_group("joint", sphere(rings=9, segments=14)),
            egg_group("bone", tube(segments=16)),
            egg_group("foot", foot()),
        ],
    )


def main() -> None:
    write_asset(OUT, build())


if __name__ == "__main__":
    main()

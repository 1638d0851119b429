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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mirrorvr.render.meshes import egg_group, foot, sphere, tube  # noqa: E402

OUT = ROOT / "assets" / "leg" / "leg-parts.egg"


def build() -> str:
    """The egg file's text."""
    parts = [
        "<CoordinateSystem> { Z-up }",
        "<Comment> { mirrorvr leg parts: made by scripts/build_leg_asset.py; MIT, see LICENSE }",
        egg_group("joint", sphere(rings=9, segments=14)),
        egg_group("bone", tube(segments=16)),
        egg_group("foot", foot()),
    ]
    return "\n".join(parts) + "\n"


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(build(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

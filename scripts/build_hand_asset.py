#!/usr/bin/env python3
"""Build the limb model's parts procedurally and write them to assets/hand/hand-parts.egg.

Run from the repository root: ``python scripts/build_hand_asset.py``. The output is
deterministic; the test suite checks the committed file matches this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mirrorvr.render.meshes import egg_group, slab, sphere, tube  # noqa: E402

OUT = ROOT / "assets" / "hand" / "hand-parts.egg"


def build() -> str:
    """The egg file's text."""
    parts = [
        "<CoordinateSystem> { Z-up }",
        "<Comment> { mirrorvr limb parts: made by scripts/build_hand_asset.py; MIT, see LICENSE }",
        egg_group("joint", sphere()),
        egg_group("bone", tube()),
        egg_group("palm", slab()),
    ]
    return "\n".join(parts) + "\n"


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(build(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Build the limb model's parts procedurally and write them to assets/hand/hand-parts.egg.

Run from the repository root: ``python scripts/build_hand_asset.py``. The output is
deterministic; the test suite checks the committed file matches this script's output.
"""

from __future__ import annotations

import sys
from pathlib import Path

# the shared helper sits next to this script (also when a test loads the script by path)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from egg_parts import ROOT, egg_text, write_asset

from mirrorvr.render.meshes import egg_group, slab, sphere, tube

OUT = ROOT / "assets" / "hand" / "hand-parts.egg"


def build() -> str:
    """The egg file's text."""
    return egg_text(
        "limb",
        "scripts/build_hand_asset.py",
        [
            egg_group("joint", sphere()),
            egg_group("bone", tube()),
            egg_group("palm", slab()),
        ],
    )


def main() -> None:
    write_asset(OUT, build())


if __name__ == "__main__":
    main()

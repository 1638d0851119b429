#!/usr/bin/env python3
"""Build the realistic limb meshes and write them as glTF to assets/limbs/.

Run from the repository root: ``python scripts/build_limb_assets.py [hand] [leg]`` (default:
every limb). Each limb is described
as data (``render/hand_spec.py``, ``render/leg_spec.py``) and meshed by one pipeline (``render/limb_build.py``:
distance field → marching cubes → smoothing → skin weights). The output is deterministic; the
test suite rebuilds it and checks the committed files are byte-identical.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mirrorvr.render.detail import SOFTWARE_TRIANGLES  # noqa: E402
from mirrorvr.render.hand_spec import hand_spec  # noqa: E402
from mirrorvr.render.leg_spec import leg_spec  # noqa: E402
from mirrorvr.render.limb_build import build_mesh  # noqa: E402
from mirrorvr.render.limb_gltf import to_gltf  # noqa: E402
from mirrorvr.render.limb_spec import LimbSpec  # noqa: E402

OUT = ROOT / "assets" / "limbs"
#: every limb this script builds: file stem → its description
LIMBS: dict[str, Callable[[], LimbSpec]] = {
    "hand": hand_spec,
    "leg": leg_spec,
    # the same hand and leg at the software renderers' budget (render/detail.py)
    "hand-software": lambda: replace(hand_spec(), triangles=SOFTWARE_TRIANGLES),
    "leg-software": lambda: replace(leg_spec(), triangles=SOFTWARE_TRIANGLES),
}


def build(name: str) -> tuple[str, bytes]:
    """The ``.gltf`` text and ``.bin`` bytes of limb ``name``."""
    spec = LIMBS[name]()
    return to_gltf(spec, build_mesh(spec), f"{name}.bin")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[1:] or LIMBS:
        text, blob = build(name)
        (OUT / f"{name}.gltf").write_text(text, encoding="utf-8")
        (OUT / f"{name}.bin").write_bytes(blob)
        print(f"wrote assets/limbs/{name}.gltf + .bin ({len(blob)} bytes)")


if __name__ == "__main__":
    main()

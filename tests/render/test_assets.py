"""The limb asset is what its build script makes, and it loads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mirrorvr.render.limb import PARTS_FILE, load_parts

ROOT = Path(__file__).resolve().parents[2]


def test_committed_asset_matches_its_build_script() -> None:
    spec = importlib.util.spec_from_file_location("build", ROOT / "scripts" / "build_hand_asset.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert PARTS_FILE.read_text(encoding="utf-8") == mod.build()
    assert (PARTS_FILE.parent / "LICENSE").exists()
    assert set(load_parts()) == {"joint", "bone", "palm"}

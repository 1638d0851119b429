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


def test_scene_settings_in_a_plan() -> None:
    import pytest
    from pydantic import ValidationError

    from mirrorvr.config.plan import SceneSettings

    s = SceneSettings(skin="#ff8000", hand_scale=1.2, mirror_gain=2.0)
    assert s.skin_rgb == (1.0, 128 / 255, 0.0)
    with pytest.raises(ValidationError):
        SceneSettings(skin="orange")
    with pytest.raises(ValidationError):
        SceneSettings(mirror_gain=10.0)

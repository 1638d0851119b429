"""The limbs' detail tier: chosen from the renderer, overridable, and drawn."""

from __future__ import annotations

import pytest

from mirrorvr.errors import MirrorVRError
from mirrorvr.render.detail import detail_for
from mirrorvr.render.shaders import skinned_shader


def test_software_renderers_get_the_software_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIRRORVR_LIMB_DETAIL", raising=False)
    assert detail_for("llvmpipe (LLVM 15.0.6, 256 bits)") == "software"
    assert detail_for("softpipe") == "software"
    assert detail_for("NVIDIA GeForce RTX 3060/PCIe/SSE2") == "full"
    assert detail_for("AMD Radeon RX 6600 (radeonsi, navi23, LLVM 15.0.6)") == "full"
    assert detail_for("?") == "full"


def test_the_environment_overrides_the_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIRRORVR_LIMB_DETAIL", "full")
    assert detail_for("llvmpipe (LLVM 15.0.6, 256 bits)") == "full"
    monkeypatch.setenv("MIRRORVR_LIMB_DETAIL", "fancy")
    with pytest.raises(MirrorVRError, match="MIRRORVR_LIMB_DETAIL='fancy': use one of full"):
        detail_for("llvmpipe")


def test_the_offscreen_scene_on_llvmpipe_draws_the_software_tier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mirrorvr.config.loader import load_plan
    from mirrorvr.render.display import OffscreenDisplay
    from mirrorvr.render.limb import side_model
    from mirrorvr.render.presenter import PandaPresenter
    from mirrorvr.session.clock import SimClock

    monkeypatch.delenv("MIRRORVR_LIMB_DETAIL", raising=False)
    display = OffscreenDisplay((160, 90))
    if "llvmpipe" not in display.renderer:
        display.close()
        pytest.skip(f"not a software renderer: {display.renderer}")
    p = PandaPresenter(SimClock(0.0), None, load_plan(None), display)
    try:
        assert p.scene.detail == "software"
        for limb in (p.scene.mirrored, p.scene.real, p.scene.demo):
            # lit per vertex, from the coarser hand
            assert limb.root.get_shader() == skinned_shader(per_vertex=True)
            assert limb.model is side_model(limb.side, "upper", "software")
    finally:
        p.close()


def test_the_per_vertex_skin_shader_is_the_skinning_shader_with_lighting_moved() -> None:
    # SKINNED_VERTEX_LIT is derived from SKINNED_VERTEX by text replacement: a change to the
    # skinning shader that the replacement no longer matches must not pass silently
    from mirrorvr.render import shaders

    lit = shaders.SKINNED_VERTEX_LIT
    assert "out vec3 v_lit;" in lit and "v_lit = skin_lit(" in lit
    for varying in ("v_pos", "v_normal", "v_tint", "v_material"):
        assert f"out vec3 {varying};" not in lit and f"out vec2 {varying};" not in lit
    # the skinning itself is the shared one
    assert shaders.SKINNED_VERTEX.split("void main()")[1].split("vec4 view")[0] in lit

"""Screenshot tests of the mirror scene, rendered for real offscreen (EGL on Mesa llvmpipe)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import CardMaker, NodePath

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.frame import FrameLoop
from mirrorvr.render.limb import mirror_geometry
from mirrorvr.render.scene import MirrorScene, patient_camera
from mirrorvr.tracking.mirror import MidlinePlane, mirror_hand
from mirrorvr.tracking.motion import params_at
from mirrorvr.tracking.skeleton import HandParams, hand_pose
from tests.render.helpers import near, skin_mask

SIZE = (320, 180)


@pytest.fixture(scope="module")
def display() -> Iterator[OffscreenDisplay]:
    d = OffscreenDisplay(SIZE)
    yield d
    d.close()


def _scene(display: OffscreenDisplay, **settings: object) -> tuple[MirrorScene, NodePath]:
    display.clear_cameras()
    root = NodePath("root")
    scene = MirrorScene(root, SceneSettings(**settings), "left")  # type: ignore[arg-type]
    display.attach_camera(patient_camera(root, display.aspect))
    return scene, root


def _shot(display: OffscreenDisplay) -> np.ndarray:
    display.render()
    return display.screenshot()


def test_mirrored_hand_appears_on_the_amputated_side(display: OffscreenDisplay) -> None:
    scene, _ = _scene(display, show_real_side=False)
    intact = hand_pose("right", HandParams())
    scene.set_hands(intact, mirror_hand(intact, MidlinePlane.sagittal()))
    mask = skin_mask(_shot(display))
    w = SIZE[0] // 2
    left, right = int(mask[:, :w].sum()), int(mask[:, w:].sum())
    assert left > 400, f"mirrored hand hardly visible ({left} px)"
    assert right < 0.02 * left, "something skin-coloured on the intact side, real hand was hidden"


def test_mirrored_hand_faces_are_not_culled_and_match_the_real_hand(
    display: OffscreenDisplay,
) -> None:
    scene, _ = _scene(display)
    for params in (HandParams(), params_at("fist", 0.5)):
        intact = hand_pose("right", params)
        scene.set_hands(intact, mirror_hand(intact, MidlinePlane.sagittal()))
        mask = skin_mask(_shot(display))
        w = SIZE[0] // 2
        real, mirrored = mask[:, w:], mask[:, :w][:, ::-1]
        # the camera sits on the midline: the mirrored hand must be the real one, flipped —
        # same area (no faces culled away) and the same silhouette
        iou = (real & mirrored).sum() / max(1, (real | mirrored).sum())
        assert mirrored.sum() > 0.9 * real.sum() and iou > 0.85, (mirrored.sum(), real.sum(), iou)


def test_a_fist_on_the_intact_side_shows_as_a_fist_on_the_mirrored_side(
    display: OffscreenDisplay,
) -> None:
    scene, _ = _scene(display, show_real_side=False)

    def mirrored_mask(params: HandParams) -> np.ndarray:
        intact = hand_pose("right", params)
        scene.set_hands(intact, mirror_hand(intact, MidlinePlane.sagittal()))
        return skin_mask(_shot(display))[:, : SIZE[0] // 2]

    open_, fist = mirrored_mask(HandParams()), mirrored_mask(params_at("fist", 0.5))
    top = lambda m: int(np.argmax(m.any(axis=1)))  # noqa: E731 — first row with skin
    # curled fingers: the hand ends well short of where the open fingers reached, and covers less
    assert top(fist) > top(open_) + 8, (top(fist), top(open_))
    assert fist.sum() < 0.85 * open_.sum()


def test_negative_scale_culls_faces_unless_reversed(display: OffscreenDisplay) -> None:
    display.clear_cameras()
    root = NodePath("root")
    display.attach_camera(patient_camera(root, display.aspect))
    cm = CardMaker("card")
    cm.set_frame(-0.1, 0.1, -0.1, 0.1)
    holder = root.attach_new_node("holder")
    holder.set_pos(0, 0.9, 1.0)
    card = holder.attach_new_node(cm.generate())
    card.set_color(1, 0, 1, 1)
    magenta = (1.0, 0.0, 1.0)
    assert near(_shot(display), magenta, 5).sum() > 100
    holder.set_sx(-1)  # a plain mirror: the card disappears (this is why the fix exists)
    assert near(_shot(display), magenta, 5).sum() == 0
    holder.set_sx(1)
    mirror_geometry(holder)
    assert holder.get_sx() == -1 and near(_shot(display), magenta, 5).sum() > 100


def test_frame_phases_run_in_their_fixed_order() -> None:
    loop = FrameLoop()
    seen: list[str] = []
    for name, sort in (
        ("render", 50),
        ("scene", 40),
        ("pose", -1000),
        ("session", 0),
        ("input", -50),
    ):
        loop.add_phase(name, sort, lambda f, n=name: seen.append(n))
    loop.step(1.0)
    loop.step(2.0)
    assert seen == ["pose", "input", "session", "scene", "render"] * 2
    assert loop.frame.index == 1 and loop.frame.t == 2.0
    loop.close()


def test_no_panda3d_builtins_are_created(display: OffscreenDisplay) -> None:
    _scene(display)
    for name in ("base", "render", "loader", "taskMgr", "messenger"):
        assert not hasattr(builtins, name), name


def test_a_limb_stays_drawn_wherever_it_moves(display: OffscreenDisplay) -> None:
    # the limb's vertices are rewritten every frame; stale bounds once culled a moved hand
    scene, _ = _scene(display, show_real_side=False)
    pixels = []
    for reach in (0.0, 0.3, -0.1):
        intact = hand_pose("right", HandParams(reach=reach))
        scene.set_hands(intact, mirror_hand(intact, MidlinePlane.sagittal()))
        pixels.append(int(skin_mask(_shot(display)).sum()))
    assert min(pixels) > 300, pixels

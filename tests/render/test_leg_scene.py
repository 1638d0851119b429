"""The lower-limb scene rendered for real offscreen: the mirrored leg on the amputated side."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from panda3d.core import NodePath

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.scene import MirrorScene, patient_camera
from mirrorvr.tracking.leg_skeleton import LegParams, leg_pose
from mirrorvr.tracking.mirror import MidlinePlane, mirror_hand
from tests.render.helpers import skin_mask

SIZE = (320, 180)


@pytest.fixture(scope="module")
def display() -> Iterator[OffscreenDisplay]:
    d = OffscreenDisplay(SIZE)
    yield d
    d.close()


def _mask(display: OffscreenDisplay, level: str, p: LegParams, real: bool = True) -> np.ndarray:
    display.clear_cameras()
    root = NodePath("root")
    scene = MirrorScene(root, SceneSettings(show_real_side=real), "left", limb="lower", level=level)
    display.attach_camera(
        patient_camera(root, display.aspect, look_at=scene.look_at, eye=scene.eye)
    )
    display.render()
    empty = display.screenshot().astype(int)
    intact = leg_pose("right", p)
    scene.set_hands(intact, mirror_hand(intact, MidlinePlane.sagittal()))
    display.render()
    # the legs' silhouette: what drawing them changed (the key light shades the two legs
    # differently, so a skin-colour mask would not compare their shapes)
    return np.abs(display.screenshot().astype(int) - empty).sum(axis=-1) > 24


def test_mirrored_leg_is_the_real_leg_reflected(display: OffscreenDisplay) -> None:
    mask = _mask(display, "transfemoral", LegParams(dorsiflexion=0.3))
    w = SIZE[0] // 2
    mirrored, real = mask[:, :w][:, ::-1], mask[:, w:]
    assert mirrored.sum() > 800 and real.sum() > 800
    # the camera sits on the midline: the mirrored leg is the real one flipped (same area, no
    # faces culled, the same silhouette)
    overlap = (mirrored & real).sum() / (mirrored | real).sum()
    assert abs(int(mirrored.sum()) - int(real.sum())) < 0.05 * real.sum(), (
        mirrored.sum(),
        real.sum(),
    )
    assert overlap > 0.9, overlap


def test_the_amputation_level_decides_what_is_mirrored(display: OffscreenDisplay) -> None:
    w = SIZE[0] // 2
    whole = _mask(display, "transfemoral", LegParams(), real=False)[:, :w].sum()
    shank_foot = _mask(display, "transtibial", LegParams(), real=False)[:, :w].sum()
    foot = _mask(display, "ankle", LegParams(), real=False)[:, :w].sum()
    assert whole > shank_foot > foot > 50, (whole, shank_foot, foot)


def test_the_mirrored_foot_follows_the_intact_foot(display: OffscreenDisplay) -> None:
    w = SIZE[0] // 2
    rest = _mask(display, "transtibial", LegParams(), real=False)[:, :w]
    up = _mask(display, "transtibial", LegParams(dorsiflexion=math.radians(20)), real=False)[:, :w]
    knee = _mask(display, "transtibial", LegParams(knee_ext=math.radians(50)), real=False)[:, :w]
    assert (rest ^ up).sum() > 30 and (rest ^ knee).sum() > 300


def test_the_residual_leg_is_drawn_when_asked(display: OffscreenDisplay) -> None:
    # the amputated side's own thigh and stump (rigid parts), without any tracked leg
    def amputated_side(show: bool) -> int:
        display.clear_cameras()
        root = NodePath("root")
        settings = SceneSettings(show_real_side=False, show_residual=show)
        scene = MirrorScene(root, settings, "left", limb="lower", level="transtibial")
        display.attach_camera(
            patient_camera(root, display.aspect, look_at=scene.look_at, eye=scene.eye)
        )
        display.render()
        return int(skin_mask(display.screenshot())[:, : SIZE[0] // 2].sum())

    assert amputated_side(False) == 0
    assert amputated_side(True) > 100

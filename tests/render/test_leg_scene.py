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

SIZE = (320, 180)


@pytest.fixture(scope="module")
def display() -> Iterator[OffscreenDisplay]:
    d = OffscreenDisplay(SIZE)
    yield d
    d.close()


def _mask(
    display: OffscreenDisplay,
    level: str,
    p: LegParams,
    real: bool = True,
    residual: bool = False,
    view: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
) -> np.ndarray:
    display.clear_cameras()
    root = NodePath("root")
    settings = SceneSettings(show_real_side=real, show_residual=residual)
    scene = MirrorScene(root, settings, "left", limb="lower", level=level)
    eye, look_at = view or (scene.eye, scene.look_at)
    display.attach_camera(patient_camera(root, display.aspect, look_at=look_at, eye=eye))
    scene.residual.hide()
    display.render()
    empty = display.screenshot().astype(int)
    scene.residual.show()
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


#: from the left, at knee height: the left leg's whole length in view
SIDE = ((-1.0, 0.5, 0.55), (-0.12, 0.45, 0.28))


def test_the_residual_leg_completes_the_mirrored_one_at_rest(display: OffscreenDisplay) -> None:
    # with show_residual the rest of the amputated side's leg (drawn at rest from the same mesh,
    # cut along the same line) and the mirrored part meet: together, at rest, the whole leg
    whole = _mask(display, "transfemoral", LegParams(), real=False, view=SIDE)
    for level in ("transtibial", "ankle"):
        both = _mask(display, level, LegParams(), real=False, residual=True, view=SIDE)
        overlap = (both & whole).sum() / (both | whole).sum()
        assert overlap > 0.95, (level, overlap)
        alone = _mask(display, level, LegParams(), real=False, view=SIDE).sum()
        assert alone < 0.75 * both.sum(), (level, alone, both.sum())
    # above the knee the mirrored leg is the whole leg: no residual is drawn
    with_residual = _mask(
        display, "transfemoral", LegParams(), real=False, residual=True, view=SIDE
    )
    assert (with_residual == whole).all()

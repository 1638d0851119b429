"""The patient's appearance changes what is drawn: skin tone, sleeve and hand size (offscreen)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.preview import render_preview
from tests.render.helpers import skin_mask


def _image(**settings: object) -> np.ndarray:
    png = render_preview(SceneSettings(**settings))  # type: ignore[arg-type]
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _green(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return (g > r + 30) & (g > b + 20)


def test_skin_tone_and_sleeve_colour_reach_the_picture() -> None:
    light = _image(skin="#f1c8a8")
    dark = _image(skin="#7a4a32")
    hands = skin_mask(light)
    assert hands.sum() > 2000
    # the hands are where they were; only their tone changed: darker there, still skin-hued
    d = dark[hands].astype(int)
    assert light[hands].mean() > d.mean() + 40
    assert (d[:, 0] > d[:, 1]).mean() > 0.9 and (d[:, 1] > d[:, 2]).mean() > 0.9
    green = _green(_image(sleeve="#20a040")).sum()
    assert green > 500 and _green(_image()).sum() < 0.05 * green


def test_hand_size_reaches_the_picture() -> None:
    small = skin_mask(_image(hand_length_cm=16.0)).sum()
    large = skin_mask(_image(hand_length_cm=22.0)).sum()
    wide = skin_mask(_image(hand_length_cm=22.0, hand_scale=1.4)).sum()
    assert large > 1.15 * small, (small, large)
    assert wide > 1.1 * large, (large, wide)


def test_plain_scene_has_no_room_and_no_shadows() -> None:
    room, plain = _image(), _image(style="plain")
    background = np.array([0.78, 0.84, 0.88]) * 255  # the display's clear colour
    floor_room, floor_plain = (
        room[-4:, 200:280].mean(axis=(0, 1)),
        plain[-4:, 200:280].mean(axis=(0, 1)),
    )
    assert np.abs(floor_plain - background).max() < 6, floor_plain  # no floor: background
    assert np.abs(floor_room - background).max() > 20, floor_room
    # the hands are drawn alike, but the table around them has no darker shadow patches
    assert (
        abs(int(skin_mask(room).sum()) - int(skin_mask(plain).sum())) < 0.05 * skin_mask(room).sum()
    )
    # (dark hand edges the skin mask misses count in both: ≈ 350 px measured in the plain one)
    assert _shadow_pixels(room) > 1000 and _shadow_pixels(plain) < 0.25 * _shadow_pixels(room)


def _shadow_pixels(img: np.ndarray) -> int:
    """Table pixels clearly darker than the table's usual brightness, and not skin."""
    win = (slice(20, 170), slice(60, 420))  # the table around the hands, above the sleeves
    bright = img[win].astype(int).sum(axis=-1)
    table = np.median(bright)
    return int(((bright < table - 60) & ~skin_mask(img[win])).sum())


def _legs(**settings: object) -> np.ndarray:
    png = render_preview(SceneSettings(**settings), limb="lower")  # type: ignore[arg-type]
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_the_leg_renders_and_skin_tone_and_trousers_reach_the_picture() -> None:
    light = _legs(skin="#f1c8a8")
    legs = skin_mask(light)
    assert legs.sum() > 3000  # both legs, knee to toes
    d = _legs(skin="#7a4a32")[legs].astype(int)
    assert light[legs].mean() > d.mean() + 40
    assert (d[:, 0] > d[:, 1]).mean() > 0.9 and (d[:, 1] > d[:, 2]).mean() > 0.9
    # the clothing colour (the sleeve setting) dresses the thighs: green trousers
    green = _green(_legs(sleeve="#20a040"))
    assert green.sum() > 500 and _green(_legs()).sum() < 0.05 * green.sum()
    # trousers sit above the knees, never on the feet (the lower half of the picture)
    assert green[green.shape[0] // 2 :].sum() == 0


def test_the_leg_width_setting_reaches_the_picture() -> None:
    normal = skin_mask(_legs()).sum()
    wide = skin_mask(_legs(hand_scale=1.3)).sum()
    assert wide > 1.12 * normal, (normal, wide)

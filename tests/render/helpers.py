"""Pixel helpers for screenshot tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from panda3d.core import Filename, PNMImage, Texture


def read_png(path: Path) -> NDArray[np.uint8]:
    """An RGB array (top row first) of a PNG file."""
    img = PNMImage()
    assert img.read(Filename.from_os_specific(str(path))), path
    tex = Texture()
    tex.load(img)
    data = np.frombuffer(bytes(tex.get_ram_image_as("RGB")), dtype=np.uint8)
    return data.reshape(tex.get_y_size(), tex.get_x_size(), 3)[::-1]


def near(
    img: NDArray[np.uint8], rgb: tuple[float, float, float], tol: int = 40
) -> NDArray[np.bool_]:
    """Mask of pixels within ``tol`` (per channel) of colour ``rgb`` (0–1 floats)."""
    target = np.array([round(c * 255) for c in rgb])
    return np.all(np.abs(img.astype(int) - target) <= tol, axis=-1)


def skin_mask(img: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels of lit skin: reddish, brighter red than blue by a margin (table and walls aren't)."""
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return (r > 120) & (r - b > 45) & (g - b > 15) & (r > g)

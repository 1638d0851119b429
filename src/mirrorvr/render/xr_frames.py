"""Pure conversions between OpenXR's frame and mirrorvr's world frame, and view projections.

OpenXR reference spaces are right-handed with +y up and -z forward; mirrorvr's world (and
Panda3D's) is right-handed with +z up and +y forward, x to the patient's right in both. The
STAGE space's origin is on the floor, like the world's, so the change of frame is a fixed
rotation about x: ``world = (x, -z, y)``. Quaternions here are ``(w, x, y, z)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

#: the fixed rotation taking OpenXR coordinates to world coordinates (det +1)
XR_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


# the rotation as a permutation of axes and signs (one indexing and one product per call:
# these run for every joint of every frame)
_P_WORLD, _S_WORLD = [0, 2, 1], np.array([1.0, -1.0, 1.0])
_P_XR, _S_XR = [0, 2, 1], np.array([1.0, 1.0, -1.0])
# a proper rotation of the frame maps a quaternion's vector part like a position
_Q_WORLD, _QS_WORLD = [0, 1, 3, 2], np.array([1.0, 1.0, -1.0, 1.0])
_Q_XR, _QS_XR = [0, 1, 3, 2], np.array([1.0, 1.0, 1.0, -1.0])


def position_to_world(p: Array) -> Array:
    """OpenXR position(s) ``(..., 3)`` in world coordinates: ``(x, -z, y)``."""
    return np.asarray(p, dtype=np.float64)[..., _P_WORLD] * _S_WORLD


def position_to_xr(p: Array) -> Array:
    """World position(s) ``(..., 3)`` in OpenXR coordinates: ``(x, z, -y)``."""
    return np.asarray(p, dtype=np.float64)[..., _P_XR] * _S_XR


def quat_to_world(q: Array) -> Array:
    """OpenXR orientation(s) ``(..., 4)`` wxyz as world orientations (``M q M^T``)."""
    return np.asarray(q, dtype=np.float64)[..., _Q_WORLD] * _QS_WORLD


def quat_to_xr(q: Array) -> Array:
    """World orientation(s) ``(..., 4)`` wxyz in OpenXR coordinates."""
    return np.asarray(q, dtype=np.float64)[..., _Q_XR] * _QS_XR


def film_from_fov(
    angle_left: float, angle_right: float, angle_up: float, angle_down: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Film size and offset of a focal-length-1 perspective lens matching an OpenXR ``XrFovf``.

    OpenXR views are asymmetric frusta given by four angles (left/down negative); at focal
    length 1 their tangents are the film's edges, so the film is ``(r - l, u - d)`` wide and
    its centre is offset by the edges' midpoint.
    """
    lt, rt = math.tan(angle_left), math.tan(angle_right)
    ut, dt = math.tan(angle_up), math.tan(angle_down)
    if not (lt < rt and dt < ut):
        raise ValueError(
            f"degenerate field of view: {angle_left, angle_right, angle_up, angle_down}"
        )
    return (rt - lt, ut - dt), ((rt + lt) / 2.0, (ut + dt) / 2.0)


def xr_time_to_lsl(seconds: int, nanoseconds: int) -> float:
    """A converted ``timespec`` (CLOCK_MONOTONIC) as LSL seconds: the same clock on Linux."""
    return seconds + nanoseconds * 1e-9

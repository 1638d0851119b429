"""OpenXR ↔ world frame conversions and view projections (pure)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mirrorvr.render.xr_frames import (
    XR_TO_WORLD,
    film_from_fov,
    position_to_world,
    position_to_xr,
    quat_to_world,
    quat_to_xr,
)
from mirrorvr.tracking import quat

unit = st.floats(-1.0, 1.0, allow_nan=False)


@given(st.tuples(unit, unit, unit, unit).filter(lambda q: sum(v * v for v in q) > 0.01))
def test_orientation_conversion_is_the_frame_change_of_the_rotation(q: tuple[float, ...]) -> None:
    qx = quat.normalize(np.array(q))
    expected = XR_TO_WORLD @ quat.to_matrix(qx) @ XR_TO_WORLD.T
    np.testing.assert_allclose(quat.to_matrix(quat_to_world(qx)), expected, atol=1e-9)
    np.testing.assert_allclose(quat_to_xr(quat_to_world(qx)), qx, atol=1e-12)


@given(st.tuples(unit, unit, unit))
def test_position_conversion_round_trips(p: tuple[float, float, float]) -> None:
    v = np.array(p)
    np.testing.assert_allclose(position_to_world(v), XR_TO_WORLD @ v)
    np.testing.assert_allclose(position_to_xr(position_to_world(v)), v)


def test_xr_up_and_forward_are_world_up_and_forward() -> None:
    np.testing.assert_allclose(position_to_world(np.array([0.0, 1.0, 0.0])), [0, 0, 1])
    np.testing.assert_allclose(position_to_world(np.array([0.0, 0.0, -1.0])), [0, 1, 0])


def test_film_matches_asymmetric_fov() -> None:
    size, offset = film_from_fov(-0.8, 0.6, 0.7, -0.9)
    left, right = offset[0] - size[0] / 2, offset[0] + size[0] / 2
    down, up = offset[1] - size[1] / 2, offset[1] + size[1] / 2
    assert math.isclose(left, math.tan(-0.8)) and math.isclose(right, math.tan(0.6))
    assert math.isclose(down, math.tan(-0.9)) and math.isclose(up, math.tan(0.7))
    assert film_from_fov(-0.5, 0.5, 0.5, -0.5)[1] == (0.0, 0.0)

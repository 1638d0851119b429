"""Properties of the mirror math: involution, isometry, proper rotations, one handedness flip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import PARENTS
from mirrorvr.tracking.mirror import (
    CalibrationError,
    MidlinePlane,
    VisualGain,
    calibrate_from_body,
    calibrate_two_point,
    handedness,
    mirror_hand,
    reflect_hand,
    reflect_orientations,
    reflect_positions,
)
from mirrorvr.tracking.skeleton import HandParams, hand_pose

finite = st.floats(-2.0, 2.0, allow_nan=False)
vec3 = st.tuples(finite, finite, finite).map(np.array)
unit_q = (
    st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 4)
    .filter(lambda q: sum(x * x for x in q) > 0.05)
    .map(lambda q: quat.normalize(np.array(q)))
)
normals = vec3.filter(lambda v: float(np.linalg.norm(v)) > 0.1)
planes = st.builds(MidlinePlane, vec3, normals)
params = st.builds(
    HandParams,
    *[st.floats(0, 1)] * 7,
    st.floats(-1.0, 1.0),
    st.floats(-0.5, 2.6),
    st.floats(0, 0.2),
)


@settings(max_examples=60, deadline=None)
@given(planes, st.lists(vec3, min_size=2, max_size=8), st.lists(unit_q, min_size=1, max_size=8))
def test_reflecting_twice_is_identity_and_rotations_stay_proper(plane, pts, qs) -> None:
    p = np.stack(pts)
    q = np.stack(qs)
    assert np.allclose(reflect_positions(plane, reflect_positions(plane, p)), p, atol=1e-9)
    once = reflect_orientations(plane, q)
    # proper rotations: unit quaternions whose matrices have determinant +1
    assert np.allclose(np.linalg.det(quat.to_matrix(once)), 1.0, atol=1e-9)
    twice = reflect_orientations(plane, once)
    assert np.allclose(quat.angle_between(twice, q), 0.0, atol=1e-6)
    # distances preserved
    d0 = np.linalg.norm(p[:, None] - p[None], axis=-1)
    r = reflect_positions(plane, p)
    assert np.allclose(np.linalg.norm(r[:, None] - r[None], axis=-1), d0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(planes, params)
def test_hand_reflection_preserves_shape_and_flips_handedness_once(plane, p) -> None:
    right = hand_pose("right", p)
    left = reflect_hand(right, plane)
    assert left.side == "left"
    assert handedness(right) == 1 and handedness(left) == -1
    assert handedness(reflect_hand(left, plane)) == 1
    # bone lengths and joint angles (parent → child rotation angle) preserved
    for j, parent in enumerate(PARENTS):
        if parent < 0:
            continue
        for h0, h1 in ((right, left),):
            assert np.isclose(
                np.linalg.norm(h0.positions[j] - h0.positions[parent]),
                np.linalg.norm(h1.positions[j] - h1.positions[parent]),
                atol=1e-9,
            )
            a0 = quat.angle_between(h0.orientations[parent], h0.orientations[j])
            a1 = quat.angle_between(h1.orientations[parent], h1.orientations[j])
            assert np.isclose(a0, a1, atol=1e-6)
    back = reflect_hand(left, plane)
    assert np.allclose(back.positions, right.positions, atol=1e-9)
    assert np.allclose(quat.angle_between(back.orientations, right.orientations), 0, atol=1e-6)


def test_sagittal_reflection_matches_the_closed_form() -> None:
    q = quat.normalize(np.array([[0.3, 0.5, -0.2, 0.7]]))
    out = reflect_orientations(MidlinePlane.sagittal(), q)
    assert np.allclose(out, quat.normalize(q * np.array([1, 1, -1, -1])))
    assert np.allclose(
        reflect_positions(MidlinePlane.sagittal(0.1), np.array([0.5, 1.0, 2.0])), [-0.3, 1.0, 2.0]
    )


def test_a_synthetic_left_hand_is_the_mirror_of_the_right() -> None:
    p = HandParams(curl_index=0.7, thumb_opposition=0.4, wrist_flex=0.3, forearm_rot=0.5)
    right, left = hand_pose("right", p), hand_pose("left", p)
    m = mirror_hand(right, MidlinePlane.sagittal())
    assert np.allclose(m.positions, left.positions)
    assert handedness(left) == -1


def test_calibration_from_shoulders_and_two_points() -> None:
    ls, rs = np.array([-0.2, 0.1, 1.0]), np.array([0.2, 0.1, 1.1])
    plane = calibrate_from_body(np.array([0.04, 0.0, 1.3]), ls, rs)
    assert np.allclose(plane.normal, [1, 0, 0])  # horizontal even with tilted shoulders
    assert np.isclose(plane.point[0], 0.02)  # halfway towards the head
    assert plane.side_of(np.array([0.3, 0, 0])) == "right"
    two = calibrate_two_point(np.array([-0.3, 0.4, 0.75]), np.array([0.1, 0.4, 0.75]))
    assert np.isclose(two.point[0], -0.1) and np.allclose(two.normal, [1, 0, 0])
    with pytest.raises(CalibrationError, match="2 cm"):
        calibrate_two_point(np.array([0, 0, 0.7]), np.array([0.001, 0, 0.9]))


def test_visual_gain_scales_displacement_rigidly() -> None:
    hand = hand_pose("left", HandParams(reach=0.1))
    home = hand_pose("left", HandParams()).positions[1]
    g = VisualGain(gain=2.0, offset=np.array([0.0, 0.0, 0.01]), home=home)
    out = g.apply(hand)
    assert np.allclose(out.positions[1], home + 2 * (hand.positions[1] - home) + [0, 0, 0.01])
    assert np.allclose(out.positions - out.positions[1], hand.positions - hand.positions[1])

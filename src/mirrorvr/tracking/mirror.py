"""Mirror math (pure): the body midline plane, reflection of hands across it, gain and offset.

A reflection ``M = I − 2nnᵀ`` has determinant −1; applied to a hand it yields the geometry of
the *other* hand. Positions reflect directly. A joint's orientation ``R`` becomes
``R' = M·R·S`` where ``S = diag(−1, 1, 1)`` is the reflection across the joint's local x = 0
plane — the one that turns a right hand model into a left one (OpenXR uses the same joint axes
on both hands). ``det(R') = (−1)(+1)(−1) = +1``: a proper rotation, so no reflection is left in
the quaternions and the other side's model is drawn with ordinary (non-negative) transforms
— nothing is turned inside out. In quaternions ``M·R·M`` is ``(w, −M·v)`` and ``M·S`` is a
constant rotation per plane, so reflecting a hand is two vectorised products.

For the sagittal plane x = 0 this reduces to (x, y, z) → (−x, y, z) and
(w, x, y, z) → (w, x, −y, −z) (vr-rendering.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from mirrorvr.errors import MirrorVRError
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import CHAINS, Joint, Side, other_side
from mirrorvr.tracking.pose import HandPose, LimbPose, Pose

Array = NDArray[np.float64]
UP = np.array([0.0, 0.0, 1.0])
_S = np.diag([-1.0, 1.0, 1.0])
_L = TypeVar("_L", bound=LimbPose)


class CalibrationError(MirrorVRError):
    """The midline cannot be calibrated from the given points (say which and what to do)."""


@dataclass(frozen=True)
class MidlinePlane:
    """The body's mid-sagittal plane: a point on it and its unit normal (towards the right)."""

    point: Array
    normal: Array
    _local: Array = field(init=False, repr=False, compare=False)
    #: per-frame fast path (one matrix product each): positions ``p @ _pm + _pc``,
    #: orientations ``q @ _qm`` (``M·R·S`` is linear in the quaternion, and orthogonal)
    _pm: Array = field(init=False, repr=False, compare=False)
    _pc: Array = field(init=False, repr=False, compare=False)
    _qm: Array = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = np.asarray(self.normal, dtype=np.float64)
        norm = float(np.linalg.norm(n))
        if not np.isfinite(norm) or norm < 1e-9:
            raise CalibrationError("the midline plane needs a non-zero normal")
        n = n / norm
        object.__setattr__(self, "normal", n)
        object.__setattr__(self, "point", np.asarray(self.point, dtype=np.float64))
        object.__setattr__(self, "_local", quat.from_matrix(self.matrix @ _S))
        m = self.matrix  # symmetric: p @ M = M p
        object.__setattr__(self, "_pm", m)
        object.__setattr__(self, "_pc", 2.0 * float(self.point @ n) * n)
        # rows: the reflection of each basis quaternion (the map q → (w, −M·v) ⊗ local)
        basis = np.eye(4)
        mv = basis[:, 1:] @ m
        mrm = np.concatenate([basis[:, :1], -mv], axis=1)
        object.__setattr__(self, "_qm", quat.multiply(mrm, self._local))

    @classmethod
    def sagittal(cls, x0: float = 0.0) -> MidlinePlane:
        """The plane x = ``x0`` of the world frame."""
        return cls(np.array([x0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]))

    @property
    def matrix(self) -> Array:
        """The reflection ``I − 2nnᵀ`` (determinant −1)."""
        return np.eye(3) - 2.0 * np.outer(self.normal, self.normal)

    def signed_distance(self, p: Array) -> Array:
        """Distance of points from the plane, positive on the right."""
        return (np.asarray(p, dtype=np.float64) - self.point) @ self.normal

    def side_of(self, p: Array) -> Side:
        """Which side of the body a point is on."""
        return "right" if float(self.signed_distance(p)) >= 0 else "left"


def _horizontal(v: Array, up: Array, what: str) -> Array:
    h = v - (v @ up) * up
    if float(np.linalg.norm(h)) < 0.02:
        raise CalibrationError(
            f"{what} are less than 2 cm apart across the body: place them on either side "
            "of the body (e.g. both shoulders) and calibrate again"
        )
    return h


def calibrate_from_body(
    head: Array | None, left_shoulder: Array, right_shoulder: Array, up: Array = UP
) -> MidlinePlane:
    """Midline from both shoulders (and the head if tracked).

    The normal is the horizontal left→right shoulder direction (a vertical plane, so a tilted
    trunk does not tilt the mirror); the plane passes midway between the shoulders, moved
    halfway towards the head along the normal when the head is given (the head marks the
    midline well but moves more than the trunk).
    """
    ls = np.asarray(left_shoulder, dtype=np.float64)
    rs = np.asarray(right_shoulder, dtype=np.float64)
    n = _horizontal(rs - ls, up, "the shoulders")
    n = n / np.linalg.norm(n)
    point = (ls + rs) / 2.0
    if head is not None:
        point = point + 0.5 * float((np.asarray(head, dtype=np.float64) - point) @ n) * n
    return MidlinePlane(point, n)


def calibrate_two_point(left_point: Array, right_point: Array, up: Array = UP) -> MidlinePlane:
    """Guided two-point calibration: the patient touches two mirror-symmetric marks.

    E.g. the intact hand (or a controller) on the table's left and right marks; the midline is
    the vertical plane bisecting them.
    """
    lp = np.asarray(left_point, dtype=np.float64)
    rp = np.asarray(right_point, dtype=np.float64)
    n = _horizontal(rp - lp, up, "the two calibration points")
    return MidlinePlane((lp + rp) / 2.0, n / np.linalg.norm(n))


def reflect_positions(plane: MidlinePlane, p: Array) -> Array:
    """Points reflected across the plane (``p − 2((p − p₀)·n)n`` as one affine map)."""
    return np.asarray(p, dtype=np.float64) @ plane._pm + plane._pc


def reflect_orientations(plane: MidlinePlane, q: Array) -> Array:
    """Joint orientations of the mirror-image hand: ``M·R·S`` as unit quaternions (proper).

    ``(w, −M·v) ⊗ local`` is linear in ``q`` and orthogonal (a unit quaternion stays one), so
    it is one product with a constant 4×4 matrix per plane."""
    return np.asarray(q, dtype=np.float64) @ plane._qm


def reflect_pose(plane: MidlinePlane, pose: Pose) -> Pose:
    """A rigid pose (controller, head) reflected the same way."""
    return replace(
        pose,
        position=reflect_positions(plane, pose.position),
        orientation=reflect_orientations(plane, pose.orientation),
    )


def reflect_hand(hand: _L, plane: MidlinePlane) -> _L:
    """The other hand (or leg): every joint reflected, the side swapped (indices map 1:1)."""
    return replace(
        hand,
        side=other_side(hand.side),
        positions=reflect_positions(plane, hand.positions),
        orientations=reflect_orientations(plane, hand.orientations),
    )


def mirror_joint(side: Side, joint: int) -> tuple[Side, int]:
    """Left↔right joint mapping: the same OpenXR joint on the other hand."""
    return other_side(side), int(Joint(joint))


def handedness(hand: HandPose) -> int:
    """+1 for the geometry of a right hand, −1 for a left hand (from joints, not the label).

    The sign of det[index MCP − wrist, little MCP − wrist, back-of-hand axis]: the two finger
    bases and the back of the hand form a left-handed triple on a right hand.
    """
    w = hand.positions[Joint.WRIST]
    a = hand.positions[CHAINS["index"][1]] - w
    b = hand.positions[CHAINS["little"][1]] - w
    dorsal = quat.rotate(hand.orientations[Joint.WRIST], UP)
    return 1 if float(np.linalg.det(np.stack([a, b, dorsal]))) < 0 else -1


@dataclass(frozen=True)
class VisualGain:
    """Therapist's visual gain and offset of the mirrored hand.

    The wrist's displacement from ``home`` is scaled by ``gain`` (1 = faithful; > 1 makes small
    movements look bigger) and the whole hand moved by ``offset`` (metres) — rigidly, so the
    hand keeps its shape and size.
    """

    gain: float = 1.0
    offset: Array = field(default_factory=lambda: np.zeros(3))
    home: Array | None = None

    def apply(self, hand: _L) -> _L:
        """The hand (leg) moved by gain and offset about its wrist (ankle)."""
        if self.gain == 1.0 and not np.any(self.offset):
            return hand
        w = hand.positions[hand.ANCHOR]
        home = w if self.home is None else np.asarray(self.home, dtype=np.float64)
        target = home + self.gain * (w - home) + np.asarray(self.offset, dtype=np.float64)
        return replace(hand, positions=hand.positions + (target - w))


def mirror_hand(intact: _L, plane: MidlinePlane, gain: VisualGain | None = None) -> _L:
    """The whole pure pipeline: intact limb → the mirrored limb on the amputated side."""
    mirrored = reflect_hand(intact, plane)
    return gain.apply(mirrored) if gain is not None else mirrored

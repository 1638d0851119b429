"""Pose types: a hand (OpenXR 26-joint set), a leg, a controller, a head, one frame of them all.

Positions are metres and orientations unit quaternions ``(w, x, y, z)`` in the mirrorvr world
frame (x right, y forward, z up; see :mod:`mirrorvr.tracking`). Validity uses the bits of
OpenXR's ``XrSpaceLocationFlags`` so a runtime's flags can be copied as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal, TypeVar

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import JOINT_COUNT, Joint, Side
from mirrorvr.tracking.leg_skeleton import LEG_JOINT_COUNT, LegJoint

#: which limb a plan mirrors: ``upper`` (hand and forearm) or ``lower`` (leg and foot)
LimbKind = Literal["upper", "lower"]

#: ``XR_SPACE_LOCATION_*`` bits
ORIENTATION_VALID = 0x1
POSITION_VALID = 0x2
ORIENTATION_TRACKED = 0x4
POSITION_TRACKED = 0x8
ALL_VALID = ORIENTATION_VALID | POSITION_VALID | ORIENTATION_TRACKED | POSITION_TRACKED


@dataclass(frozen=True)
class Pose:
    """A rigid pose (head, controller grip, shoulder...)."""

    position: NDArray[np.float64]
    orientation: NDArray[np.float64] = field(default_factory=lambda: quat.IDENTITY.copy())
    flags: int = ALL_VALID

    @property
    def valid(self) -> bool:
        """Position and orientation both valid."""
        return (self.flags & (POSITION_VALID | ORIENTATION_VALID)) == (
            POSITION_VALID | ORIENTATION_VALID
        )


@dataclass(frozen=True)
class LimbPose:
    """One limb's joints at time ``t`` (LSL seconds); :class:`HandPose` and :class:`LegPose`.

    Joint frames follow one convention on both sides (as OpenXR's hand joints): local +y along
    the bone towards the distal end, +z out of the back of the hand / the front of the leg and
    the top of the foot, +x = y × z — so a left limb is the mirror image of a right one across
    its local x = 0 plane and the same mirror math serves both limbs.
    """

    side: Side
    t: float
    positions: NDArray[np.float64]  # (n, 3)
    orientations: NDArray[np.float64]  # (n, 4) wxyz
    radii: NDArray[np.float64]  # (n,) joint radius, metres (OpenXR reports one per joint)
    flags: NDArray[np.uint8]  # (n,) XrSpaceLocationFlags bits
    active: bool = True

    #: joints in this limb's set
    JOINTS: ClassVar[int] = 0
    #: the joint visual gain moves the limb about (wrist, ankle)
    ANCHOR: ClassVar[int] = 0
    KIND: ClassVar[LimbKind] = "upper"

    def __post_init__(self) -> None:
        n = self.JOINTS
        if self.positions.shape != (n, 3) or self.orientations.shape != (n, 4):
            raise ValueError(
                f"a {type(self).__name__} needs {n}×3 positions and {n}×4 orientations, "
                f"got {self.positions.shape} and {self.orientations.shape}"
            )

    @property
    def valid(self) -> NDArray[np.bool_]:
        """Per joint: position and orientation valid."""
        need = POSITION_VALID | ORIENTATION_VALID
        return (self.flags & need) == need

    @property
    def usable(self) -> bool:
        """Active and every joint valid: what the limb model needs to be drawn."""
        return self.active and bool(self.valid.all())

    def with_side(self: _L, side: Side) -> _L:
        """The same data labelled as the other side (used after mirroring)."""
        return replace(self, side=side)


_L = TypeVar("_L", bound=LimbPose)


@dataclass(frozen=True)
class HandPose(LimbPose):
    """One hand's 26 joints (``XrHandJointEXT`` order)."""

    JOINTS: ClassVar[int] = JOINT_COUNT
    ANCHOR: ClassVar[int] = int(Joint.WRIST)
    KIND: ClassVar[LimbKind] = "upper"


@dataclass(frozen=True)
class LegPose(LimbPose):
    """One leg's joints (:class:`~mirrorvr.tracking.leg_skeleton.LegJoint` order)."""

    JOINTS: ClassVar[int] = LEG_JOINT_COUNT
    ANCHOR: ClassVar[int] = int(LegJoint.ANKLE)
    KIND: ClassVar[LimbKind] = "lower"


@dataclass(frozen=True)
class ControllerPose:
    """A controller: grip pose and the buttons a patient may press."""

    side: Side
    t: float
    grip: Pose
    trigger: float = 0.0
    squeeze: float = 0.0
    buttons: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TrackingFrame:
    """Everything tracked at one time: hands, legs, controllers and head (each may be missing)."""

    t: float
    hands: dict[Side, HandPose] = field(default_factory=dict)
    controllers: dict[Side, ControllerPose] = field(default_factory=dict)
    head: Pose | None = None
    legs: dict[Side, LegPose] = field(default_factory=dict)

    def limbs(self, kind: LimbKind) -> dict[Side, HandPose] | dict[Side, LegPose]:
        """The hands (``upper``) or the legs (``lower``)."""
        return self.hands if kind == "upper" else self.legs


def _limb_from_arrays(
    cls: type[_L],
    side: Side,
    t: float,
    positions: NDArray[np.float64],
    orientations: NDArray[np.float64],
    radii: NDArray[np.float64],
    flags: NDArray[np.uint8] | None,
) -> _L:
    """A limb pose of ``cls`` from arrays; ``flags`` default to all valid and tracked."""
    return cls(
        side=side,
        t=t,
        positions=np.asarray(positions, dtype=np.float64),
        orientations=np.asarray(orientations, dtype=np.float64),
        radii=np.asarray(radii, dtype=np.float64),
        flags=np.full(cls.JOINTS, ALL_VALID, dtype=np.uint8)
        if flags is None
        else np.asarray(flags, dtype=np.uint8),
    )


def hand_from_arrays(
    side: Side,
    t: float,
    positions: NDArray[np.float64],
    orientations: NDArray[np.float64],
    radii: NDArray[np.float64] | None = None,
    flags: NDArray[np.uint8] | None = None,
) -> HandPose:
    """A :class:`HandPose` with defaults for radii (1 cm) and flags (all valid and tracked)."""
    if radii is None:
        radii = np.full(JOINT_COUNT, 0.01)
    return _limb_from_arrays(HandPose, side, t, positions, orientations, radii, flags)


def leg_from_arrays(
    side: Side,
    t: float,
    positions: NDArray[np.float64],
    orientations: NDArray[np.float64],
    radii: NDArray[np.float64] | None = None,
    flags: NDArray[np.uint8] | None = None,
) -> LegPose:
    """A :class:`LegPose` with defaults for radii (rest-pose radii) and flags (all valid)."""
    from mirrorvr.tracking.leg_skeleton import LEG_RADII

    if radii is None:
        radii = LEG_RADII.copy()
    return _limb_from_arrays(LegPose, side, t, positions, orientations, radii, flags)

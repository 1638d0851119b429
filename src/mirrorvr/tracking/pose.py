"""Pose types: a hand as the OpenXR 26-joint set, a controller, a head, one frame of them all.

Positions are metres and orientations unit quaternions ``(w, x, y, z)`` in the mirrorvr world
frame (x right, y forward, z up; see :mod:`mirrorvr.tracking`). Validity uses the bits of
OpenXR's ``XrSpaceLocationFlags`` so a runtime's flags can be copied as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import JOINT_COUNT, Side

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
class HandPose:
    """One hand's 26 joints at time ``t`` (LSL seconds)."""

    side: Side
    t: float
    positions: NDArray[np.float64]  # (26, 3)
    orientations: NDArray[np.float64]  # (26, 4) wxyz
    radii: NDArray[np.float64]  # (26,) joint radius, metres (OpenXR reports one per joint)
    flags: NDArray[np.uint8]  # (26,) XrSpaceLocationFlags bits
    active: bool = True

    def __post_init__(self) -> None:
        if self.positions.shape != (JOINT_COUNT, 3) or self.orientations.shape != (JOINT_COUNT, 4):
            raise ValueError(
                f"a hand pose needs {JOINT_COUNT}×3 positions and {JOINT_COUNT}×4 orientations, "
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

    def with_side(self, side: Side) -> HandPose:
        """The same data labelled as the other hand (used after mirroring)."""
        return replace(self, side=side)


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
    """Everything tracked at one time: hands, controllers and head (each may be missing)."""

    t: float
    hands: dict[Side, HandPose] = field(default_factory=dict)
    controllers: dict[Side, ControllerPose] = field(default_factory=dict)
    head: Pose | None = None


def hand_from_arrays(
    side: Side,
    t: float,
    positions: NDArray[np.float64],
    orientations: NDArray[np.float64],
    radii: NDArray[np.float64] | None = None,
    flags: NDArray[np.uint8] | None = None,
) -> HandPose:
    """A :class:`HandPose` with defaults for radii (1 cm) and flags (all valid and tracked)."""
    return HandPose(
        side=side,
        t=t,
        positions=np.asarray(positions, dtype=np.float64),
        orientations=np.asarray(orientations, dtype=np.float64),
        radii=np.full(JOINT_COUNT, 0.01) if radii is None else np.asarray(radii, dtype=np.float64),
        flags=np.full(JOINT_COUNT, ALL_VALID, dtype=np.uint8)
        if flags is None
        else np.asarray(flags, dtype=np.uint8),
    )

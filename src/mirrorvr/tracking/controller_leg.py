"""A leg from a controller strapped to the foot (pure): the grip pose gives the ankle, the leg
follows as from a foot tracker (:mod:`mirrorvr.tracking.tracker_leg`).

The mount (``[tracking] controllers = "feet"``): the controller lies on the instep, strapped
round the foot, its handle along the foot with the end the index finger would hold towards the
toes and its top (the thumb's side) up. OpenXR's grip frame (−Z forward along the handle, +Y
towards the thumb; mirrorvr's axes after the display's conversion: +y forward, +z up) is then
the foot frame of :mod:`mirrorvr.tracking.leg_skeleton` (+y along the sole, +z out of the
instep) at the identity, and the ankle lies :data:`GRIP_TO_ANKLE_M` from the grip in that frame.
That offset is a guess for a controller strapped on the instep (UNVERIFIED: not measured on any
controller or foot); a fitting can correct it per patient.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import Side
from mirrorvr.tracking.pose import ControllerPose, LegPose, Pose, TrackingFrame
from mirrorvr.tracking.tracker_leg import legs_from_trackers

#: the ankle joint from the grip, in the foot frame (metres): behind and below the handle
#: (UNVERIFIED guess, see the module docstring)
GRIP_TO_ANKLE_M = np.array([0.0, -0.06, -0.05])


def foot_from_grip(grip: Pose, offset: NDArray[np.float64] = GRIP_TO_ANKLE_M) -> Pose:
    """The ankle pose (a foot tracker's) of a foot whose strapped controller has ``grip``."""
    q = quat.normalize(np.asarray(grip.orientation, dtype=np.float64))
    ankle = np.asarray(grip.position, dtype=np.float64) + quat.rotate(q, offset)
    return Pose(ankle, q, flags=grip.flags)


def legs_from_foot_controllers(
    controllers: Mapping[Side, ControllerPose],
    t: float,
    trackers: Mapping[Side, LegPose] | None = None,
) -> dict[Side, LegPose]:
    """Each leg posed from the controller on its foot; a leg already posed by trackers
    (``trackers``) is kept."""
    feet = {f"{side}_foot": foot_from_grip(c.grip) for side, c in controllers.items()}
    legs = legs_from_trackers(feet, t)
    legs.update(trackers or {})
    return legs


def with_foot_controllers(frame: TrackingFrame) -> TrackingFrame:
    """``frame`` with its controllers read as feet: legs from them (trackers win), and no
    controllers left to pose a hand."""
    legs = legs_from_foot_controllers(frame.controllers, frame.t, frame.legs)
    return TrackingFrame(t=frame.t, hands=frame.hands, head=frame.head, legs=legs)

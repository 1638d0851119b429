"""A leg from body trackers (pure): a tracker on each foot (and optionally below each knee)
gives the six leg joints the mirror needs.

Trackers: OpenXR ``XR_HTCX_vive_tracker_interaction`` roles ``left_foot``/``right_foot``
(strapped on the instep) and ``left_knee``/``right_knee`` (on the front of the shank, just
below the knee), or anything that reports those poses. A foot tracker's pose is taken as the
ankle joint's: its position the ankle, its axes the foot frame of
:mod:`mirrorvr.tracking.leg_skeleton` (+y forward along the sole, +z up out of the instep) —
a fitting calibrates the mount's offset into the runtime's pose, or the sender applies it. The
heel, ball and big toe follow from the foot frame and the skeleton's foot geometry (the toes
are not tracked: they stay straight). The knee tracker gives the knee; without one the knee sits
where the rest pose puts it relative to the foot. The hip is placed one thigh length behind the
knee, along the foot's heading, sloping as at rest (seated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import SIDES, Side
from mirrorvr.tracking.leg_skeleton import (
    FOOT_BALL,
    FOOT_HEEL,
    LEG_JOINT_COUNT,
    LEG_RADII,
    LEG_REST_POSITIONS,
    REST_THIGH_PITCH_DEG,
    THIGH_LENGTH,
    TOES,
    LegJoint,
)
from mirrorvr.tracking.pose import LegPose, Pose, leg_from_arrays

Array = NDArray[np.float64]
_UP = np.array([0.0, 0.0, 1.0])
#: a left foot's local offsets are the right foot's with x negated (its local x is medial)
_S = np.array([-1.0, 1.0, 1.0])
#: tracker roles this module reads
ROLES = ("left_foot", "right_foot", "left_knee", "right_knee")


def _frame(y: Array, z_hint: Array) -> Array:
    """Unit quaternion of the frame with +y along ``y`` and +z as close to ``z_hint`` as fits."""
    y = y / max(float(np.linalg.norm(y)), 1e-9)
    z = z_hint - float(z_hint @ y) * y
    n = float(np.linalg.norm(z))
    if n < 1e-6:  # hint along the bone: any perpendicular will do
        z = np.cross(y, np.array([1.0, 0.0, 0.0]))
        n = float(np.linalg.norm(z))
    z = z / n
    x = np.cross(y, z)
    return quat.from_matrix(np.stack([x, y, z], axis=1))


def leg_from_trackers(
    side: Side, foot: Pose, knee: Pose | None, t: float, scale: float = 1.0
) -> LegPose | None:
    """The ``side`` leg from its foot tracker (and knee tracker); ``None`` if the foot's pose
    is not valid."""
    if not foot.valid:
        return None
    qf = quat.normalize(foot.orientation)
    ankle = np.asarray(foot.position, dtype=np.float64)
    fwd = quat.rotate(qf, np.array([0.0, 1.0, 0.0]))
    heading = fwd - float(fwd @ _UP) * _UP
    hn = float(np.linalg.norm(heading))
    heading = heading / hn if hn > 1e-6 else np.array([0.0, 1.0, 0.0])
    if knee is not None and knee.valid:
        knee_p = np.asarray(knee.position, dtype=np.float64)
    else:
        # the rest pose's knee, relative to the ankle, turned to the foot's heading
        rest = (LEG_REST_POSITIONS[LegJoint.KNEE] - LEG_REST_POSITIONS[LegJoint.ANKLE]) * scale
        yaw = math.atan2(-heading[0], heading[1])
        knee_p = ankle + quat.rotate(quat.from_axis_angle(_UP, yaw), rest)
    pitch = math.radians(-REST_THIGH_PITCH_DEG)
    thigh_dir = heading * math.cos(pitch) - _UP * math.sin(pitch)  # forward, sloping down
    hip_p = knee_p - thigh_dir * THIGH_LENGTH * scale
    local = (lambda v: v) if side == "right" else (lambda v: v * _S)
    pos = np.zeros((LEG_JOINT_COUNT, 3))
    rot = np.zeros((LEG_JOINT_COUNT, 4))
    pos[LegJoint.HIP], pos[LegJoint.KNEE], pos[LegJoint.ANKLE] = hip_p, knee_p, ankle
    pos[LegJoint.HEEL] = ankle + quat.rotate(qf, local(FOOT_HEEL) * scale)
    pos[LegJoint.BALL] = ankle + quat.rotate(qf, local(FOOT_BALL) * scale)
    pos[LegJoint.TOE_TIP] = pos[LegJoint.BALL] + quat.rotate(qf, local(TOES) * scale)
    rot[LegJoint.HIP] = _frame(knee_p - hip_p, _UP)
    rot[LegJoint.KNEE] = _frame(ankle - knee_p, heading)
    rot[LegJoint.ANKLE] = rot[LegJoint.HEEL] = qf
    rot[LegJoint.BALL] = rot[LegJoint.TOE_TIP] = qf
    return leg_from_arrays(side, t, pos, rot, radii=LEG_RADII * scale)


def legs_from_trackers(trackers: Mapping[str, Pose], t: float) -> dict[Side, LegPose]:
    """Every leg whose foot tracker is in ``trackers`` (role → pose)."""
    legs: dict[Side, LegPose] = {}
    for side in SIDES:
        foot = trackers.get(f"{side}_foot")
        if foot is None:
            continue
        leg = leg_from_trackers(side, foot, trackers.get(f"{side}_knee"), t)
        if leg is not None:
            legs[side] = leg
    return legs

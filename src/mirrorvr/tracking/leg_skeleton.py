"""The leg and foot skeleton: joint list, hierarchy, rest pose and forward kinematics (data).

Six joints per leg, the same indices on both sides::

    HIP ── KNEE ── ANKLE ─┬─ BALL ── TOE_TIP
                          └─ HEEL

``BALL`` is the big toe's metatarsophalangeal joint (where it bends; medial on the ball of the
foot), ``TOE_TIP`` the tip of the big toe, ``HEEL`` the back of the calcaneus. Joint frames follow the hand's convention (and
OpenXR's): local +y along the bone towards the distal end, +z anterior (front of the thigh
and shin, top of the foot), +x = y × z — lateral on a right leg. A left leg is the mirror image
of a right one across its local x = 0 plane, so :mod:`mirrorvr.tracking.mirror` reflects legs
exactly as it reflects hands.

Rest pose: the patient sits on a chair, thigh forward (+y) sloping down 5°, knee bent 57.5° so
the shank leans 27.5° forward of vertical and the foot rests flat on the floor in front of the
knee (where a seated patient can see it); adult proportions (thigh 43 cm, shank 42 cm, foot
26 cm), ``scale`` adapts them to a patient. World frame as everywhere (x right,
y forward, z up, metres; the floor is z = 0).

The movements of lower-limb mirror therapy are set by :class:`LegParams` (knee extension, ankle
dorsi-/plantarflexion and inversion/eversion, toe flexion); scripted movements are in
:mod:`mirrorvr.tracking.leg_motion`. Issue 20's realistic leg mesh is rigged to these joints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat

if TYPE_CHECKING:
    from mirrorvr.tracking.joints import Side
    from mirrorvr.tracking.pose import LegPose

Array = NDArray[np.float64]


class LegJoint(IntEnum):
    """Joints of one leg (our order; OpenXR body-tracking extensions name the same joints)."""

    HIP = 0
    KNEE = 1
    ANKLE = 2
    HEEL = 3
    BALL = 4
    TOE_TIP = 5


LEG_JOINT_COUNT = len(LegJoint)

#: parent of each joint (-1 for the hip, the root)
LEG_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 2, 4)

#: (joint, child) pairs that form bones: thigh, shank, foot (ankle → ball), toes, heel
LEG_BONES: tuple[tuple[int, int], ...] = (
    (LegJoint.HIP, LegJoint.KNEE),
    (LegJoint.KNEE, LegJoint.ANKLE),
    (LegJoint.ANKLE, LegJoint.BALL),
    (LegJoint.BALL, LegJoint.TOE_TIP),
    (LegJoint.ANKLE, LegJoint.HEEL),
)

#: segment lengths and foot geometry (metres, scale 1): thigh hip → knee, shank knee → ankle;
#: heel, ball and toe tip relative to the ankle in the foot frame (+y forward along the sole)
THIGH_LENGTH = 0.43
SHANK_LENGTH = 0.42
FOOT_HEEL = np.array([0.0, -0.05, -0.065])
#: the ball (first metatarsophalangeal joint) and the big toe sit medially (−x on a right
#: foot): what makes a left foot look different from a right one
FOOT_BALL = np.array([-0.022, 0.15, -0.075])
TOES = np.array([-0.004, 0.06, -0.005])
#: the right hip joint centre, seated on a ~46 cm chair
REST_HIP = np.array([0.12, 0.02, 0.50])
#: joint radii (metres): thigh and calf are wide, the foot is flat-ish, toes small
LEG_RADII: Array = np.array([0.075, 0.055, 0.04, 0.035, 0.035, 0.018])

#: seated rest: the thigh slopes down 5°, the knee is bent 57.5° (foot flat, in front)
REST_THIGH_PITCH_DEG = -5.0
REST_KNEE_FLEX_DEG = 57.5
#: anatomical ranges used by the scripted movements and checks (degrees)
RANGES_DEG = {
    "knee_extension": (0.0, 55.0),  # from 57.5° flexion to nearly straight
    "dorsiflexion": (-45.0, 20.0),  # − = plantarflexion
    "inversion": (-15.0, 25.0),  # − = eversion
    "toe_flexion": (-40.0, 35.0),  # − = extension
}


@dataclass(frozen=True)
class LegParams:
    """The few numbers that pose a leg (all 0 = seated rest, foot flat)."""

    knee_ext: float = 0.0  # radians of knee extension from the rest flexion (+ straightens)
    dorsiflexion: float = 0.0  # radians at the ankle, + toes up, − plantarflexion
    inversion: float = 0.0  # radians, + sole turns inwards, − eversion
    toe_flex: float = 0.0  # radians at the ball of the foot, + toes curl down

    def vector(self) -> Array:
        """The parameters as a vector (for interpolation)."""
        return np.array([getattr(self, n) for n in _PARAM_NAMES], dtype=np.float64)

    @classmethod
    def from_vector(cls, v: Array) -> LegParams:
        """Inverse of :meth:`vector`."""
        return cls(*(float(x) for x in v))


_PARAM_NAMES = tuple(f.name for f in fields(LegParams))
_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])


def _rx(deg: float) -> Array:
    return quat.from_axis_angle(_X, math.radians(deg))


def leg_local(p: LegParams, scale: float = 1.0) -> tuple[Array, Array]:
    """Right-leg joint positions (6×3, relative to the hip) and orientations (6×4).

    The thigh pitches down from +y about x; the shank hangs from the knee, rotated about the
    knee's x axis; the foot turns about the ankle's x axis (dorsiflexion) and its own long axis
    (inversion); the toes bend about the ball's x axis. At rest the foot frame is the world's
    (flat on the floor, toes forward).
    """
    pos = np.zeros((LEG_JOINT_COUNT, 3))
    rot = np.zeros((LEG_JOINT_COUNT, 4))
    thigh = _rx(REST_THIGH_PITCH_DEG)
    shank = quat.multiply(thigh, _rx(-REST_KNEE_FLEX_DEG + math.degrees(p.knee_ext)))
    # at rest the ankle undoes the thigh's and knee's pitch: the foot lies flat
    rest_ankle = REST_KNEE_FLEX_DEG - REST_THIGH_PITCH_DEG
    foot = quat.multiply(shank, _rx(rest_ankle + math.degrees(p.dorsiflexion)))
    foot = quat.multiply(foot, quat.from_axis_angle(_Y, p.inversion))
    toes = quat.multiply(foot, _rx(-math.degrees(p.toe_flex)))
    pos[LegJoint.KNEE] = quat.rotate(thigh, _Y * THIGH_LENGTH * scale)
    pos[LegJoint.ANKLE] = pos[LegJoint.KNEE] + quat.rotate(shank, _Y * SHANK_LENGTH * scale)
    pos[LegJoint.HEEL] = pos[LegJoint.ANKLE] + quat.rotate(foot, FOOT_HEEL * scale)
    pos[LegJoint.BALL] = pos[LegJoint.ANKLE] + quat.rotate(foot, FOOT_BALL * scale)
    pos[LegJoint.TOE_TIP] = pos[LegJoint.BALL] + quat.rotate(toes, TOES * scale)
    rot[LegJoint.HIP] = thigh
    rot[LegJoint.KNEE] = shank
    rot[LegJoint.ANKLE] = foot
    rot[LegJoint.HEEL] = foot
    rot[LegJoint.BALL] = toes
    rot[LegJoint.TOE_TIP] = toes
    return pos, quat.normalize(rot)


#: rest-pose joint positions (6×3) and orientations (6×4, w x y z) of a RIGHT leg, world frame
LEG_REST_POSITIONS, LEG_REST_ORIENTATIONS = leg_local(LegParams())
LEG_REST_POSITIONS += REST_HIP

#: hip of each leg at rest (world frame)
HOME_HIP: dict[str, Array] = {
    "right": REST_HIP.copy(),
    "left": REST_HIP * np.array([-1.0, 1.0, 1.0]),
}


def leg_pose(
    side: Side,
    p: LegParams,
    t: float = 0.0,
    *,
    scale: float = 1.0,
    hip: Array | None = None,
) -> LegPose:
    """World pose of a ``side`` leg posed by ``p``, its hip at ``hip`` (given for the right
    leg; default: the rest hip). A left leg is the right one reflected across x = 0 — the
    same reflection the mirror uses, so synthetic left and right motion agree."""
    from mirrorvr.tracking.mirror import MidlinePlane, reflect_hand  # avoid an import cycle
    from mirrorvr.tracking.pose import leg_from_arrays

    h = HOME_HIP["right"] if hip is None else np.asarray(hip, dtype=np.float64)
    local_pos, local_rot = leg_local(p, scale)
    right = leg_from_arrays("right", t, h + local_pos, local_rot, radii=LEG_RADII * scale)
    if side == "right":
        return right
    return reflect_hand(right, MidlinePlane.sagittal())


def leg_joint_name(j: int) -> str:
    """``toe_tip``-style name of a leg joint index."""
    return LegJoint(j).name.lower()

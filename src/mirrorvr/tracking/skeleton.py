"""A hand skeleton matching the OpenXR joint set, and forward kinematics from a few parameters.

One adult right hand, palm down, fingers along +y, wrist at the origin, measured from typical
adult hand proportions (total length ≈ 19 cm); ``scale`` adapts it to a patient. The left hand
is its mirror image. Synthetic motion (:mod:`mirrorvr.tracking.motion`) drives the parameters;
the limb model (:mod:`mirrorvr.render.limb`) draws segments between the joints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import CHAINS, JOINT_COUNT, Joint, Side
from mirrorvr.tracking.pose import HandPose, hand_from_arrays

X = np.array([1.0, 0.0, 0.0])
Y = np.array([0.0, 1.0, 0.0])
Z = np.array([0.0, 0.0, 1.0])

#: metacarpal base, MCP position (right hand, metres) and phalanx lengths (proximal,
#: intermediate, distal) of the four fingers
_FINGERS: dict[
    str, tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, ...]]
] = {
    "index": ((-0.018, 0.010, 0.000), (-0.026, 0.088, 0.000), (0.042, 0.025, 0.021)),
    "middle": ((-0.004, 0.010, 0.002), (-0.006, 0.092, 0.002), (0.046, 0.029, 0.023)),
    "ring": ((0.010, 0.008, 0.000), (0.013, 0.085, 0.000), (0.043, 0.027, 0.022)),
    "little": ((0.022, 0.005, -0.003), (0.032, 0.074, -0.004), (0.033, 0.020, 0.019)),
}
_THUMB_BASE = (-0.024, 0.014, -0.008)
_THUMB_LENGTHS = (0.045, 0.033, 0.027)  # metacarpal, proximal, distal (to the tip)
#: the thumb points forward and out, its nail turned outwards (yaw, roll in degrees)
_THUMB_YAW_DEG, _THUMB_ROLL_DEG = 38.0, -60.0
#: flexion at full curl: MCP, PIP, DIP (degrees)
_CURL_DEG = (85.0, 100.0, 70.0)
#: finger abduction at full spread (degrees), index → little
_SPREAD_DEG = (-10.0, -2.0, 6.0, 14.0)

#: joint radii (metres): wrist and palm are wide, fingers taper towards the tips
RADII = np.array(
    [0.030, 0.026]
    + [0.012, 0.011, 0.010, 0.008]
    + [0.011, 0.010, 0.009, 0.008, 0.007] * 3
    + [0.010, 0.009, 0.008, 0.007, 0.006]
)
#: forearm length (wrist to elbow), metres
FOREARM_LENGTH = 0.26


@dataclass(frozen=True)
class HandParams:
    """The few numbers that pose a hand and forearm (all 0 = relaxed, palm down on the table)."""

    curl_index: float = 0.0
    curl_middle: float = 0.0
    curl_ring: float = 0.0
    curl_little: float = 0.0
    spread: float = 0.0  # 0..1 finger abduction
    thumb_opposition: float = 0.0  # 0..1 across the palm towards the little finger
    thumb_flex: float = 0.0  # 0..1 flexion of the thumb's MCP and IP joints
    wrist_flex: float = 0.0  # radians, + = flexion (palm-ward), − = extension
    forearm_rot: float = 0.0  # radians, + = supination (palm up)
    reach: float = 0.0  # metres the wrist moves forward

    def vector(self) -> NDArray[np.float64]:
        """The parameters as a vector (for interpolation)."""
        # not dataclasses.astuple: it deep-copies, and this runs several times per frame
        return np.array([getattr(self, n) for n in _PARAM_NAMES], dtype=np.float64)

    @classmethod
    def from_vector(cls, v: NDArray[np.float64]) -> HandParams:
        """Inverse of :meth:`vector`."""
        return cls(*(float(x) for x in v))

    @classmethod
    def size(cls) -> int:
        """Number of parameters."""
        return len(fields(cls))


Q = tuple[float, float, float, float]
V = tuple[float, float, float]


# Forward kinematics runs every frame in simulation: plain-float quaternion maths on tuples is
# several times faster than numpy on 4-element arrays.
def _qmul(a: Q, b: Q) -> Q:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def _axis(axis: int, deg: float) -> Q:
    h = math.radians(deg) / 2.0
    q = [math.cos(h), 0.0, 0.0, 0.0]
    q[1 + axis] = math.sin(h)
    return (q[0], q[1], q[2], q[3])


def _y_of(q: Q) -> V:
    """The rotated +y axis (where a bone points)."""
    w, x, y, z = q
    return (2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x))


def _align_y(d: V) -> Q:
    """Rotation about z taking +y to the horizontal part of ``d`` (bones of the palm)."""
    return _axis(2, math.degrees(math.atan2(-d[0], d[1])))


def hand_local(
    p: HandParams, scale: float = 1.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Right-hand joint positions (26×3) and orientations (26×4) relative to the wrist.

    The wrist frame itself is the identity here; :func:`hand_pose` places it in the world.
    """
    pos: list[V] = [(0.0, 0.0, 0.0)] * JOINT_COUNT
    rot: list[Q] = [(1.0, 0.0, 0.0, 0.0)] * JOINT_COUNT
    curls = (p.curl_index, p.curl_middle, p.curl_ring, p.curl_little)
    for k, (name, (base, mcp, lengths)) in enumerate(_FINGERS.items()):
        chain = CHAINS[name]
        b = (base[0] * scale, base[1] * scale, base[2] * scale)
        here = (mcp[0] * scale, mcp[1] * scale, mcp[2] * scale)
        r = _align_y((here[0] - b[0], here[1] - b[1], here[2] - b[2]))
        pos[chain[0]], rot[chain[0]] = b, r
        c = curls[k]
        r = _qmul(r, _axis(2, _SPREAD_DEG[k] * p.spread))
        for i, length in enumerate(lengths):
            r = _qmul(r, _axis(0, -_CURL_DEG[i] * c))  # flexion curls towards the palm (−z)
            pos[chain[1 + i]], rot[chain[1 + i]] = here, r
            d = _y_of(r)
            L = length * scale
            here = (here[0] + d[0] * L, here[1] + d[1] * L, here[2] + d[2] * L)
        pos[chain[-1]], rot[chain[-1]] = here, r
    # thumb: yaw out, roll its nail outwards, then opposition swings it across the palm
    o, f = p.thumb_opposition, p.thumb_flex
    r = _qmul(_axis(2, _THUMB_YAW_DEG - 55.0 * o), _axis(1, _THUMB_ROLL_DEG - 25.0 * o))
    r = _qmul(r, _axis(0, -(15.0 * o)))
    here = (_THUMB_BASE[0] * scale, _THUMB_BASE[1] * scale, _THUMB_BASE[2] * scale)
    thumb_flex = (0.0, 25.0 * o + 35.0 * f, 25.0 * o + 60.0 * f)
    chain = CHAINS["thumb"]
    for i, length in enumerate(_THUMB_LENGTHS):
        r = _qmul(r, _axis(0, -thumb_flex[i]))
        pos[chain[i]], rot[chain[i]] = here, r
        d = _y_of(r)
        L = length * scale
        here = (here[0] + d[0] * L, here[1] + d[1] * L, here[2] + d[2] * L)
    pos[chain[-1]], rot[chain[-1]] = here, r
    # palm: between the wrist and the middle finger's MCP, oriented like its metacarpal
    mid = CHAINS["middle"]
    m = pos[mid[1]]
    pos[Joint.PALM] = (m[0] / 2.0, m[1] / 2.0, m[2] / 2.0)
    rot[Joint.PALM] = rot[mid[0]]
    return np.array(pos), np.array(rot)


_PARAM_NAMES = tuple(f.name for f in fields(HandParams))

#: wrist of each hand at rest on the table (world frame)
HOME_WRIST: dict[Side, NDArray[np.float64]] = {
    "right": np.array([0.20, 0.30, 0.79]),
    "left": np.array([-0.20, 0.30, 0.79]),
}
TABLE_HEIGHT = 0.74


def hand_pose(
    side: Side,
    p: HandParams,
    t: float = 0.0,
    *,
    scale: float = 1.0,
    wrist: NDArray[np.float64] | None = None,
) -> HandPose:
    """World pose of a ``side`` hand posed by ``p``, its wrist at ``wrist`` (default: home).

    A left hand is built as a right hand at the mirrored place, then reflected across x = 0:
    the same reflection the mirror math uses, so synthetic left and right motion agree.
    """
    from mirrorvr.tracking.mirror import MidlinePlane, reflect_hand  # avoid an import cycle

    home = HOME_WRIST["right"] if wrist is None else np.array(wrist, dtype=np.float64)
    if side == "left" and wrist is not None:
        home = home * np.array([-1.0, 1.0, 1.0])
    local_pos, local_rot = hand_local(p, scale)
    # forearm rotation about the forearm axis (+y), then wrist flexion about the wrist's x
    w_rot = np.array(
        _qmul(_axis(1, math.degrees(p.forearm_rot)), _axis(0, -math.degrees(p.wrist_flex)))
    )
    w_pos = home + np.array([0.0, p.reach, 0.25 * p.reach])
    positions = w_pos + quat.rotate(w_rot, local_pos)
    orientations = quat.normalize(quat.multiply(w_rot, local_rot))
    right = hand_from_arrays("right", t, positions, orientations, radii=RADII * scale)
    if side == "right":
        return right
    return reflect_hand(right, MidlinePlane.sagittal())

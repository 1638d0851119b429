"""Skinning maths (pure numpy): skin-joint frames from a tracked hand, and joint matrices.

The hand's skin joints are the 26 tracked joints plus four forearm *twist* joints spread from
the elbow to the wrist. Hand tracking gives no elbow, so the forearm lies behind the wrist along
the hand's horizontal direction, sloping down (as the rigid model had it). Pronation and
supination turn the wrist about the forearm's axis; the twist joints take 0 %, 30 %, 65 % and
92 % of that turn, so the forearm's skin twists progressively instead of collapsing at the wrist
(the "candy-wrapper" of plain linear blend skinning).

Linear blend skinning: ``v' = Σ wᵢ Mᵢ v`` with ``Mᵢ = [Rᵢ Dᵢ R₀ᵢᵀ | pᵢ − Rᵢ Dᵢ R₀ᵢᵀ p₀ᵢ]``: the
bind frame ``(R₀, p₀)`` taken to the tracked frame ``(R, p)``, scaled by ``D`` = diag(thickness,
bone-length ratio, thickness) in the joint's own axes — bones stretch to the tracked length and
the thickness follows the tracked joint radii (times the patient's width setting). The GPU
shader (:mod:`mirrorvr.render.shaders`) runs the same formula; :func:`skin_vertices` is the CPU
reference the deformation tests use.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import JOINT_COUNT, Joint
from mirrorvr.tracking.skeleton import FOREARM_LENGTH

F = NDArray[np.float64]

#: forearm twist joints: where they sit (fraction from elbow to wrist) and how much of the
#: wrist's turn about the forearm axis each takes
FOREARM_STATIONS = (0.0, 0.35, 0.7, 0.92)
FOREARM_TWIST = (0.0, 0.3, 0.65, 0.92)
FOREARM_DROP = 0.06  # the elbow sits this much lower than the wrist (metres, adult hand)
REST_WRIST_RADIUS = 0.026  # the skeleton's wrist radius: scales the forearm to the hand
HAND_SKIN_JOINTS = JOINT_COUNT + len(FOREARM_STATIONS)


def forearm_frames(p: F, rot: F, size: float = 1.0) -> tuple[F, F]:
    """Positions (4, 3) and rotations (4, 3, 3; columns = axes) of the forearm twist joints.

    ``p`` (26, 3) and ``rot`` (26, 3, 3) are the tracked hand; ``size`` scales the forearm.
    Plain floats: a handful of 3-vectors, where numpy's per-call overhead would dominate.
    """
    wx, wy, wz = p[Joint.WRIST].tolist()
    fx, fy = float(rot[Joint.PALM][0, 1]), float(rot[Joint.PALM][1, 1])
    n = math.hypot(fx, fy)
    fx, fy = (fx / n, fy / n) if n > 0.2 else (0.0, 1.0)
    reach = FOREARM_LENGTH * size
    ex, ey, ez = wx - fx * reach, wy - fy * reach, wz - FOREARM_DROP * size
    ax, ay, az = wx - ex, wy - ey, wz - ez
    length = math.sqrt(ax * ax + ay * ay + az * az)
    yx, yy, yz = ax / length, ay / length, az / length
    # reference "up" across the forearm: world z made perpendicular to the forearm
    rx, ry, rz = -yz * yx, -yz * yy, 1.0 - yz * yz
    rn = max(math.sqrt(rx * rx + ry * ry + rz * rz), 1e-9)
    rx, ry, rz = rx / rn, ry / rn, rz / rn
    zx, zy, zz = rot[Joint.WRIST][:, 2].tolist()
    d = zx * yx + zy * yy + zz * yz
    zx, zy, zz = zx - d * yx, zy - d * yy, zz - d * yz
    # the wrist's turn about the forearm axis, from the reference
    sx, sy, sz = yy * rz - yz * ry, yz * rx - yx * rz, yx * ry - yy * rx  # y × ref
    theta = math.atan2(zx * sx + zy * sy + zz * sz, zx * rx + zy * ry + zz * rz)
    if zx * zx + zy * zy + zz * zz < 1e-12:
        theta = 0.0
    k = len(FOREARM_STATIONS)
    pos = np.empty((k, 3))
    rots = np.empty((k, 3, 3))
    for i in range(k):
        c, s = math.cos(theta * FOREARM_TWIST[i]), math.sin(theta * FOREARM_TWIST[i])
        kx, ky, kz = rx * c + sx * s, ry * c + sy * s, rz * c + sz * s
        rots[i] = (
            (yy * kz - yz * ky, yx, kx),
            (yz * kx - yx * kz, yy, ky),
            (yx * ky - yy * kx, yz, kz),
        )
        f = FOREARM_STATIONS[i]
        pos[i] = (ex + f * ax, ey + f * ay, ez + f * az)
    return pos, rots


def hand_skin_frames(positions: F, orientations: F, size: float = 1.0) -> tuple[F, F]:
    """All 30 skin-joint frames of a hand: positions (30, 3) and rotations (30, 3, 3)."""
    rot = quat.to_matrix(orientations)
    fp, fr = forearm_frames(positions, rot, size)
    return np.concatenate([positions, fp]), np.concatenate([rot, fr])


def joint_matrices(
    bind_pos: F,
    bind_rot: F,
    pos: F,
    rot: F,
    length_child: NDArray[np.int64],
    thickness: float = 1.0,
) -> F:
    """Column-vector 4×4 skin matrices (n, 4, 4) taking the bind pose to ``pos``/``rot``."""
    n = len(pos)
    scale = np.ones((n, 3))
    scale[:, 0] = scale[:, 2] = thickness
    has = length_child >= 0
    if has.any():
        c = length_child[has]
        bind_len = np.linalg.norm(bind_pos[c] - bind_pos[has], axis=1)
        now_len = np.linalg.norm(pos[c] - pos[has], axis=1)
        scale[has, 1] = np.clip(now_len / np.maximum(bind_len, 1e-9), 0.5, 2.0)
    lin = np.matmul(rot * scale[:, None, :], bind_rot.transpose(0, 2, 1))  # R D R0ᵀ
    m = np.zeros((n, 4, 4))
    m[:, :3, :3] = lin
    m[:, :3, 3] = pos - np.matmul(lin, bind_pos[:, :, None])[:, :, 0]
    m[:, 3, 3] = 1.0
    return m


def _quat_products() -> F:
    """The constant taking a quaternion's outer products ``q_a q_b`` (w x y z) to its rotation
    matrix's nine entries (row-major), times the squared norm."""
    c = np.zeros((9, 4, 4))
    w, x, y, z = range(4)

    def put(k: int, *terms: tuple[float, int, int]) -> None:
        for f, a, b in terms:
            c[k, a, b] += f

    put(0, (1, w, w), (1, x, x), (-1, y, y), (-1, z, z))
    put(1, (2, x, y), (-2, w, z))
    put(2, (2, x, z), (2, w, y))
    put(3, (2, x, y), (2, w, z))
    put(4, (1, w, w), (-1, x, x), (1, y, y), (-1, z, z))
    put(5, (2, y, z), (-2, w, x))
    put(6, (2, x, z), (-2, w, y))
    put(7, (2, y, z), (2, w, x))
    put(8, (1, w, w), (-1, x, x), (-1, y, y), (1, z, z))
    return c.reshape(9, 16).T.copy()


_QQ = _quat_products()


class SkinRig:
    """:func:`joint_matrices` for one model, its bind-pose terms computed once.

    For a limb with few joints (a leg's six) numpy's per-call overhead is most of the cost, so
    the rotations come from the tracked quaternions in one matrix product (their outer products
    times a constant) and everything that depends on the bind pose alone is kept. A hand's 30
    joints go the same way (:meth:`from_rotations`, after its forearm twist joints are added).
    """

    def __init__(self, bind_pos: F, bind_rot: F, length_child: NDArray[np.int64]) -> None:
        self.bind_pos = bind_pos
        self._bind_pos_col = bind_pos[:, :, None]
        self._bind_rot_t = np.ascontiguousarray(bind_rot.transpose(0, 2, 1))
        self._has = np.flatnonzero(length_child >= 0)
        self._child = length_child[self._has]
        bind_len = np.linalg.norm(bind_pos[self._child] - bind_pos[self._has], axis=1)
        self._inv_len = 1.0 / np.maximum(bind_len, 1e-9)
        self._scale = np.ones((len(bind_pos), 1, 3))
        self._m = np.zeros((len(bind_pos), 4, 4))
        self._m[:, 3, 3] = 1.0

    def matrices(self, pos: F, quats: F, thickness: float = 1.0) -> F:
        """Column-vector skin matrices (n, 4, 4) for joints at ``pos`` turned by ``quats``
        (w x y z); the returned array is reused by the next call."""
        return self.from_rotations(pos, self.rotations(quats), thickness)

    @staticmethod
    def rotations(quats: F) -> F:
        """Rotation matrices (n, 3, 3) of quaternions (n, 4; w x y z, any norm) in one product."""
        qq = (quats[:, :, None] * quats[:, None, :]).reshape(-1, 16)
        return (qq @ _QQ).reshape(-1, 3, 3) / np.einsum("ij,ij->i", quats, quats)[:, None, None]

    def from_rotations(self, pos: F, rot: F, thickness: float = 1.0) -> F:
        """:meth:`matrices` for joints already turned into rotation matrices (n, 3, 3)."""
        scale = self._scale
        scale[:, 0, 0] = scale[:, 0, 2] = thickness
        d = pos[self._child] - pos[self._has]
        scale[self._has, 0, 1] = np.clip(
            np.sqrt(np.einsum("ij,ij->i", d, d)) * self._inv_len, 0.5, 2.0
        )
        lin = np.matmul(rot * scale, self._bind_rot_t)  # R D R0ᵀ
        m = self._m
        m[:, :3, :3] = lin
        m[:, :3, 3] = pos - np.matmul(lin, self._bind_pos_col)[:, :, 0]
        return m


def skin_vertices(vertices: F, joints: NDArray[np.integer], weights: F, matrices: F) -> F:
    """Linear blend skinning on the CPU: the reference for the GPU shader (tests, tools)."""
    lin = np.einsum("vk,vkij->vij", weights, matrices[joints])
    return np.einsum("vij,vj->vi", lin[:, :3, :3], vertices) + lin[:, :3, 3]

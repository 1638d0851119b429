"""Quaternion and rotation-matrix helpers on numpy arrays (pure, vectorised).

Quaternions are ``(w, x, y, z)`` — the order of Panda3D's ``LQuaternion`` — in arrays of shape
``(..., 4)``; rotation matrices act on column vectors, shape ``(..., 3, 3)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

IDENTITY = np.array([1.0, 0.0, 0.0, 0.0])


def normalize(q: Array) -> Array:
    """Unit quaternions (and ``w >= 0``, so equal rotations compare equal)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def multiply(a: Array, b: Array) -> Array:
    """Hamilton product ``a ⊗ b`` (rotation ``b`` first, then ``a``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def conjugate(q: Array) -> Array:
    """Inverse of a unit quaternion."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def from_axis_angle(axis: Array, angle: float | Array) -> Array:
    """Rotation by ``angle`` radians about ``axis`` (right-hand rule)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    half = np.asarray(angle, dtype=np.float64)[..., None] / 2.0
    return np.concatenate([np.cos(half), np.sin(half) * axis], axis=-1)


def to_matrix(q: Array) -> Array:
    """Rotation matrices of unit quaternions."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=-1,
    )
    return m.reshape((*m.shape[:-1], 3, 3))


def from_matrix(m: Array) -> Array:
    """Unit quaternions of proper rotation matrices (Shepperd's method, branch per element)."""
    m = np.asarray(m, dtype=np.float64)
    shape = m.shape[:-2]
    m = m.reshape(-1, 3, 3)
    out = np.empty((m.shape[0], 4))
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    diag = np.stack([m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=-1)
    best = np.argmax(np.concatenate([tr[:, None], diag], axis=-1), axis=-1)
    for i in range(m.shape[0]):
        r = m[i]
        b = best[i]
        if b == 0:
            s = 2.0 * np.sqrt(max(1.0 + tr[i], 1e-300))
            out[i] = [
                0.25 * s,
                (r[2, 1] - r[1, 2]) / s,
                (r[0, 2] - r[2, 0]) / s,
                (r[1, 0] - r[0, 1]) / s,
            ]
        elif b == 1:
            s = 2.0 * np.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 1e-300))
            out[i] = [
                (r[2, 1] - r[1, 2]) / s,
                0.25 * s,
                (r[0, 1] + r[1, 0]) / s,
                (r[0, 2] + r[2, 0]) / s,
            ]
        elif b == 2:
            s = 2.0 * np.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 1e-300))
            out[i] = [
                (r[0, 2] - r[2, 0]) / s,
                (r[0, 1] + r[1, 0]) / s,
                0.25 * s,
                (r[1, 2] + r[2, 1]) / s,
            ]
        else:
            s = 2.0 * np.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 1e-300))
            out[i] = [
                (r[1, 0] - r[0, 1]) / s,
                (r[0, 2] + r[2, 0]) / s,
                (r[1, 2] + r[2, 1]) / s,
                0.25 * s,
            ]
    return normalize(out.reshape((*shape, 4)))


def rotate(q: Array, v: Array) -> Array:
    """Vectors ``v`` rotated by ``q`` (broadcasting)."""
    return np.einsum("...ij,...j->...i", to_matrix(q), np.asarray(v, dtype=np.float64))


def angle_between(a: Array, b: Array) -> Array:
    """Rotation angle (radians, 0..π) from ``a`` to ``b``."""
    d = np.abs(np.sum(normalize(a) * normalize(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def slerp(a: Array, b: Array, u: float) -> Array:
    """Spherical interpolation from ``a`` (u=0) to ``b`` (u=1), the short way round."""
    a = normalize(a)
    b = normalize(b)
    d = np.sum(a * b, axis=-1, keepdims=True)
    b = np.where(d < 0, -b, b)
    d = np.abs(d)
    theta = np.arccos(np.clip(d, -1.0, 1.0))
    small = theta < 1e-6
    s = np.where(small, 1.0, np.sin(theta))
    wa = np.where(small, 1.0 - u, np.sin((1.0 - u) * theta) / s)
    wb = np.where(small, u, np.sin(u * theta) / s)
    return normalize(wa * a + wb * b)

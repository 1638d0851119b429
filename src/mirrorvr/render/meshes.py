"""Procedural meshes of the limb model's parts (pure numpy: vertices, normals, triangles).

Used by ``scripts/build_hand_asset.py`` to write ``assets/hand/hand-parts.egg`` (the parts the
residual limbs are drawn from). Parts are unit sized and scaled at run time: a sphere, a tapered
tube, a rounded slab. Triangles wind counter-clockwise seen from outside (front faces).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Mesh:
    """Triangles with per-vertex normals."""

    vertices: NDArray[np.float64]  # (n, 3)
    normals: NDArray[np.float64]  # (n, 3)
    triangles: NDArray[np.int64]  # (m, 3)


def sphere(rings: int = 7, segments: int = 10) -> Mesh:
    """Unit sphere at the origin."""
    verts, tris = [], []
    for i in range(rings + 1):
        phi = math.pi * i / rings
        for j in range(segments + 1):
            th = 2 * math.pi * j / segments
            verts.append(
                (math.sin(phi) * math.cos(th), math.sin(phi) * math.sin(th), math.cos(phi))
            )
    w = segments + 1
    for i in range(rings):
        for j in range(segments):
            a, b, c, d = i * w + j, i * w + j + 1, (i + 1) * w + j, (i + 1) * w + j + 1
            tris += [(a, c, b), (b, c, d)]
    v = np.array(verts)
    return Mesh(v, v.copy(), np.array(tris))


def tube(taper: float = 0.85, segments: int = 10) -> Mesh:
    """Open tapered tube along +y from 0 (radius 1) to 1 (radius ``taper``)."""
    verts, norms, tris = [], [], []
    slope = 1.0 - taper  # radius lost over the unit length: tilts the normals
    for y, r in ((0.0, 1.0), (1.0, taper)):
        for j in range(segments + 1):
            th = 2 * math.pi * j / segments
            c, s = math.cos(th), math.sin(th)
            verts.append((r * c, y, r * s))
            n = np.array([c, slope, s])
            norms.append(n / np.linalg.norm(n))
    w = segments + 1
    for j in range(segments):
        a, b, c, d = j, j + 1, w + j, w + j + 1
        tris += [(a, c, b), (b, c, d)]
    return Mesh(np.array(verts), np.array(norms), np.array(tris))


def slab(segments: int = 10) -> Mesh:
    """Rounded slab: a unit disc (x, y in [−1, 1]) squashed into an ellipsoid of height ±1.

    Scaled to the palm's width, length and thickness at run time.
    """
    base = sphere(rings=8, segments=segments * 2)
    v = base.vertices.copy()
    # flatten the sphere into a cushion: push the middle outwards so the sides are steep
    r = np.linalg.norm(v[:, :2], axis=1)
    grow = np.where(r > 1e-9, np.power(np.maximum(r, 1e-9), 0.6) / np.maximum(r, 1e-9), 0.0)
    v[:, 0] *= grow
    v[:, 1] *= grow
    n = base.normals.copy()
    n[:, 2] *= 1.6
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return Mesh(v, n, base.triangles)


def egg_group(name: str, mesh: Mesh) -> str:
    """The mesh as a Panda3D egg ``<Group>`` (text)."""
    lines = [f"<Group> {name} {{", f"  <VertexPool> {name}.verts {{"]
    for i, (p, n) in enumerate(zip(mesh.vertices, mesh.normals, strict=True)):
        lines.append(
            f"    <Vertex> {i} {{ {p[0]:.6f} {p[1]:.6f} {p[2]:.6f} "
            f"<Normal> {{ {n[0]:.5f} {n[1]:.5f} {n[2]:.5f} }} }}"
        )
    lines.append("  }")
    for a, b, c in mesh.triangles:
        lines.append(f"  <Polygon> {{ <VertexRef> {{ {a} {b} {c} <Ref> {{ {name}.verts }} }} }}")
    lines.append("}")
    return "\n".join(lines)

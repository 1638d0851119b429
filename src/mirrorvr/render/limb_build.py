"""The mesh pipeline: a :class:`~mirrorvr.render.limb_spec.LimbSpec` → a smooth skinned mesh.

1. **Distance field**: every shape is a round cone with an elliptical section; shapes of one
   group melt together by a polynomial smooth minimum, each group melts into the body, and
   groups meet each other hard (so fingers never web together).
2. **Surface**: marching cubes (scikit-image) on a regular grid at the spec's voxel size,
   Taubin smoothing (shrink-free) to take out the grid's facets, then quadric decimation
   (fast-simplification) to the spec's triangle budget — flat forearm skin goes first, curved
   knuckles and fingertips stay; normals from the final surface.
3. **Skin weights**: per vertex, a soft-min over the shapes' distances chooses which shapes it
   belongs to, and each shape's knots spread it over joints along the bone (half/half at a
   joint); the four largest are kept and renormalised.
4. **Colour**: a tint per vertex (lighter palm, nail beds) and a material mask (nail, sleeve),
   so skin tone and sleeve colour stay run-time uniforms.

Build-time only (``scripts/build_limb_assets.py``); the renderer reads the written glTF. numpy,
scikit-image, scipy and fast-simplification; deterministic for a given spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mirrorvr.render.limb_spec import LimbSpec, Shape

F = NDArray[np.float64]


@dataclass(frozen=True)
class SkinnedMesh:
    """A triangle mesh with four joint influences per vertex (right side, bind pose, z-up)."""

    positions: F  # (n, 3) metres
    normals: F  # (n, 3)
    tints: F  # (n, 3) 0–1 multipliers of the skin tone
    materials: F  # (n, 2) nail, sleeve masks 0–1
    joints: NDArray[np.uint8]  # (n, 4)
    weights: F  # (n, 4), rows sum to 1
    triangles: NDArray[np.int64]  # (m, 3), counter-clockwise seen from outside


def _frame(s: Shape) -> tuple[F, F, F, F, float]:
    a, b = np.array(s.a), np.array(s.b)
    d = b - a
    length = float(np.linalg.norm(d))
    y = d / length
    z = np.array(s.up) - float(np.dot(s.up, y)) * y
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return a, x, y, z, length


def shape_distance(s: Shape, p: F) -> tuple[F, F]:
    """Approximate signed distance of points ``p`` (n, 3) to ``s``, and their fraction along it."""
    a, x, y, z, length = _frame(s)
    q = p - a
    qy = q @ y
    t = np.clip(qy / length, 0.0, 1.0)
    r = s.ra + (s.rb - s.ra) * t
    qx, qz = (q @ x) / s.sx, (q @ z) / s.sz
    axial = qy - t * length
    d = np.sqrt(qx * qx + qz * qz + axial * axial) - r
    return d * min(s.sx, s.sz), t


def smin(a: F, b: F, k: float) -> F:
    """Polynomial smooth minimum: min(a, b) rounded over a band of width ``k``."""
    if k <= 0:
        return np.minimum(a, b)
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


def distance_field(spec: LimbSpec, p: F) -> F:
    """The limb's signed distance at points ``p`` (negative inside)."""
    groups: dict[str, tuple[F, float]] = {}
    for s in spec.shapes:
        d, _ = shape_distance(s, p)
        if s.group not in groups:
            groups[s.group] = (d, s.blend)
        else:
            acc, k = groups[s.group]
            groups[s.group] = (np.minimum(acc, d) if s.cut else smin(acc, d, s.blend), k)
    body, _ = groups.pop("", (np.full(len(p), np.inf), 0.0))
    out = body.copy()
    for g, k in groups.values():
        out = np.minimum(out, smin(body, g, k))
    return out


#: the field's value far from every shape (positive: outside)
_FAR = 1.0


def _sparse_field(spec: LimbSpec, axes: list[F]) -> F:
    """:func:`distance_field` on the grid ``axes``, each shape evaluated only in its own box.

    A box reaches ``margin`` (the widest blend plus three cells) beyond its shape, so near the
    surface — where marching cubes reads the field — every shape that could change the value
    was evaluated and the result is :func:`distance_field`'s; elsewhere the value keeps its
    sign (outside: at least ``margin``), which is all marching cubes needs there.
    """
    h = float(axes[0][1] - axes[0][0])
    lo = np.array([a[0] for a in axes])
    n = np.array([len(a) for a in axes])
    margin = max(s.blend for s in spec.shapes) + 3 * h

    def box(s: Shape) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        r = max(s.ra, s.rb) * max(s.sx, s.sz, 1.0) + margin
        e = np.array([s.a, s.b])
        i0 = np.clip(np.floor((e.min(axis=0) - r - lo) / h).astype(np.int64), 0, n)
        i1 = np.clip(np.ceil((e.max(axis=0) + r - lo) / h).astype(np.int64) + 1, 0, n)
        return i0, i1

    # each group's values live in the box around all of its shapes
    gbox: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = {}
    for s in spec.shapes:
        i0, i1 = box(s)
        if s.group in gbox:
            g0, g1 = gbox[s.group]
            i0, i1 = np.minimum(g0, i0), np.maximum(g1, i1)
        gbox[s.group] = (i0, i1)
    gbox[""] = (np.zeros(3, dtype=np.int64), n)
    arrays = {g: np.full(tuple(i1 - i0), _FAR) for g, (i0, i1) in gbox.items()}
    blends: dict[str, float] = {}
    for s in spec.shapes:
        i0, i1 = box(s)
        g0 = gbox[s.group][0]
        sub = [axes[k][i0[k] : i1[k]] for k in range(3)]
        pts = np.stack(np.meshgrid(*sub, indexing="ij"), axis=-1).reshape(-1, 3)
        d = shape_distance(s, pts)[0].reshape(tuple(i1 - i0))
        sl = tuple(slice(int(i0[k] - g0[k]), int(i1[k] - g0[k])) for k in range(3))
        acc = arrays[s.group]
        if s.group not in blends:  # the group's first shape: as distance_field, no blend
            blends[s.group] = s.blend
            acc[sl] = np.minimum(acc[sl], d)
        else:
            acc[sl] = np.minimum(acc[sl], d) if s.cut else smin(acc[sl], d, s.blend)
    body = arrays.pop("")
    out = body.copy()
    for g, acc in arrays.items():
        i0, i1 = gbox[g]
        sl = tuple(slice(int(i0[k]), int(i1[k])) for k in range(3))
        out[sl] = np.minimum(out[sl], smin(body[sl], acc, blends[g]))
    return out


def _bounds(spec: LimbSpec) -> tuple[F, F]:
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for s in spec.shapes:
        r = max(s.ra, s.rb) * max(s.sx, s.sz, 1.0) + 0.006
        for e in (np.array(s.a), np.array(s.b)):
            lo, hi = np.minimum(lo, e - r), np.maximum(hi, e + r)
    return lo, hi


def _surface(spec: LimbSpec) -> tuple[F, NDArray[np.int64]]:
    from skimage.measure import marching_cubes

    lo, hi = _bounds(spec)
    h = spec.voxel
    n = np.ceil((hi - lo) / h).astype(int) + 1
    axes = [lo[i] + h * np.arange(n[i]) for i in range(3)]
    if spec.sparse:
        field = _sparse_field(spec, axes)
    else:
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        field = distance_field(spec, grid).reshape(tuple(n))
    verts, faces, _, _ = marching_cubes(field, level=0.0, spacing=(h, h, h), method="lewiner")
    verts = verts + lo
    faces = faces.astype(np.int64)
    # outward winding: the face normal must point up the field's gradient
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    c = verts[faces].mean(axis=1)
    grad = distance_field(
        spec, c + fn * 1e-3 / np.maximum(np.linalg.norm(fn, axis=1), 1e-12)[:, None]
    )
    if np.mean(grad > distance_field(spec, c)) < 0.5:
        faces = faces[:, [0, 2, 1]]
    return verts, faces


def _largest_component(verts: F, faces: NDArray[np.int64]) -> tuple[F, NDArray[np.int64]]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nv = len(verts)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(nv, nv))
    _, label = connected_components(adj, directed=False)
    keep_label = np.bincount(label[faces[:, 0]]).argmax()
    keep_faces = faces[label[faces[:, 0]] == keep_label]
    used = np.unique(keep_faces)
    remap = np.full(nv, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return verts[used], remap[keep_faces]


def taubin(verts: F, faces: NDArray[np.int64], iterations: int = 12) -> F:
    """Taubin λ|μ smoothing with a uniform Laplacian (smooths without shrinking)."""
    avg = _neighbour_average(faces, len(verts))
    v = verts.copy()
    for _ in range(iterations):
        for f in (0.5, -0.53):
            v = v + f * (avg @ v - v)
    return v


def vertex_normals(verts: F, faces: NDArray[np.int64]) -> F:
    """Area-weighted vertex normals."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    n = np.zeros_like(verts)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1), 1e-12)[:, None]


def _neighbour_average(faces: NDArray[np.int64], nv: int) -> Any:
    from scipy.sparse import coo_matrix, diags

    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    adj = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(nv, nv)).tocsr()
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(axis=1)).ravel()
    return diags(1.0 / np.maximum(deg, 1.0)) @ adj


def skin_weights(
    spec: LimbSpec, verts: F, faces: NDArray[np.int64] | None = None
) -> tuple[NDArray[np.uint8], F]:
    """Four joint indices and weights per vertex (see the module docstring).

    With ``faces``, the weights are then diffused over the surface (``spec.weight_smoothing``
    Laplacian steps): where two shapes' regions meet — the thenar pad and the palm, the web
    between fingers — neighbouring vertices would otherwise follow different joints outright
    and their edges tear when the joints part.
    """
    shapes = [s for s in spec.shapes if s.weighs]
    dist = np.empty((len(verts), len(shapes)))
    per_shape: list[F] = []
    for i, s in enumerate(shapes):
        d, t = shape_distance(s, verts)
        dist[:, i] = d
        w = np.zeros((len(verts), spec.joint_count))
        ts = np.array([k[0] for k in s.knots])
        for j in sorted({j for _, js in s.knots for j, _ in js}):
            vals = np.array([dict(js).get(j, 0.0) for _, js in s.knots])
            w[:, j] = np.interp(t, ts, vals)
        per_shape.append(w)
    # a vertex belongs to the body and at most one group (its nearest): skin never borrows
    # weight from the next finger, however close the two surfaces come
    groups = sorted({s.group for s in shapes} - {""})
    if groups:
        gd = np.stack([dist[:, [s.group == g for s in shapes]].min(axis=1) for g in groups], axis=1)
        own = np.array(groups)[np.argmin(gd, axis=1)]
        for i, s in enumerate(shapes):
            if s.group:
                dist[own != s.group, i] = np.inf
    g = np.exp(-(dist - dist.min(axis=1, keepdims=True)) / spec.weight_softness)
    g /= g.sum(axis=1, keepdims=True)
    total = np.zeros((len(verts), spec.joint_count))
    for i, w in enumerate(per_shape):
        total += g[:, i : i + 1] * w
    if faces is not None and spec.weight_smoothing > 0:
        avg = _neighbour_average(faces, len(verts))
        for _ in range(spec.weight_smoothing):
            total = 0.5 * total + 0.5 * (avg @ total)
    order = np.argsort(-total, axis=1, kind="stable")[:, :4]
    top = np.take_along_axis(total, order, axis=1)
    top = np.round(top / top.sum(axis=1, keepdims=True), 4)
    top[top < 1e-3] = 0.0
    top /= top.sum(axis=1, keepdims=True)
    return order.astype(np.uint8), top


def _colours(spec: LimbSpec, verts: F, normals: F) -> tuple[F, F]:
    tints = np.ones((len(verts), 3))
    materials = np.zeros((len(verts), 2))
    for s in spec.shapes:
        if s.material not in ("nail", "sleeve"):
            continue
        d, _ = shape_distance(s, verts)
        k = 0 if s.material == "nail" else 1
        # generous for the sleeve: smoothing and decimation leave its vertices a millimetre or
        # so off the shape, and a thin edge would speckle the cloth with skin
        edge = spec.nail_edge if s.material == "nail" else 0.0025
        materials[:, k] = np.maximum(materials[:, k], np.clip(1.0 - d / edge, 0.0, 1.0))
    palm = spec.tints.get("palm")
    if palm is not None:
        # palms and the soles of feet are lighter than the back: blend by how much the normal
        # faces the palmar side (−z in the bind pose)
        f = np.clip((-normals[:, 2] - 0.2) / 0.6, 0.0, 1.0)[:, None] * (verts[:, 1:2] > 0.0)
        tints = tints * (1 - f) + np.array(palm) * f
    sole = spec.tints.get("sole")
    if sole is not None and spec.sole_plane is not None:
        # the sole: skin within a couple of centimetres of the floor plane, facing it
        point, down = (np.array(v) for v in spec.sole_plane)
        near = np.clip(1.0 - ((verts - point) @ -down - 0.012) / 0.012, 0.0, 1.0)
        f = (np.clip((normals @ down - 0.2) / 0.6, 0.0, 1.0) * near)[:, None]
        tints = tints * (1 - f) + np.array(sole) * f
    return tints, materials


def simplify(verts: F, faces: NDArray[np.int64], triangles: int) -> tuple[F, NDArray[np.int64]]:
    """Quadric edge-collapse decimation to about ``triangles`` (keeps curved detail longest)."""
    import fast_simplification

    if len(faces) <= triangles:
        return verts, faces
    v, f = fast_simplification.simplify(
        verts.astype(np.float64), faces.astype(np.int64), target_count=triangles, agg=5
    )
    return np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)


def _locality_order(verts: F, faces: NDArray[np.int64]) -> tuple[F, NDArray[np.int64]]:
    """Vertices sorted along the limb (bind-pose y), triangles by their first vertex.

    Neighbouring triangles then use nearby indices, so the renderer can cut the mesh into draws
    of compact index ranges (:data:`mirrorvr.render.limb.DRAW_RANGE`).
    """
    order = np.lexsort((verts[:, 0], verts[:, 2], np.round(verts[:, 1], 4)))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    f = rank[faces]
    # rotate each triangle to start at its smallest index (same winding), then sort
    k = np.argmin(f, axis=1)
    f = np.stack([f[np.arange(len(f)), (k + i) % 3] for i in range(3)], axis=1)
    f = f[np.lexsort((f[:, 2], f[:, 1], f[:, 0]))]
    return verts[order], f


def build_mesh(spec: LimbSpec) -> SkinnedMesh:
    """The skinned mesh of ``spec`` (right side)."""
    verts, faces = _surface(spec)
    verts, faces = _largest_component(verts, faces)
    verts = taubin(verts, faces)
    verts, faces = simplify(verts, faces, spec.triangles)
    verts = taubin(verts, faces, iterations=2)
    verts, faces = _locality_order(verts, faces)
    normals = vertex_normals(verts, faces)
    # round what is stored, so rebuilding gives the same bytes despite float noise
    verts = np.round(verts, 6)
    normals = np.round(normals, 4)
    joints, weights = skin_weights(spec, verts, faces)
    tints, materials = _colours(spec, verts, normals)
    return SkinnedMesh(
        verts, normals, np.round(tints, 3), np.round(materials, 3), joints, weights, faces
    )

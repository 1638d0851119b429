"""The simple articulated limb model: rigid parts placed on the tracked joints every frame.

Draws the leg and foot until the realistic mesh pipeline (:mod:`mirrorvr.render.limb`) builds
them too, and supplies the parts of the residual limbs. A hand (26 OpenXR joints, plus the
forearm) or a leg (the six joints of
:mod:`mirrorvr.tracking.leg_skeleton`; parts in ``assets/leg/leg-parts.egg`` from
``scripts/build_leg_asset.py``, a foot slab in place of the palm). The hand is described below;
the leg is built the same way.

Built from the parts in ``assets/hand/hand-parts.egg`` (joint sphere, bone tube, palm slab; made
by ``scripts/build_hand_asset.py``): one sphere per joint, one tapered tube per bone stretched
from joint to child joint, a palm slab on the palm joint, and a forearm tube behind the wrist.
Skinning: every vertex is bound rigidly (weight 1) to one part, and each part's transform is
computed from the joint data; the vertices of the whole hand are transformed on the CPU in one
vectorised numpy pass and written into a single dynamic vertex buffer — one draw call per hand
(51 separate part nodes were measured 10× slower to draw with software GL). Bone lengths come
from the tracked joints, so the model fits any patient's hand without a separate calibration.

Both sides use the same parts: every part is symmetric across its local x = 0 plane, and the
placement uses proper rotations only (the mirror math returns proper rotations), so nothing is
ever scaled negatively — mirroring cannot turn the model inside out. For geometry that *is*
mirrored by a negative scale, :func:`mirror_geometry` applies the needed cull-face fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from panda3d.core import (
    CullFaceAttrib,
    Filename,
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexData,
    GeomVertexFormat,
    GeomVertexReader,
    Loader,
    LoaderOptions,
    NodePath,
    OmniBoundingVolume,
    TransparencyAttrib,
)

from mirrorvr.errors import MirrorVRError
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import BONES, JOINT_COUNT, Joint, Side
from mirrorvr.tracking.leg_skeleton import LEG_BONES, LEG_JOINT_COUNT, LegJoint
from mirrorvr.tracking.pose import LimbKind, LimbPose
from mirrorvr.tracking.skeleton import FOREARM_LENGTH

ASSETS = Path(__file__).resolve().parent / "assets"
PARTS_FILE = ASSETS / "hand" / "hand-parts.egg"
LEG_PARTS_FILE = ASSETS / "leg" / "leg-parts.egg"
#: per limb: parts file, its build script, and the slab part (palm / foot)
_MODELS: dict[str, tuple[Path, str, str]] = {
    "upper": (PARTS_FILE, "scripts/build_hand_asset.py", "palm"),
    "lower": (LEG_PARTS_FILE, "scripts/build_leg_asset.py", "foot"),
}
_TUBE_TAPER = 0.85  # must match meshes.tube()
_UP = np.array([0.0, 0.0, 1.0])

_parts_cache: dict[str, dict[str, NodePath]] = {}


def load_parts(limb: LimbKind = "upper") -> dict[str, NodePath]:
    """The limb parts (``joint``, ``bone`` and ``palm`` or ``foot``), loaded once per process."""
    if limb not in _parts_cache:
        path, script, slab = _MODELS[limb]
        if not path.exists():
            raise MirrorVRError(f"{path}: the limb model is missing; run {script}")
        opts = LoaderOptions(LoaderOptions.LF_no_cache | LoaderOptions.LF_report_errors)
        node = Loader.get_global_ptr().load_sync(Filename.from_os_specific(str(path)), opts)
        if node is None:
            raise MirrorVRError(f"{path}: panda3d could not load the limb model")
        model = NodePath(node)
        parts: dict[str, NodePath] = {}
        for name in ("joint", "bone", slab):
            part = model.find(f"**/{name}")
            if part.is_empty():
                raise MirrorVRError(f"{path}: part '{name}' is missing; rebuild the asset")
            part.clear_transform()
            parts[name] = part
        _parts_cache[limb] = parts
    return _parts_cache[limb]


def mirror_geometry(node: NodePath) -> None:
    """Mirror ``node``'s geometry left↔right by a negative x scale, without losing faces.

    A determinant −1 transform reverses the triangles' winding; panda3d does not compensate, so
    back-face culling would remove the front faces (measured: the model disappears). Reversing
    the cull face restores them while still culling back faces.
    """
    node.set_sx(-node.get_sx())
    node.set_attrib(CullFaceAttrib.make_reverse())


def _mesh_arrays(
    part: NodePath,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Vertices, normals and triangle indices of a loaded part."""
    geom_np = part if isinstance(part.node(), GeomNode) else part.find("**/+GeomNode")
    node = geom_np.node()
    assert isinstance(node, GeomNode)
    verts: list[tuple[float, float, float]] = []
    norms: list[tuple[float, float, float]] = []
    tris: list[int] = []
    for g in range(node.get_num_geoms()):
        geom = node.get_geom(g)
        vdata = geom.get_vertex_data()
        base = len(verts)
        rv, rn = GeomVertexReader(vdata, "vertex"), GeomVertexReader(vdata, "normal")
        for _ in range(vdata.get_num_rows()):
            verts.append(tuple(rv.get_data3()))
            norms.append(tuple(rn.get_data3()))
        for k in range(geom.get_num_primitives()):
            prim = geom.get_primitive(k).decompose()
            tris.extend(base + prim.get_vertex(i) for i in range(prim.get_num_vertices()))
    return np.array(verts), np.array(norms), np.array(tris, dtype=np.int64)


class PartsLimb:
    """One hand + forearm (or leg + foot) of rigid parts drawn on tracked joints; hidden when the pose is
    missing or invalid.

    ``hide_joints``: joints whose sphere and outgoing bones are not drawn (what an amputation
    level leaves to the patient's own body, e.g. the thigh above a transtibial amputation).
    """

    def __init__(
        self,
        parent: NodePath,
        side: Side,
        *,
        skin: tuple[float, float, float] = (0.87, 0.70, 0.58),
        alpha: float = 1.0,
        forearm: bool = True,
        name: str | None = None,
        thickness: float = 1.0,
        limb: LimbKind = "upper",
        hide_joints: Sequence[int] = (),
    ) -> None:
        self.limb = limb
        slab = _MODELS[limb][2]
        parts = {k if k != slab else "palm": _mesh_arrays(v) for k, v in load_parts(limb).items()}
        bones = BONES if limb == "upper" else LEG_BONES
        self.side = side
        self.forearm = forearm and limb == "upper"
        forearm = self.forearm
        #: scales the drawn thickness of fingers and palm (the patient's hand size setting)
        self.thickness = thickness
        nj, nb = (JOINT_COUNT, len(BONES)) if limb == "upper" else (LEG_JOINT_COUNT, len(bones))
        self._nj = nj
        # parts in buffer order: 26 joint spheres, one tube per bone (+ the forearm), the palm;
        # each group shares one mesh, so it is skinned as one batched matrix product
        groups = [("joint", 0, nj), ("bone", nj, nb + (1 if forearm else 0))]
        self.n_parts = nj + nb + 2
        self._forearm_index = nj + nb
        self._palm_index = nj + nb + 1
        groups.append(("palm", self._palm_index, 1))
        self._groups: list[tuple[int, int, slice, NDArray[np.float64], NDArray[np.float64]]] = []
        idx: list[NDArray[np.int64]] = []
        row = 0
        for kind, first, count in groups:
            v, n, t = parts[kind]
            rows = slice(row, row + count * len(v))
            self._groups.append(
                (first, count, rows, np.tile(v, (count, 1, 1)), np.tile(n, (count, 1, 1)))
            )
            idx.extend(t + row + k * len(v) for k in range(count))
            row += count * len(v)
        self._mats = np.tile(np.eye(4), (self.n_parts, 1, 1))
        self._buffer = np.zeros((row, 6), dtype=np.float32)
        # joint spheres are only translated and uniformly scaled: their normals never change
        first, count, rows, _, n0 = self._groups[0]
        self._buffer[rows, 3:] = n0.reshape(-1, 3)
        fmt = GeomVertexFormat.get_v3n3()
        self._vdata = GeomVertexData(f"limb-{side}", fmt, Geom.UH_dynamic)
        self._vdata.set_num_rows(row)
        tris = GeomTriangles(Geom.UH_static)
        tris.set_index_type(Geom.NT_uint32)
        flat = np.concatenate(idx).astype(np.uint32)
        handle = tris.modify_vertices()
        handle.unclean_set_num_rows(len(flat))
        memoryview(handle).cast("B")[:] = flat.tobytes()
        geom = Geom(self._vdata)
        geom.add_primitive(tris)
        # the vertices move every frame behind panda3d's back (written into the buffer), so its
        # cached bounds would go stale and cull the hand wrongly: never cull it
        geom.set_bounds(OmniBoundingVolume())
        gnode = GeomNode(name or f"limb-{side}")
        gnode.add_geom(geom)
        gnode.set_bounds(OmniBoundingVolume())
        gnode.set_final(True)
        self.root = parent.attach_new_node(gnode)
        self.root.set_color(*skin, alpha)
        if alpha < 1.0:
            self.root.set_transparency(TransparencyAttrib.M_alpha)
            self.root.set_depth_write(False)
        self._bone_a = np.array([a for a, _ in bones])
        self._bone_b = np.array([b for _, b in bones])
        hidden = set(hide_joints)
        self._hidden = np.array(
            [j for j in range(nj) if j in hidden]
            + [nj + k for k, (a, _) in enumerate(bones) if a in hidden],
            dtype=np.int64,
        )
        self.root.hide()
        self.visible = False

    def set_skin(self, rgb: tuple[float, float, float], alpha: float = 1.0) -> None:
        """Change the skin tone."""
        self.root.set_color(*rgb, alpha)

    def update(self, hand: LimbPose | None) -> None:
        """Place every part on ``hand``'s joints (positions relative to this limb's parent)."""
        if hand is None or not hand.usable:
            if self.visible:
                self.root.hide()
                self.visible = False
            return
        if not self.visible:
            self.root.show()
            self.visible = True
        m = self.part_matrices(hand)
        if len(self._hidden):
            # collapsed to (nearly) a point: drawn as nothing, normals stay finite
            m[self._hidden, :3, :3] = np.eye(3) * 1e-6
        self._skin()

    def part_matrices(self, hand: LimbPose) -> NDArray[np.float64]:
        """Row-vector 4×4 transform of every part (unit part → its place on ``hand``)."""
        p, r = hand.positions, hand.radii * self.thickness
        rot = quat.to_matrix(hand.orientations)  # (26, 3, 3), columns = joint axes
        m = self._mats
        nj, nb = self._nj, len(self._bone_a)
        m[:nj, :3, :3] = 0.0
        m[:nj, 0, 0] = m[:nj, 1, 1] = m[:nj, 2, 2] = r
        m[:nj, 3, :3] = p
        # bones: +y from joint a to joint b, roll from joint a's back-of-hand axis
        a, b = self._bone_a, self._bone_b
        d = p[b] - p[a]
        length = np.sqrt(np.einsum("ij,ij->i", d, d))
        y = d / np.maximum(length, 1e-9)[:, None]
        z = rot[a][:, :, 2]
        z = z - np.einsum("ij,ij->i", z, y)[:, None] * y
        z /= np.maximum(np.sqrt(np.einsum("ij,ij->i", z, z)), 1e-9)[:, None]
        x = y[:, [1, 2, 0]] * z[:, [2, 0, 1]] - y[:, [2, 0, 1]] * z[:, [1, 2, 0]]  # y × z
        rad = r[a] * 0.92
        bm = m[nj : nj + nb]
        bm[:, 0, :3] = x * rad[:, None]
        bm[:, 1, :3] = y * length[:, None]
        bm[:, 2, :3] = z * rad[:, None]
        bm[:, 3, :3] = p[a]
        if self.limb == "lower":
            m[self._palm_index] = self._foot_matrix(p, rot, r)
            return m
        m[self._palm_index] = self._palm_matrix(p, rot, r)
        if self.forearm:
            m[self._forearm_index] = self._forearm_matrix(p, rot, r)
        return m

    def _skin(self) -> None:
        """Transform every vertex by its part's matrix into the vertex buffer (one draw call)."""
        m = self._mats
        buf = self._buffer
        for k, (first, count, rows, v0, n0) in enumerate(self._groups):
            part = m[first : first + count]
            m3 = part[:, :3, :3]
            pos = np.matmul(v0, m3) + part[:, 3, None, :3]
            buf[rows, :3] = pos.reshape(-1, 3)
            if k == 0:
                continue  # sphere normals are constant
            # normals take the inverse transpose; each part's rows are orthogonal, so that is
            # every row divided by its squared length
            nm = m3 / np.einsum("nij,nij->ni", m3, m3)[:, :, None]
            nrm = np.matmul(n0, nm)
            nrm /= np.sqrt(np.einsum("nvi,nvi->nv", nrm, nrm))[:, :, None]
            buf[rows, 3:] = nrm.reshape(-1, 3)
        memoryview(self._vdata.modify_array(0)).cast("B")[:] = buf.tobytes()

    def _palm_matrix(
        self, p: NDArray[np.float64], rot: NDArray[np.float64], r: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        pa = rot[Joint.PALM]
        # palm size from the hand itself: width across the finger bases, length wrist → MCP
        # (plain floats: a handful of numbers, numpy's per-call overhead would dominate)
        dx, dy, dz = (p[Joint.INDEX_PROXIMAL] - p[Joint.LITTLE_PROXIMAL]).tolist()
        width = math.sqrt(dx * dx + dy * dy + dz * dz) * 0.62
        dx, dy, dz = (p[Joint.MIDDLE_PROXIMAL] - p[Joint.WRIST]).tolist()
        length = math.sqrt(dx * dx + dy * dy + dz * dz) * 0.5
        thick = float(r[Joint.PALM]) * 0.5
        m = np.empty((4, 4))
        m[:3, :3] = pa.T * np.array([width, length, thick])[:, None]
        m[:3, 3] = 0.0
        m[3, :3] = p[Joint.PALM]
        m[3, 3] = 1.0
        return m

    def _foot_matrix(
        self, p: NDArray[np.float64], rot: NDArray[np.float64], r: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        # the foot slab spans heel → ball (+ a little beyond), in the ankle's (foot) frame,
        # its sole at the heel/ball line: the toes' tube carries on from the ball
        heel, ball = p[LegJoint.HEEL], p[LegJoint.BALL]
        fa = rot[LegJoint.ANKLE]
        length = float(np.linalg.norm(ball - heel)) * 0.58
        width = float(r[LegJoint.BALL]) * 1.4
        thick = float(r[LegJoint.ANKLE]) * 0.75
        # centred across the foot on the ankle (the ball joint is the big toe's, medial)
        mid = (heel + ball) / 2.0
        ax = fa[:, 0]
        centre = mid + ax * float((p[LegJoint.ANKLE] - mid) @ ax) + fa[:, 2] * thick * 0.6
        m = np.empty((4, 4))
        m[:3, :3] = fa.T * np.array([width, length, thick])[:, None]
        m[:3, 3] = 0.0
        m[3, :3] = centre
        m[3, 3] = 1.0
        return m

    def _forearm_matrix(
        self, p: NDArray[np.float64], rot: NDArray[np.float64], r: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        # the forearm is not tracked by hand tracking: it lies behind the wrist along the
        # horizontal part of the hand's direction (unaffected by wrist flexion), sloping down
        wx, wy, wz = p[Joint.WRIST].tolist()
        fx, fy = float(rot[Joint.PALM][0, 1]), float(rot[Joint.PALM][1, 1])
        n = math.hypot(fx, fy)
        fx, fy = (fx / n, fy / n) if n > 0.2 else (0.0, 1.0)
        rw = float(r[Joint.WRIST])
        scale = rw / 0.026
        ex, ey, ez = (
            wx - fx * FOREARM_LENGTH * scale,
            wy - fy * FOREARM_LENGTH * scale,
            wz - 0.06 * scale,
        )
        yx, yy, yz = wx - ex, wy - ey, wz - ez
        length = math.sqrt(yx * yx + yy * yy + yz * yz)
        yx, yy, yz = yx / length, yy / length, yz / length
        zx, zy, zz = rot[Joint.WRIST][:, 2].tolist()
        d = zx * yx + zy * yy + zz * yz
        zx, zy, zz = zx - d * yx, zy - d * yy, zz - d * yz
        zn = max(math.sqrt(zx * zx + zy * zy + zz * zz), 1e-9)
        zx, zy, zz = zx / zn, zy / zn, zz / zn
        xx, xy, xz = yy * zz - yz * zy, yz * zx - yx * zz, yx * zy - yy * zx
        rad = rw / _TUBE_TAPER
        a, c = rad * 1.15, rad * 0.9
        return np.array(
            [
                [xx * a, xy * a, xz * a, 0.0],
                [yx * length, yy * length, yz * length, 0.0],
                [zx * c, zy * c, zz * c, 0.0],
                [ex, ey, ez, 1.0],
            ]
        )

    def remove(self) -> None:
        """Take the limb out of the scene."""
        self.root.remove_node()

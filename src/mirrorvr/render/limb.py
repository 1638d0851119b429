"""The articulated limb model: rigid parts placed on the 26 tracked joints every frame.

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
    TransparencyAttrib,
)

from mirrorvr.errors import MirrorVRError
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import BONES, JOINT_COUNT, Joint, Side
from mirrorvr.tracking.pose import HandPose
from mirrorvr.tracking.skeleton import FOREARM_LENGTH

ASSETS = Path(__file__).resolve().parent / "assets"
PARTS_FILE = ASSETS / "hand" / "hand-parts.egg"
_TUBE_TAPER = 0.85  # must match meshes.tube()
_UP = np.array([0.0, 0.0, 1.0])

_parts_cache: dict[str, NodePath] = {}


def load_parts() -> dict[str, NodePath]:
    """The limb parts (``joint``, ``bone``, ``palm``), loaded once per process."""
    if not _parts_cache:
        if not PARTS_FILE.exists():
            raise MirrorVRError(
                f"{PARTS_FILE}: the limb model is missing; run scripts/build_hand_asset.py"
            )
        opts = LoaderOptions(LoaderOptions.LF_no_cache | LoaderOptions.LF_report_errors)
        node = Loader.get_global_ptr().load_sync(Filename.from_os_specific(str(PARTS_FILE)), opts)
        if node is None:
            raise MirrorVRError(f"{PARTS_FILE}: panda3d could not load the limb model")
        model = NodePath(node)
        for name in ("joint", "bone", "palm"):
            part = model.find(f"**/{name}")
            if part.is_empty():
                raise MirrorVRError(f"{PARTS_FILE}: part '{name}' is missing; rebuild the asset")
            part.clear_transform()
            _parts_cache[name] = part
    return _parts_cache


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


class Limb:
    """One hand + forearm drawn on tracked joints; hidden when the pose is missing or invalid."""

    def __init__(
        self,
        parent: NodePath,
        side: Side,
        *,
        skin: tuple[float, float, float] = (0.87, 0.70, 0.58),
        alpha: float = 1.0,
        forearm: bool = True,
        name: str | None = None,
    ) -> None:
        parts = {k: _mesh_arrays(v) for k, v in load_parts().items()}
        self.side = side
        self.forearm = forearm
        # part order: 26 joint spheres, one tube per bone, the palm, the forearm
        kinds = (
            ["joint"] * JOINT_COUNT
            + ["bone"] * len(BONES)
            + ["palm"]
            + (["bone"] if forearm else [])
        )
        self.n_parts = len(kinds)
        v0, n0, idx, owner = [], [], [], []
        offset = 0
        for i, kind in enumerate(kinds):
            v, n, t = parts[kind]
            v0.append(v)
            n0.append(n)
            idx.append(t + offset)
            owner.append(np.full(len(v), i))
            offset += len(v)
        self._v0 = np.concatenate(v0)
        self._n0 = np.concatenate(n0)
        self._owner = np.concatenate(owner)
        self._mats = np.tile(np.eye(4), (self.n_parts, 1, 1))
        fmt = GeomVertexFormat.get_v3n3()
        self._vdata = GeomVertexData(f"limb-{side}", fmt, Geom.UH_dynamic)
        self._vdata.set_num_rows(len(self._v0))
        tris = GeomTriangles(Geom.UH_static)
        tris.set_index_type(Geom.NT_uint32)
        flat = np.concatenate(idx).astype(np.uint32)
        handle = tris.modify_vertices()
        handle.unclean_set_num_rows(len(flat))
        memoryview(handle).cast("B")[:] = flat.tobytes()
        geom = Geom(self._vdata)
        geom.add_primitive(tris)
        gnode = GeomNode(name or f"limb-{side}")
        gnode.add_geom(geom)
        self.root = parent.attach_new_node(gnode)
        self.root.set_color(*skin, alpha)
        if alpha < 1.0:
            self.root.set_transparency(TransparencyAttrib.M_alpha)
            self.root.set_depth_write(False)
        self._bone_a = np.array([a for a, _ in BONES])
        self._bone_b = np.array([b for _, b in BONES])
        self._buffer = np.zeros((len(self._v0), 6), dtype=np.float32)
        self.root.hide()
        self.visible = False

    def set_skin(self, rgb: tuple[float, float, float], alpha: float = 1.0) -> None:
        """Change the skin tone."""
        self.root.set_color(*rgb, alpha)

    def update(self, hand: HandPose | None) -> None:
        """Place every part on ``hand``'s joints (positions relative to this limb's parent)."""
        if hand is None or not hand.usable:
            if self.visible:
                self.root.hide()
                self.visible = False
            return
        if not self.visible:
            self.root.show()
            self.visible = True
        self.part_matrices(hand)
        self._skin()

    def part_matrices(self, hand: HandPose) -> NDArray[np.float64]:
        """Row-vector 4×4 transform of every part (unit part → its place on ``hand``)."""
        p, r = hand.positions, hand.radii
        rot = quat.to_matrix(hand.orientations)  # (26, 3, 3), columns = joint axes
        m = self._mats
        nj, nb = JOINT_COUNT, len(BONES)
        m[:nj, :3, :3] = 0.0
        m[:nj, 0, 0] = m[:nj, 1, 1] = m[:nj, 2, 2] = r
        m[:nj, 3, :3] = p
        # bones: +y from joint a to joint b, roll from joint a's back-of-hand axis
        a, b = self._bone_a, self._bone_b
        d = p[b] - p[a]
        length = np.linalg.norm(d, axis=1)
        y = d / np.maximum(length, 1e-9)[:, None]
        z = rot[a][:, :, 2]
        z = z - np.sum(z * y, axis=1)[:, None] * y
        z /= np.maximum(np.linalg.norm(z, axis=1), 1e-9)[:, None]
        x = np.cross(y, z)
        rad = r[a] * 0.92
        bm = m[nj : nj + nb]
        bm[:, 0, :3] = x * rad[:, None]
        bm[:, 1, :3] = y * length[:, None]
        bm[:, 2, :3] = z * rad[:, None]
        bm[:, 3, :3] = p[a]
        m[nj + nb] = self._palm_matrix(p, rot, r)
        if self.forearm:
            m[nj + nb + 1] = self._forearm_matrix(p, rot, r)
        return m

    def _skin(self) -> None:
        """Transform every vertex by its part's matrix into the vertex buffer (one draw call)."""
        m3 = self._mats[:, :3, :3]
        per_v = m3[self._owner]
        pos = np.einsum("ni,nij->nj", self._v0, per_v) + self._mats[self._owner, 3, :3]
        # normals use the inverse transpose (parts are scaled non-uniformly)
        nm = np.linalg.inv(m3).transpose(0, 2, 1)
        nrm = np.einsum("ni,nji->nj", self._n0, nm[self._owner])
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1), 1e-12)[:, None]
        buf = self._buffer
        buf[:, :3] = pos
        buf[:, 3:] = nrm
        memoryview(self._vdata.modify_array(0)).cast("B")[:] = buf.tobytes()

    def _palm_matrix(
        self, p: NDArray[np.float64], rot: NDArray[np.float64], r: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        pa = rot[Joint.PALM]
        # palm size from the hand itself: width across the finger bases, length wrist → MCP
        width = float(np.linalg.norm(p[Joint.INDEX_PROXIMAL] - p[Joint.LITTLE_PROXIMAL])) * 0.62
        length = float(np.linalg.norm(p[Joint.MIDDLE_PROXIMAL] - p[Joint.WRIST])) * 0.5
        thick = float(r[Joint.PALM]) * 0.5
        m = np.eye(4)
        m[0, :3] = pa[:, 0] * width
        m[1, :3] = pa[:, 1] * length
        m[2, :3] = pa[:, 2] * thick
        m[3, :3] = p[Joint.PALM]
        return m

    def _forearm_matrix(
        self, p: NDArray[np.float64], rot: NDArray[np.float64], r: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        # the forearm is not tracked by hand tracking: it lies behind the wrist along the
        # horizontal part of the hand's direction (unaffected by wrist flexion), sloping down
        wrist = p[Joint.WRIST]
        fwd = rot[Joint.PALM][:, 1].copy()
        fwd[2] = 0.0
        n = float(np.linalg.norm(fwd))
        fwd = fwd / n if n > 0.2 else np.array([0.0, 1.0, 0.0])
        scale = float(r[Joint.WRIST]) / 0.026
        elbow = wrist - fwd * FOREARM_LENGTH * scale - _UP * 0.06 * scale
        y = wrist - elbow
        length = float(np.linalg.norm(y))
        y /= length
        z = rot[Joint.WRIST][:, 2] - float(rot[Joint.WRIST][:, 2] @ y) * y
        z /= max(float(np.linalg.norm(z)), 1e-9)
        x = np.cross(y, z)
        rad = float(r[Joint.WRIST]) / _TUBE_TAPER
        m = np.eye(4)
        m[0, :3] = x * rad * 1.15
        m[1, :3] = y * length
        m[2, :3] = z * rad * 0.9
        m[3, :3] = elbow
        return m

    def remove(self) -> None:
        """Take the limb out of the scene."""
        self.root.remove_node()

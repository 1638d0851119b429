"""The limb the patient sees: a realistic hand and forearm, skinned on the GPU.

The mesh (``assets/limbs/hand.gltf``, made by ``scripts/build_limb_assets.py`` through the mesh
pipeline in :mod:`mirrorvr.render.limb_build`) is one smooth surface with four joint weights per
vertex. Every frame the CPU computes 30 joint matrices (the 26 tracked joints and four forearm
twist joints, :mod:`mirrorvr.render.skinning`) — a few dozen numpy operations — and the vertex
shader (:mod:`mirrorvr.render.shaders`) blends them; the vertex buffer never changes. One draw
call per hand. Bones stretch to the tracked lengths and the thickness follows the tracked joint
radii, so the model fits any patient's hand; ``thickness`` adds the patient's width setting.

Both sides use one mesh: the left limb is the right mesh mirrored across its local x = 0 plane
with its winding reversed and its bind pose reflected (``R' = M R S``), so the mirrored hand is
the intact hand's mirror image and nothing is ever scaled negatively at run time. For geometry
that *is* mirrored by a negative scale, :func:`mirror_geometry` applies the needed cull-face fix.
The older rigid parts (``assets/hand/hand-parts.egg``, :func:`load_parts`) still draw the
residual limb.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from panda3d.core import (
    Geom,
    GeomEnums,
    GeomNode,
    GeomTriangles,
    GeomVertexArrayFormat,
    GeomVertexData,
    GeomVertexFormat,
    InternalName,
    NodePath,
    OmniBoundingVolume,
    PTA_LVecBase4f,
    TransparencyAttrib,
)

from mirrorvr.errors import MirrorVRError
from mirrorvr.render.detail import Detail
from mirrorvr.render.limb_gltf import LimbAsset, read_limb
from mirrorvr.render.parts_limb import (
    LEG_PARTS_FILE,
    PARTS_FILE,
    PartsLimb,
    load_parts,
    mirror_geometry,
)
from mirrorvr.render.shaders import MAX_BONES, shadow_shader, skinned_shader
from mirrorvr.render.skinning import (
    HAND_SKIN_JOINTS,
    REST_WRIST_RADIUS,
    hand_skin_frames,
    joint_matrices,
)
from mirrorvr.tracking.joints import JOINT_COUNT, Joint, Side
from mirrorvr.tracking.pose import LimbKind, LimbPose
from mirrorvr.tracking.skeleton import RADII

ASSETS = Path(__file__).resolve().parent / "assets"
HAND_FILE = ASSETS / "limbs" / "hand.gltf"
#: default sleeve colour: a soft mid grey-blue (calm, well apart from any skin tone)
SLEEVE_RGB = (0.42, 0.47, 0.55)

_MIRROR = np.diag([-1.0, 1.0, 1.0])
#: most vertex indices one draw may span. Mesa llvmpipe shades a draw's vertices once when its
#: index range is small and falls back to re-shading per triangle beyond a few thousand
#: (measured: 7 000 vertices in one draw cost 4× more than 3 000); the mesh's vertices are
#: sorted along the limb, so cutting its triangles into compact ranges keeps every draw cheap
DRAW_RANGE = 2048


def _draw_ranges(tris: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """``tris`` (sorted by first index) cut into runs each spanning < :data:`DRAW_RANGE`."""
    out, start = [], 0
    lo, hi = tris.min(axis=1), tris.max(axis=1)
    while start < len(tris):
        end = start
        top = hi[start]
        while end < len(tris) and max(top, hi[end]) - lo[start] < DRAW_RANGE:
            top = max(top, hi[end])
            end += 1
        end = max(end, start + 1)
        out.append(tris[start:end])
        start = end
    return out


#: cluster size of the shadow's coarser mesh (metres, bind pose)
SHADOW_CELL = 0.012


def _triangles(tris: NDArray[np.int64]) -> GeomTriangles:
    prim = GeomTriangles(Geom.UH_static)
    prim.set_index_type(GeomEnums.NT_uint32)
    flat = tris.astype(np.uint32).reshape(-1)
    handle = prim.modify_vertices()
    handle.unclean_set_num_rows(len(flat))
    memoryview(handle).cast("B")[:] = flat.tobytes()
    return prim


def _coarse(verts: NDArray[np.float64], tris: NDArray[np.int64], cell: float) -> NDArray[np.int64]:
    """``tris`` re-indexed onto one vertex per ``cell``-sized cube (vertex clustering)."""
    keys = np.floor(verts / cell).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    t = first[inverse.reshape(-1)][tris]
    keep = (t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2])
    return np.unique(t[keep], axis=0)


class _SideModel:
    """One side's mesh on the GPU (shared by every limb of that side) and its bind pose."""

    def __init__(self, asset: LimbAsset, side: Side) -> None:
        m = asset.mesh
        pos, nrm, tris = m.positions, m.normals, m.triangles
        self.bind_pos = asset.bind_positions
        self.bind_rot = asset.bind_rotations
        if side == "left":
            # mirror image across x = 0: positions and normals flip x, triangles flip winding,
            # and the joint frames reflect as the mirror math reflects tracked joints
            pos, nrm, tris = pos @ _MIRROR, nrm @ _MIRROR, tris[:, ::-1]
            self.bind_pos = self.bind_pos @ _MIRROR
            self.bind_rot = _MIRROR @ self.bind_rot @ _MIRROR
        self.length_child = asset.length_child
        self.vertices, self.triangles = pos, tris
        self.joints, self.weights = m.joints, m.weights
        array = GeomVertexArrayFormat()
        array.add_column(InternalName.get_vertex(), 3, Geom.NT_float32, Geom.C_point)
        array.add_column(InternalName.get_normal(), 3, Geom.NT_float32, Geom.C_normal)
        for name, n in (("tint", 3), ("material", 2), ("joints", 4), ("weights", 4)):
            array.add_column(InternalName.make(name), n, Geom.NT_float32, Geom.C_other)
        fmt = GeomVertexFormat.register_format(GeomVertexFormat(array))
        rows = np.concatenate(
            [pos, nrm, m.tints, m.materials, m.joints.astype(np.float64), m.weights], axis=1
        ).astype(np.float32)
        vdata = GeomVertexData(f"limb-{side}", fmt, Geom.UH_static)
        vdata.unclean_set_num_rows(len(rows))
        memoryview(vdata.modify_array(0)).cast("B")[:] = rows.tobytes()
        self.geom = Geom(vdata)
        # the shadow is drawn from a coarser mesh over the same vertices: a soft shadow needs
        # no finger creases, and every skinned vertex costs the same as in the limb itself
        self.shadow_geom = Geom(vdata)
        self.shadow_geom.add_primitive(_triangles(_coarse(pos, tris, SHADOW_CELL)))
        self.shadow_geom.set_bounds(OmniBoundingVolume())
        for part in _draw_ranges(tris):
            self.geom.add_primitive(_triangles(part))
        # the shader moves the vertices: bounds from the bind pose would cull a moved hand
        self.geom.set_bounds(OmniBoundingVolume())


_models: dict[Side, _SideModel] = {}


def side_model(side: Side) -> _SideModel:
    """The hand model of ``side``, loaded once per process."""
    if side not in _models:
        if not HAND_FILE.exists():
            raise MirrorVRError(
                f"{HAND_FILE}: the limb model is missing; run scripts/build_limb_assets.py"
            )
        _models[side] = _SideModel(read_limb(HAND_FILE), side)
    return _models[side]


__all__ = ["LEG_PARTS_FILE", "PARTS_FILE", "Limb", "load_parts", "mirror_geometry"]


class Limb:
    """One hand + forearm drawn on tracked joints; hidden when the pose is missing or invalid.

    ``limb="lower"`` draws a leg and foot with the simple parts model (:class:`PartsLimb`,
    which ``hide_joints`` applies to) until the mesh pipeline builds a realistic leg.
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
        sleeve: tuple[float, float, float] = SLEEVE_RGB,
        shadow: bool = False,
        limb: LimbKind = "upper",
        hide_joints: Sequence[int] = (),
        detail: Detail = "full",
    ) -> None:
        self.side = side
        #: ``"software"``: lit per vertex (:mod:`mirrorvr.render.detail`)
        self.detail = detail
        self.limb = limb
        self._parts: PartsLimb | None = None
        if limb == "lower":
            self._parts = PartsLimb(
                parent, side, skin=skin, alpha=alpha, name=name, thickness=thickness,
                limb=limb, hide_joints=hide_joints,
            )  # fmt: skip
            self.root = self._parts.root
            self.forearm, self.thickness, self.visible = False, thickness, False
            return
        self.forearm = forearm
        #: scales the drawn thickness of fingers, palm and forearm (the patient's width setting)
        self.thickness = thickness
        self.model = side_model(side)
        gnode = GeomNode(name or f"limb-{side}")
        gnode.add_geom(self.model.geom)
        gnode.set_bounds(OmniBoundingVolume())
        gnode.set_final(True)
        self.root = parent.attach_new_node(gnode)
        self.root.set_shader(skinned_shader(per_vertex=detail == "software"), 10)
        self._pta = PTA_LVecBase4f.empty_array(MAX_BONES * 3)
        self._rows = np.frombuffer(memoryview(self._pta), dtype=np.float32).reshape(-1, 3, 4)
        self._rows[:] = np.eye(4, dtype=np.float32)[:3]
        self.root.set_shader_input("bone_rows", self._pta)
        self._alpha = alpha
        self.set_skin(skin, alpha)
        self.set_sleeve(sleeve)
        if alpha < 1.0:
            self.root.set_transparency(TransparencyAttrib.M_alpha)
            self.root.set_depth_write(False)
        if shadow:
            # the same skinned mesh again, flattened onto the table along the key light; its
            # depth writes stop overlapping triangles from darkening the shadow twice
            snode = GeomNode(f"{gnode.name}-shadow")
            snode.add_geom(self.model.shadow_geom)
            snode.set_bounds(OmniBoundingVolume())
            shade = self.root.attach_new_node(snode)
            shade.set_shader(shadow_shader(), 20)
            shade.set_transparency(TransparencyAttrib.M_alpha)
            shade.set_bin("transparent", 0)
        self._mean_radius = float(RADII.mean())
        self.matrices = np.tile(np.eye(4), (HAND_SKIN_JOINTS, 1, 1))
        self.root.hide()
        self.visible = False

    def set_skin(self, rgb: tuple[float, float, float], alpha: float | None = None) -> None:
        """Change the skin tone."""
        if self._parts is not None:
            self._parts.set_skin(rgb, 1.0 if alpha is None else alpha)
            return
        a = self._alpha if alpha is None else alpha
        self.root.set_shader_input("skin_rgba", (rgb[0], rgb[1], rgb[2], a))

    def set_sleeve(self, rgb: tuple[float, float, float]) -> None:
        """Change the sleeve colour."""
        if self._parts is not None:
            return
        self.root.set_shader_input("sleeve_rgb", (rgb[0], rgb[1], rgb[2]))

    def update(self, hand: LimbPose | None) -> None:
        """Pose the limb on ``hand``'s joints (positions relative to this limb's parent)."""
        if self._parts is not None:
            self._parts.update(hand)
            self.visible = self._parts.visible
            return
        if hand is None or not hand.usable:
            if self.visible:
                self.root.hide()
                self.visible = False
            return
        if not self.visible:
            self.root.show()
            self.visible = True
        m = self.skin_matrices(hand)
        self._rows[: len(m)] = m[:, :3, :]

    def skin_matrices(self, hand: LimbPose) -> NDArray[np.float64]:
        """Column-vector skin matrices (30, 4, 4) of every skin joint for ``hand``."""
        size = float(hand.radii[Joint.WRIST]) / REST_WRIST_RADIUS
        pos, rot = hand_skin_frames(hand.positions, hand.orientations, size)
        width = float(hand.radii.mean()) / self._mean_radius * self.thickness
        mdl = self.model
        m = joint_matrices(mdl.bind_pos, mdl.bind_rot, pos, rot, mdl.length_child, width)
        if not self.forearm:
            # no forearm (laterality stimuli): fold the forearm into the wrist
            m[JOINT_COUNT:, :3, :3] = 0.0
            m[JOINT_COUNT:, :3, 3] = hand.positions[Joint.WRIST]
        self.matrices = m
        return m

    def remove(self) -> None:
        """Take the limb out of the scene."""
        self.root.remove_node()

"""The limbs the patient sees: a realistic hand and forearm, or leg and foot, skinned on the GPU.

The meshes (``assets/limbs/hand.gltf`` and ``leg.gltf``, made by ``scripts/build_limb_assets.py``
through the mesh pipeline in :mod:`mirrorvr.render.limb_build`) are smooth surfaces with four
joint weights per vertex. Every frame the CPU computes the joint matrices — a hand's 30 (the 26
tracked joints and four forearm twist joints, :mod:`mirrorvr.render.skinning`), a leg's six (its
tracked joints) — in a few dozen numpy operations, and the vertex shader
(:mod:`mirrorvr.render.shaders`) blends them; the vertex buffer never changes. One draw call per
limb. Bones stretch to the tracked lengths and the thickness follows the tracked joint radii, so
the model fits any patient's limb; ``thickness`` adds the patient's width setting.

Both sides use one mesh: the left limb is the right mesh mirrored across its local x = 0 plane
with its winding reversed and its bind pose reflected (``R' = M R S``), so the mirrored limb is
the intact one's mirror image and nothing is ever scaled negatively at run time. For geometry
that *is* mirrored by a negative scale, :func:`mirror_geometry` applies the needed cull-face fix.
The older rigid parts (``assets/hand/hand-parts.egg``, :func:`load_parts`) still draw the
residual limbs.
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
from mirrorvr.render.parts_limb import PARTS_FILE, load_parts, mirror_geometry
from mirrorvr.render.shaders import MAX_BONES, shadow_shader, skinned_shader
from mirrorvr.render.skinning import REST_WRIST_RADIUS, SkinRig, forearm_frames
from mirrorvr.tracking.joints import JOINT_COUNT, Joint, Side
from mirrorvr.tracking.leg_skeleton import LEG_RADII
from mirrorvr.tracking.pose import LimbKind, LimbPose
from mirrorvr.tracking.skeleton import RADII

ASSETS = Path(__file__).resolve().parent / "assets"
HAND_FILE = ASSETS / "limbs" / "hand.gltf"
LEG_FILE = ASSETS / "limbs" / "leg.gltf"
#: the mesh of each limb kind
LIMB_FILES: dict[LimbKind, Path] = {"upper": HAND_FILE, "lower": LEG_FILE}
#: the hand's and the leg's coarser meshes for software renderers (:mod:`mirrorvr.render.detail`)
HAND_SOFTWARE_FILE = ASSETS / "limbs" / "hand-software.gltf"
LEG_SOFTWARE_FILE = ASSETS / "limbs" / "leg-software.gltf"
#: the software tier's meshes (a limb without one draws its full mesh there)
SOFTWARE_FILES: dict[LimbKind, Path] = {"upper": HAND_SOFTWARE_FILE, "lower": LEG_SOFTWARE_FILE}
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


#: skin weighted this much to joints an amputation level hides is not drawn: above a half, so
#: the joint shared with the kept part stays whole (a transtibial leg keeps its knee)
HIDDEN_SHARE = 0.8

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
        self.side = side
        self.length_child = asset.length_child
        self.joint_count = len(asset.joint_names)
        self.rig = SkinRig(self.bind_pos, self.bind_rot, self.length_child)
        self.vertices, self.normals, self.triangles = pos, nrm, tris
        self.joints, self.weights = m.joints, m.weights
        self.tints, self.materials = m.tints, m.materials
        self.geom = self._geom(
            self._vdata(pos, nrm, m.tints, m.materials, m.joints, m.weights), tris
        )
        # the shadow is drawn from a coarser mesh over the same vertices: a soft shadow needs
        # no finger creases, and every skinned vertex costs the same as in the limb itself
        self.shadow_geom = Geom(self.geom.get_vertex_data())
        self.shadow_geom.add_primitive(_triangles(_coarse(pos, tris, SHADOW_CELL)))
        self.shadow_geom.set_bounds(OmniBoundingVolume())
        self._without: dict[tuple[frozenset[int], float], Geom] = {}

    def _vdata(
        self,
        pos: NDArray[np.float64],
        nrm: NDArray[np.float64],
        tints: NDArray[np.float64],
        materials: NDArray[np.float64],
        joints: NDArray[np.uint8],
        weights: NDArray[np.float64],
    ) -> GeomVertexData:
        array = GeomVertexArrayFormat()
        array.add_column(InternalName.get_vertex(), 3, Geom.NT_float32, Geom.C_point)
        array.add_column(InternalName.get_normal(), 3, Geom.NT_float32, Geom.C_normal)
        for name, n in (("tint", 3), ("material", 2), ("joints", 4), ("weights", 4)):
            array.add_column(InternalName.make(name), n, Geom.NT_float32, Geom.C_other)
        fmt = GeomVertexFormat.register_format(GeomVertexFormat(array))
        rows = np.concatenate(
            [pos, nrm, tints, materials, joints.astype(np.float64), weights], axis=1
        ).astype(np.float32)
        vdata = GeomVertexData(f"limb-{self.side}", fmt, Geom.UH_static)
        vdata.unclean_set_num_rows(len(rows))
        memoryview(vdata.modify_array(0)).cast("B")[:] = rows.tobytes()
        return vdata

    @staticmethod
    def _geom(vdata: GeomVertexData, tris: NDArray[np.int64]) -> Geom:
        geom = Geom(vdata)
        for part in _draw_ranges(tris):
            geom.add_primitive(_triangles(part))
        # the shader moves the vertices: bounds from the bind pose would cull a moved limb
        geom.set_bounds(OmniBoundingVolume())
        return geom

    def geom_without(self, hidden: Sequence[int], cut: float = HIDDEN_SHARE) -> Geom:
        """The mesh without the skin the ``hidden`` joints carry, its cut closed by a cap.

        What an amputation level leaves to the patient's own body (the thigh above a
        transtibial amputation) is not drawn: the mesh is cut along the line where the hidden
        joints' share of the skin weights reaches ``cut``, and every hole this opens is closed
        by a low dome (a fan around the hole's centre, skinned like its rim), so no open tube
        shows. The complement — the other joints hidden, ``1 − cut`` — is the rest of the
        limb, meeting it along the same line (the residual limb).
        """
        key = (frozenset(int(j) for j in hidden), cut)
        if not key[0]:
            return self.geom
        if key not in self._without:
            pos, nrm, tint, mat, jnt, wgt, tris = self.cut_mesh(sorted(key[0]), cut)
            self._without[key] = self._geom(self._vdata(pos, nrm, tint, mat, jnt, wgt), tris)
        return self._without[key]

    def cut_mesh(
        self, hidden: Sequence[int], cut: float = HIDDEN_SHARE
    ) -> tuple[
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.float64],
        NDArray[np.uint8],
        NDArray[np.float64],
        NDArray[np.int64],
    ]:
        """The arrays of :meth:`geom_without`: positions, normals, tints, materials, joints,
        weights (bind pose) and triangles of the mesh cut and capped."""
        share = np.zeros(len(self.vertices))
        for j in hidden:
            share += (self.weights * (self.joints == j)).sum(axis=1)
        # cut along the line where the hidden share crosses ``cut``: the weights are
        # smooth over the surface, so the cut is a smooth ring, not a triangle-edge zigzag
        pos, nrm = [self.vertices], [self.normals]
        tint, mat, jnt, wgt = [self.tints], [self.materials], [self.joints], [self.weights]
        edge_vertex: dict[tuple[int, int], int] = {}
        nv = len(self.vertices)

        def on_edge(i: int, k: int) -> int:
            nonlocal nv
            key = (min(i, k), max(i, k))
            if key not in edge_vertex:
                t = (cut - share[i]) / (share[k] - share[i])
                pos.append((self.vertices[i] + t * (self.vertices[k] - self.vertices[i]))[None])
                n = self.normals[i] + t * (self.normals[k] - self.normals[i])
                nrm.append((n / max(float(np.linalg.norm(n)), 1e-12))[None])
                tint.append((self.tints[i] + t * (self.tints[k] - self.tints[i]))[None])
                mat.append((self.materials[i] + t * (self.materials[k] - self.materials[i]))[None])
                w = np.zeros(self.joint_count)
                np.add.at(w, self.joints[i], self.weights[i] * (1 - t))
                np.add.at(w, self.joints[k], self.weights[k] * t)
                top = np.argsort(-w, kind="stable")[:4]
                jnt.append(top.astype(np.uint8)[None])
                wgt.append((w[top] / w[top].sum())[None])
                edge_vertex[key] = nv
                nv += 1
            return edge_vertex[key]

        kept = share < cut
        inside = kept[self.triangles]
        out: list[tuple[int, int, int]] = []
        for tri, ins in zip(self.triangles[inside.any(axis=1) & ~inside.all(axis=1)],
                            inside[inside.any(axis=1) & ~inside.all(axis=1)], strict=True):  # fmt: skip
            # rotate (keeping the winding) so the odd vertex out comes first
            r = int(np.argmax(ins != (ins.sum() == 2)))
            a, b, c = (int(tri[(r + i) % 3]) for i in range(3))
            if ins.sum() == 1:  # only a kept
                out.append((a, on_edge(a, b), on_edge(a, c)))
            else:  # a cut away, b and c kept
                ab, ca = on_edge(a, b), on_edge(c, a)
                out += [(ab, b, c), (ab, c, ca)]
        tris = np.concatenate(
            [self.triangles[inside.all(axis=1)], np.array(out, dtype=np.int64).reshape(-1, 3)]
        )
        allpos = np.vstack(pos)
        caps: list[NDArray[np.int64]] = [tris]
        for loop in _boundary_loops(tris):
            rim = allpos[loop]
            centre = rim.mean(axis=0)
            # outward: the cap faces away from the kept skin (its rim's winding says which way)
            normal = np.cross(rim - centre, np.roll(rim, -1, axis=0) - centre).sum(axis=0)
            normal = -normal / max(float(np.linalg.norm(normal)), 1e-12)
            # a low dome, as a stump's end is rounded: its own rim (the cut's vertices again,
            # skinned alike) with normals leaning outwards, and a raised centre
            radius = float(np.linalg.norm(rim - centre, axis=1).mean())
            lean = (rim - centre) / max(radius, 1e-9)
            rim_n = normal + 0.7 * lean
            rim_n /= np.linalg.norm(rim_n, axis=1)[:, None]
            alljnt, allwgt = np.vstack(jnt), np.vstack(wgt)
            w = np.zeros(self.joint_count)
            np.add.at(w, alljnt[loop].reshape(-1), allwgt[loop].reshape(-1))
            top = np.argsort(-w, kind="stable")[:4]
            k = len(loop)
            pos.append(np.vstack([rim, centre + normal * radius * 0.35]))
            nrm.append(np.vstack([rim_n, normal]))
            tint.append(np.vstack([np.vstack(tint)[loop], np.vstack(tint)[loop].mean(axis=0)]))
            mat.append(np.zeros((k + 1, 2)))
            jnt.append(np.vstack([alljnt[loop], top.astype(np.uint8)]))
            wgt.append(np.vstack([allwgt[loop], w[top] / w[top].sum()]))
            ring = nv + np.arange(k)
            # the rim runs with the kept triangles' winding; the cap runs against it
            caps.append(np.stack([np.roll(ring, -1), ring, np.full(k, nv + k)], axis=1))
            nv += k + 1
        return (
            np.vstack(pos), np.vstack(nrm), np.vstack(tint), np.vstack(mat),
            np.vstack(jnt).astype(np.uint8), np.vstack(wgt), np.concatenate(caps),
        )  # fmt: skip


def _boundary_loops(tris: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """The holes of a triangle mesh: loops of vertices along edges used by one triangle only,
    each in the direction its triangle runs the edge."""
    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    key = np.sort(e, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    nxt = {int(a): int(b) for a, b in e[counts[inverse.reshape(-1)] == 1]}
    loops: list[NDArray[np.int64]] = []
    while nxt:
        start = min(nxt)
        loop = [start]
        v = nxt.pop(start)
        while v != start and v in nxt:
            loop.append(v)
            v = nxt.pop(v)
        if len(loop) >= 3:
            loops.append(np.array(loop, dtype=np.int64))
    return loops


_models: dict[tuple[LimbKind, Side, Detail], _SideModel] = {}


def side_model(side: Side, limb: LimbKind = "upper", detail: Detail = "full") -> _SideModel:
    """The hand's (``limb="lower"``: the leg's) model of ``side`` at ``detail``, loaded once
    per process."""
    if detail == "software" and limb not in SOFTWARE_FILES:
        detail = "full"
    key = (limb, side, detail)
    if key not in _models:
        path = SOFTWARE_FILES[limb] if detail == "software" else LIMB_FILES[limb]
        if not path.exists():
            raise MirrorVRError(
                f"{path}: the limb model is missing; run scripts/build_limb_assets.py"
            )
        _models[key] = _SideModel(read_limb(path), side)
    return _models[key]


__all__ = ["PARTS_FILE", "Limb", "load_parts", "mirror_geometry"]


class Limb:
    """One hand + forearm, or one leg + foot (``limb="lower"``), drawn on tracked joints; hidden
    when the pose is missing or invalid.

    ``hide_joints``: joints whose skin is not drawn (what an amputation level leaves to the
    patient's own body, e.g. the thigh above a transtibial amputation), cut where their share
    of the skin weights reaches ``cut``, see :meth:`_SideModel.geom_without`.
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
        cut: float = HIDDEN_SHARE,
        detail: Detail = "full",
    ) -> None:
        self.side = side
        #: ``"software"``: lit per vertex, the hand's coarser mesh (:mod:`mirrorvr.render.detail`)
        self.detail = detail
        self.limb = limb
        self.forearm = forearm and limb == "upper"
        #: scales the drawn thickness (the patient's width setting): fingers, palm and forearm,
        #: or thigh, shank and foot
        self.thickness = thickness
        self.model = side_model(side, limb, detail)
        gnode = GeomNode(name or f"limb-{side}")
        gnode.add_geom(self.model.geom_without(hide_joints, cut))
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
        self._mean_radius = float(RADII.mean() if limb == "upper" else LEG_RADII.mean())
        self.matrices = np.tile(np.eye(4), (self.model.joint_count, 1, 1))
        self.root.hide()
        self.visible = False

    def set_skin(self, rgb: tuple[float, float, float], alpha: float | None = None) -> None:
        """Change the skin tone."""
        a = self._alpha if alpha is None else alpha
        self.root.set_shader_input("skin_rgba", (rgb[0], rgb[1], rgb[2], a))

    def set_sleeve(self, rgb: tuple[float, float, float]) -> None:
        """Change the clothing colour (the sleeve over a forearm, the trousers over a thigh)."""
        self.root.set_shader_input("sleeve_rgb", (rgb[0], rgb[1], rgb[2]))

    def update(self, hand: LimbPose | None) -> None:
        """Pose the limb on ``hand``'s joints (positions relative to this limb's parent)."""
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
        """Column-vector skin matrices (n, 4, 4) of every skin joint for ``hand`` (a hand: 30,
        the 26 tracked joints and four forearm twist joints; a leg: its six joints). The array
        is the model's and is reused by the next call for any limb drawn from that model."""
        mdl = self.model
        width = float(hand.radii.mean()) / self._mean_radius * self.thickness
        if self.limb == "lower":
            m = mdl.rig.matrices(hand.positions, hand.orientations, width)
            self.matrices = m
            return m
        size = float(hand.radii[Joint.WRIST]) / REST_WRIST_RADIUS
        # hand_skin_frames + joint_matrices, with the bind-pose terms kept in the rig
        rot = mdl.rig.rotations(hand.orientations)
        fpos, frot = forearm_frames(hand.positions, rot, size)
        m = mdl.rig.from_rotations(
            np.concatenate([hand.positions, fpos]), np.concatenate([rot, frot]), width
        )
        if not self.forearm:
            # no forearm (laterality stimuli): fold the forearm into the wrist
            m[JOINT_COUNT:, :3, :3] = 0.0
            m[JOINT_COUNT:, :3, 3] = hand.positions[Joint.WRIST]
        self.matrices = m
        return m

    def remove(self) -> None:
        """Take the limb out of the scene."""
        self.root.remove_node()

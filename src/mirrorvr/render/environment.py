"""A calm room: soft floor and walls, a wooden table at a comfortable height, gentle light."""

from __future__ import annotations

import numpy as np
from panda3d.core import (
    AmbientLight,
    CullBinManager,
    DirectionalLight,
    Geom,
    GeomNode,
    GeomTriangles,
    GeomVertexArrayFormat,
    GeomVertexData,
    GeomVertexFormat,
    InternalName,
    NodePath,
)

from mirrorvr.render.shaders import static_shader
from mirrorvr.tracking.skeleton import TABLE_HEIGHT

WALL = (0.80, 0.86, 0.88)
FLOOR = (0.62, 0.66, 0.62)
TABLE = (0.58, 0.64, 0.70)  # soft blue-grey: calm, and well apart from any skin tone

#: the room's cull bin: drawn after the opaque bin (limbs, panels) and before translucent
#: things (the limbs' shadows on the table), in the order the parts are added. Nearer surfaces
#: first and the limbs before the room let a software renderer's early depth test skip the
#: pixels they hide (measured on llvmpipe: the room cost up to 70 % of a 1280×720 frame)
ROOM_BIN = "mirrorvr-room"
_ROOM_BIN_SORT = 25

#: a box's faces: (axis, side) → the outward normal is ``side`` along ``axis``
_FACES = {
    "front": (1, -1),  # faces the patient (−y)
    "back": (1, 1),
    "left": (0, -1),
    "right": (0, 1),
    "top": (2, 1),
    "bottom": (2, -1),
}
ALL_FACES = tuple(_FACES)


def room_bin() -> str:
    """The room's cull bin, registered once per process."""
    mgr = CullBinManager.get_global_ptr()
    if mgr.find_bin(ROOM_BIN) < 0:
        mgr.add_bin(ROOM_BIN, CullBinManager.BT_fixed, _ROOM_BIN_SORT)
    return ROOM_BIN


def _format() -> GeomVertexFormat:
    array = GeomVertexArrayFormat()
    array.add_column(InternalName.get_vertex(), 3, Geom.NT_float32, Geom.C_point)
    array.add_column(InternalName.get_normal(), 3, Geom.NT_float32, Geom.C_normal)
    array.add_column(InternalName.get_color(), 4, Geom.NT_float32, Geom.C_color)
    return GeomVertexFormat.register_format(GeomVertexFormat(array))


def _box(
    parent: NodePath,
    name: str,
    lo: tuple[float, float, float],
    hi: tuple[float, float, float],
    rgb: tuple[float, float, float],
    faces: tuple[str, ...] = ALL_FACES,
) -> NodePath:
    """An axis-aligned box: one geom of the named faces, wound outwards (back faces culled).

    Faces the patient can never see from the chair (under the floor, behind the wall) are
    left out: on a software renderer every drawn pixel costs, even a hidden one.
    """
    lo_, hi_ = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
    corners: list[np.ndarray] = []
    normals: list[np.ndarray] = []
    tris: list[tuple[int, int, int]] = []
    for face in faces:
        axis, side = _FACES[face]
        u, v = (axis + 1) % 3, (axis + 2) % 3  # (u, v, axis) is right-handed
        if side < 0:
            u, v = v, u  # swap to keep the winding counter-clockwise seen from outside
        n = np.zeros(3)
        n[axis] = side
        base = len(corners)
        for su, sv in ((0, 0), (1, 0), (1, 1), (0, 1)):
            p = np.where(np.arange(3) == axis, hi_ if side > 0 else lo_, 0.0)
            p[u] = (lo_, hi_)[su][u]
            p[v] = (lo_, hi_)[sv][v]
            corners.append(p)
            normals.append(n)
        tris += [(base, base + 1, base + 2), (base, base + 2, base + 3)]
    vdata = GeomVertexData(name, _format(), Geom.UH_static)
    rows = np.concatenate(
        [np.array(corners), np.array(normals), np.tile((*rgb, 1.0), (len(corners), 1))], axis=1
    ).astype(np.float32)
    vdata.unclean_set_num_rows(len(rows))
    memoryview(vdata.modify_array(0)).cast("B")[:] = rows.tobytes()
    prim = GeomTriangles(Geom.UH_static)
    for t in tris:
        prim.add_vertices(*t)
    geom = Geom(vdata)
    geom.add_primitive(prim)
    node = GeomNode(name)
    node.add_geom(geom)
    return parent.attach_new_node(node)


def build_environment(root: NodePath, style: str = "room") -> NodePath:
    """Floor, walls, table and lights under ``root`` (lights apply to all of ``root``).

    ``style="plain"``: the table top alone before the display's plain background.
    """
    env = root.attach_new_node("environment")
    top = TABLE_HEIGHT
    # nearest first (see ROOM_BIN): table top, legs, floor, back wall. Side walls are left
    # out: the clear colour (the display's background) stands in for them
    parts = [_box(env, "table-top", (-0.7, 0.08, top - 0.04), (0.7, 0.85, top), TABLE)]
    if style == "room":
        for x in (-0.65, 0.62):
            for y in (0.12, 0.78):
                parts.append(
                    _box(env, "table-leg", (x, y, 0.0), (x + 0.04, y + 0.04, top - 0.04), TABLE)
                )
        # the floor's top and the wall's front are all the seated patient can see of them
        parts.append(_box(env, "floor", (-4, -3, -0.02), (4, 5, 0.0), FLOOR, ("top",)))
        parts.append(_box(env, "back-wall", (-4, 4.0, 0.0), (4, 4.1, 3.0), WALL, ("front",)))
    bin_name = room_bin()
    for i, part in enumerate(parts):
        part.set_bin(bin_name, i)
    ambient = AmbientLight("ambient")
    ambient.set_color((0.5, 0.5, 0.52, 1.0))
    root.set_light(root.attach_new_node(ambient))
    sun = DirectionalLight("key-light")
    sun.set_color((0.62, 0.6, 0.56, 1.0))
    sun_np = root.attach_new_node(sun)
    sun_np.set_hpr(25, -55, 0)  # from above, behind and to the right of the patient
    root.set_light(sun_np)
    # the room is lit per vertex (render/shaders.py); the limbs' shadows on the table fall
    # away from the key light (render/limb.py)
    env.set_shader(static_shader(), 10)
    d = sun_np.get_quat(root).get_forward()
    root.set_shader_input("light_dir", (-d[0], -d[1], -d[2]))
    root.set_shader_input("table_z", TABLE_HEIGHT)
    return env

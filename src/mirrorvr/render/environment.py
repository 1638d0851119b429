"""A calm room: soft floor and walls, a wooden table at a comfortable height, gentle light."""

from __future__ import annotations

from panda3d.core import AmbientLight, CardMaker, DirectionalLight, NodePath

from mirrorvr.render.shaders import static_shader
from mirrorvr.tracking.skeleton import TABLE_HEIGHT

WALL = (0.80, 0.86, 0.88)
FLOOR = (0.62, 0.66, 0.62)
TABLE = (0.58, 0.64, 0.70)  # soft blue-grey: calm, and well apart from any skin tone


def _box(
    parent: NodePath,
    name: str,
    lo: tuple[float, float, float],
    hi: tuple[float, float, float],
    rgb: tuple[float, float, float],
) -> NodePath:
    """An axis-aligned box of six outward-facing cards."""
    box = parent.attach_new_node(name)
    (x0, y0, z0), (x1, y1, z1) = lo, hi
    faces = [  # (frame in the card's x/z, position, hpr) — cards face −y before rotation
        ((x0, x1, z0, z1), (0, y0, 0), (0, 0, 0)),  # front
        ((-x1, -x0, z0, z1), (0, y1, 0), (180, 0, 0)),  # back
        ((y0, y1, z0, z1), (x0, 0, 0), (90, 0, 0)),  # left
        ((-y1, -y0, z0, z1), (x1, 0, 0), (-90, 0, 0)),  # right
        ((x0, x1, y0, y1), (0, 0, z1), (0, -90, 0)),  # top
        ((x0, x1, -y1, -y0), (0, 0, z0), (0, 90, 0)),  # bottom
    ]
    for i, (frame, pos, hpr) in enumerate(faces):
        cm = CardMaker(f"{name}-{i}")
        cm.set_frame(*frame)
        face = box.attach_new_node(cm.generate())
        face.set_pos(*pos)
        face.set_hpr(*hpr)
    box.set_color(*rgb, 1.0)
    # static, so flatten the six cards into one geom: fewer draw calls every frame
    box.flatten_strong()
    box.set_two_sided(True)
    return box


def build_environment(root: NodePath, style: str = "room") -> NodePath:
    """Floor, walls, table and lights under ``root`` (lights apply to all of ``root``).

    ``style="plain"``: the table top alone before the display's plain background.
    """
    env = root.attach_new_node("environment")
    # side walls are left out: the clear colour (the display's background) stands in for them,
    # and every large surface costs fill rate on a software renderer
    if style == "room":
        _box(env, "floor", (-4, -3, -0.02), (4, 5, 0.0), FLOOR)
        _box(env, "back-wall", (-4, 4.0, 0.0), (4, 4.1, 3.0), WALL)
    top = TABLE_HEIGHT
    _box(env, "table-top", (-0.7, 0.08, top - 0.04), (0.7, 0.85, top), TABLE)
    for x in (-0.65, 0.62):
        for y in (0.12, 0.78):
            if style == "room":
                _box(env, "table-leg", (x, y, 0.0), (x + 0.04, y + 0.04, top - 0.04), TABLE)
    ambient = AmbientLight("ambient")
    ambient.set_color((0.5, 0.5, 0.52, 1.0))
    root.set_light(root.attach_new_node(ambient))
    sun = DirectionalLight("key-light")
    sun.set_color((0.62, 0.6, 0.56, 1.0))
    sun_np = root.attach_new_node(sun)
    sun_np.set_hpr(25, -55, 0)  # from above, behind and to the right of the patient
    root.set_light(sun_np)
    # the room is lit per pixel (render/shaders.py); the limbs' shadows on the table fall away
    # from the key light (render/limb.py)
    env.set_shader(static_shader(), 10)
    d = sun_np.get_quat(root).get_forward()
    root.set_shader_input("light_dir", (-d[0], -d[1], -d[2]))
    root.set_shader_input("table_z", TABLE_HEIGHT)
    return env

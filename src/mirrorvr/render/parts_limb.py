"""The rigid limb parts the residual forearm is drawn from, and mirroring by a negative scale.

``assets/hand/hand-parts.egg`` (made by ``scripts/build_hand_asset.py``) holds three unit
parts: a joint sphere, a tapered bone tube and a palm slab. The tracked limbs (and the residual
leg) are the realistic skinned meshes (:mod:`mirrorvr.render.limb`); the residual forearm is a
tube and a rounded end placed once, in the scene's rest pose (:mod:`mirrorvr.render.scene`).
"""

from __future__ import annotations

from pathlib import Path

from panda3d.core import CullFaceAttrib, Filename, Loader, LoaderOptions, NodePath

from mirrorvr.errors import MirrorVRError

ASSETS = Path(__file__).resolve().parent / "assets"
PARTS_FILE = ASSETS / "hand" / "hand-parts.egg"

_parts_cache: dict[str, NodePath] = {}


def load_parts() -> dict[str, NodePath]:
    """The parts (``joint``, ``bone``, ``palm``), loaded once per process."""
    if not _parts_cache:
        if not PARTS_FILE.exists():
            raise MirrorVRError(
                f"{PARTS_FILE}: the limb parts are missing; run scripts/build_hand_asset.py"
            )
        opts = LoaderOptions(LoaderOptions.LF_no_cache | LoaderOptions.LF_report_errors)
        node = Loader.get_global_ptr().load_sync(Filename.from_os_specific(str(PARTS_FILE)), opts)
        if node is None:
            raise MirrorVRError(f"{PARTS_FILE}: panda3d could not load the limb parts")
        model = NodePath(node)
        parts: dict[str, NodePath] = {}
        for name in ("joint", "bone", "palm"):
            part = model.find(f"**/{name}")
            if part.is_empty():
                raise MirrorVRError(f"{PARTS_FILE}: part '{name}' is missing; rebuild the asset")
            part.clear_transform()
            parts[name] = part
        _parts_cache.update(parts)
    return dict(_parts_cache)


def mirror_geometry(node: NodePath) -> None:
    """Mirror ``node``'s geometry left↔right by a negative x scale, without losing faces.

    A determinant −1 transform reverses the triangles' winding; panda3d does not compensate, so
    back-face culling would remove the front faces (measured: the model disappears). Reversing
    the cull face restores them while still culling back faces.
    """
    node.set_sx(-node.get_sx())
    node.set_attrib(CullFaceAttrib.make_reverse())

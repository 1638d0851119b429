"""A still of the patient's limbs for the therapist: what a scene setting looks like.

Renders both hands at rest on the table (the intact one and its mirror image) — or, for a
lower-limb patient, both legs seated — offscreen with the given
:class:`~mirrorvr.config.plan.SceneSettings` and returns a PNG. One offscreen buffer
per process, reused (the console calls this for its live preview of a patient's appearance).
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from panda3d.core import NodePath

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.display import OffscreenDisplay
from mirrorvr.render.scene import MirrorScene, patient_camera
from mirrorvr.tracking.joints import Side, other_side
from mirrorvr.tracking.leg_skeleton import LegParams, leg_pose
from mirrorvr.tracking.mirror import MidlinePlane, mirror_hand
from mirrorvr.tracking.pose import LimbKind, LimbPose
from mirrorvr.tracking.skeleton import HandParams, hand_pose

SIZE = (480, 270)
#: above and behind the patient's own view: both hands, forearms and sleeves in the picture
EYE = (0.0, -0.12, 1.30)
LOOK_AT = (0.0, 0.25, 0.76)
#: legs: from in front, above the feet: trousers, knees, shins and both feet in the picture
EYE_LEGS = (0.0, 1.5, 1.25)
LOOK_AT_LEGS = (0.0, 0.5, 0.18)

#: every preview is drawn by one thread: its GL context stays current there (a web server
#: would otherwise call in from whichever worker thread serves the request)
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="limb-preview")
_display: OffscreenDisplay | None = None


def render_preview(
    settings: SceneSettings, amputation_side: Side = "left", limb: LimbKind = "upper"
) -> bytes:
    """PNG bytes of both hands (``limb="lower"``: both legs) at rest with ``settings`` (the
    patient's appearance)."""
    return _worker.submit(_render, settings, amputation_side, limb).result()


def _render(settings: SceneSettings, amputation_side: Side, limb: LimbKind) -> bytes:
    global _display
    if _display is None:
        _display = OffscreenDisplay(SIZE)
    d = _display
    d.clear_cameras()
    root = NodePath("preview")
    intact: LimbPose
    if limb == "lower":
        # the whole leg, so the trousers show too
        scene = MirrorScene(root, settings, amputation_side, limb="lower", level="transfemoral")
        eye, look_at = EYE_LEGS, LOOK_AT_LEGS
        intact = leg_pose(other_side(amputation_side), LegParams())
    else:
        scene = MirrorScene(root, settings, amputation_side)
        eye, look_at = EYE, LOOK_AT
        scale = settings.hand_length_scale
        intact = hand_pose(other_side(amputation_side), HandParams(), scale=scale)
    d.attach_camera(patient_camera(root, d.aspect, fov_deg=62.0, look_at=look_at, eye=eye))
    scene.set_hands(intact, mirror_hand(intact, MidlinePlane.sagittal()))
    d.render()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preview.png"
        d.save_png(path)
        data = path.read_bytes()
    root.remove_node()
    return data

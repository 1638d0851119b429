"""The patient's scene, built under a root node handed in from outside (display-independent).

:class:`MirrorScene` holds the calm room, the mirrored limb (amputated side), the optional
real-side limb, the residual limb, cue panel and arrow, the imagery demonstration hand, the
laterality stimulus, the pain rating slider and the progress bar. It has no cameras and knows
no display: a backend attaches its own cameras (one for a window or offscreen buffer, one per
eye for a headset) to the same ``root``; :func:`patient_camera` makes the mono one. Its methods
are the vocabulary session logic uses (:mod:`mirrorvr.render.director`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from panda3d.core import Camera, NodePath, PerspectiveLens

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.environment import build_environment
from mirrorvr.render.limb import Limb
from mirrorvr.render.panels import Arrow, CuePanel, ProgressBar, RatingSlider
from mirrorvr.tracking.joints import Joint, Side, other_side
from mirrorvr.tracking.motion import Performance
from mirrorvr.tracking.pose import HandPose
from mirrorvr.tracking.skeleton import HOME_WRIST, HandParams, hand_pose
from mirrorvr.tracking.synthetic import HEAD

#: where the patient's eyes are and what they look at (world frame, metres)
EYE = (float(HEAD[0]), float(HEAD[1]), float(HEAD[2]))
LOOK_AT = (0.0, 0.55, 0.78)
#: laterality stimuli float here, in front of the patient
STIMULUS_POS = (0.0, 0.62, 0.87)
STIMULUS_SCALE = 1.2  # larger than life: easy to judge at a glance
#: residual limb length by amputation level (metres from the elbow)
RESIDUAL_LENGTH = {"hand": 0.25, "wrist": 0.23, "transradial": 0.12, "elbow": 0.03}


def patient_camera(root: NodePath, aspect: float, fov_deg: float = 90.0) -> NodePath:
    """A mono camera at the patient's eyes looking at the table (window/offscreen displays)."""
    cam = Camera("patient-camera")
    lens = PerspectiveLens()
    lens.set_fov(fov_deg)
    lens.set_aspect_ratio(aspect)
    lens.set_near_far(0.05, 20.0)
    cam.set_lens(lens)
    np_ = root.attach_new_node(cam)
    np_.set_pos(*EYE)
    np_.look_at(*LOOK_AT)
    return np_


class LateralityStimulus:
    """A posed 3-D hand (left or right) at a rotation, seen from the back or the palm."""

    def __init__(self, parent: NodePath, skin: tuple[float, float, float]) -> None:
        self.root = parent.attach_new_node("laterality")
        self.root.set_pos(*STIMULUS_POS)
        self.root.set_scale(STIMULUS_SCALE)
        self.turn = self.root.attach_new_node("turn")
        self.limbs = {s: Limb(self.turn, s, skin=skin, forearm=False) for s in ("left", "right")}
        self.shown: tuple[str, int, str] | None = None

    def show(self, side: Side, angle_deg: int, view: str) -> None:
        """Show a ``side`` hand rotated ``angle_deg`` clockwise (as seen), back or palm view."""
        pose = hand_pose(side, HandParams(spread=0.4, thumb_opposition=0.1), wrist=np.zeros(3))
        centre = pose.positions[Joint.PALM]
        pose = replace(pose, positions=pose.positions - centre)
        self.limbs[side].update(pose)
        self.limbs[other_side(side)].update(None)
        # fingers up and the back of the hand towards the patient; the palm view turns it round
        self.turn.set_hpr(180.0 if view == "palm" else 0.0, 90.0, 0.0)
        self.root.set_r(float(angle_deg))
        self.root.show()
        self.shown = (side, angle_deg, view)

    def hide(self) -> None:
        """Hide the stimulus."""
        self.root.hide()
        self.shown = None


class MirrorScene:
    """Everything the patient sees, under ``root``; driven by explicit method calls."""

    def __init__(self, root: NodePath, settings: SceneSettings, amputation_side: Side) -> None:
        self.root = root
        self.settings = settings
        self.amputated: Side = amputation_side
        self.intact: Side = other_side(amputation_side)
        skin = settings.skin_rgb
        self.environment = build_environment(root)
        k = settings.hand_scale
        self.mirrored = Limb(
            root, self.amputated, skin=skin, name="mirrored-limb", thickness=k, shadow=True
        )
        self.real = Limb(root, self.intact, skin=skin, name="real-limb", thickness=k, shadow=True)
        self.demo = Limb(root, self.amputated, skin=(0.55, 0.7, 0.95), alpha=0.55, name="demo-limb")
        self.residual = self._residual(skin)
        self.cue = CuePanel(root)
        self.arrow = Arrow(root)
        self.rating = RatingSlider(root)
        self.progress = ProgressBar(root)
        self.laterality = LateralityStimulus(root, skin)
        self._demo: Performance | None = None
        self.limbs_visible = True

    def _residual(self, skin: tuple[float, float, float]) -> NodePath:
        """A short rounded stump behind the amputated side's resting wrist."""
        from mirrorvr.render.limb import load_parts

        parts = load_parts()
        node = self.root.attach_new_node("residual-limb")
        home = HOME_WRIST[self.amputated]
        elbow = home + np.array([0.0, -0.26, -0.06])
        length = 0.12
        direction = (home - elbow) / np.linalg.norm(home - elbow)
        tube = node.attach_new_node("stump")
        parts["bone"].instance_to(tube)
        tube.set_pos(*elbow)
        tube.look_at(*(elbow + direction))
        tube.set_scale(0.034, length, 0.03)
        cap = node.attach_new_node("stump-end")
        parts["joint"].instance_to(cap)
        cap.set_pos(*(elbow + direction * length))
        cap.set_scale(0.029, 0.029, 0.026)
        node.set_color(*(c * 0.95 for c in skin), 1.0)
        if not self.settings.show_residual:
            node.hide()
        return node

    # ---- hands ---------------------------------------------------------------------------
    def set_hands(self, intact: HandPose | None, mirrored: HandPose | None) -> None:
        """Place the tracked intact hand and its mirror image (``None`` hides one)."""
        show = self.limbs_visible
        self.mirrored.update(mirrored if show else None)
        self.real.update(intact if show and self.settings.show_real_side else None)

    def show_limbs(self, visible: bool) -> None:
        """Show or hide the tracked limbs (hidden during laterality trials)."""
        self.limbs_visible = visible
        if not visible:
            self.mirrored.update(None)
            self.real.update(None)

    # ---- cues ----------------------------------------------------------------------------
    def show_cue(
        self,
        text: str,
        *,
        point_at_mirrored: bool = False,
        rgb: tuple[float, float, float] | None = None,
    ) -> None:
        """Show instruction ``text``; optionally an arrow at the mirrored hand's place."""
        if rgb is None:
            self.cue.show(text)
        else:
            self.cue.show(text, rgb)
        if point_at_mirrored:
            home = HOME_WRIST[self.amputated]
            self.arrow.point_at((float(home[0]), float(home[1]) + 0.1, float(home[2]) + 0.06))
        else:
            self.arrow.hide()

    def clear_cue(self) -> None:
        """Hide cue text and arrow."""
        self.cue.hide()
        self.arrow.hide()

    def demonstrate(self, movement: str | None, start: float = 0.0, duration: float = 2.5) -> None:
        """Animate a translucent demonstration hand doing ``movement`` (``None`` hides it)."""
        self._demo = Performance(movement, start, duration) if movement else None
        if movement is None:
            self.demo.update(None)

    # ---- frame update ----------------------------------------------------------------------
    def update(self, t: float) -> None:
        """Per-frame animation (the demonstration hand), for a frame displayed at ``t``."""
        if self._demo is not None:
            d = self._demo
            # loop the movement for as long as the demonstration runs
            phase_t = d.start + ((t - d.start) % d.duration) if t >= d.start else d.start
            # in the middle of the table, between the patient's hands, slightly raised
            wrist = np.array([0.0, 0.33, 0.84])
            self.demo.update(hand_pose(self.amputated, d.params(phase_t), t, wrist=wrist))

    def set_progress(self, fraction: float, label: str) -> None:
        """Session progress bar."""
        self.progress.set(fraction, label)

"""The patient's scene, built under a root node handed in from outside (display-independent).

:class:`MirrorScene` holds the calm room, the mirrored limb (amputated side), the optional
real-side limb, the residual limb, cue panel and arrow, the imagery demonstration hand, the
laterality stimulus, the pain rating slider and the progress bar. It has no cameras and knows
no display: a backend attaches its own cameras (one for a window or offscreen buffer, one per
eye for a headset) to the same ``root``; :func:`patient_camera` makes the mono one. Its methods
are the vocabulary session logic uses (:mod:`mirrorvr.render.director`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from panda3d.core import Camera, CardMaker, NodePath, PerspectiveLens, TransparencyAttrib

from mirrorvr.config.plan import SceneSettings
from mirrorvr.render.detail import Detail
from mirrorvr.render.environment import build_environment
from mirrorvr.render.limb import HIDDEN_SHARE, Limb
from mirrorvr.render.panels import Arrow, CuePanel, ProgressBar, RatingSlider
from mirrorvr.tracking.joints import Joint, Side, other_side
from mirrorvr.tracking.leg_motion import LegPerformance
from mirrorvr.tracking.leg_skeleton import (
    LEG_JOINT_COUNT,
    LEG_REST_POSITIONS,
    LegJoint,
    LegParams,
    leg_pose,
)
from mirrorvr.tracking.mirror import MidlinePlane
from mirrorvr.tracking.motion import Performance
from mirrorvr.tracking.pose import LimbKind, LimbPose
from mirrorvr.tracking.skeleton import HOME_WRIST, TABLE_HEIGHT, HandParams, hand_pose
from mirrorvr.tracking.synthetic import HEAD

#: where the patient's eyes are and what they look at (world frame, metres)
EYE = (float(HEAD[0]), float(HEAD[1]), float(HEAD[2]))
LOOK_AT = (0.0, 0.55, 0.78)
#: lower limb: the patient leans forward a little and looks down at the feet (no table)
EYE_FEET = (0.0, 0.40, 1.02)
LOOK_AT_FEET = (0.0, 0.85, 0.20)
#: lower limb: panels and the laterality stimulus come down into that view, beyond the feet
PANEL_SHIFT_FEET = (0.0, 0.15, -0.55)
STIMULUS_POS_FEET = (0.0, 0.95, 0.42)
TABLE_TOP = TABLE_HEIGHT
#: laterality stimuli float here, in front of the patient
STIMULUS_POS = (0.0, 0.62, 0.87)
STIMULUS_SCALE = 1.2  # larger than life: easy to judge at a glance
#: residual limb length by amputation level (metres from the elbow)
RESIDUAL_LENGTH = {"hand": 0.25, "wrist": 0.23, "transradial": 0.12, "elbow": 0.03}
#: lower limb: joints the mirrored leg does not draw at each amputation level (the patient's
#: own body is there): transtibial mirrors the shank and foot, partial foot / ankle the foot
LEG_HIDDEN_JOINTS: dict[str, tuple[int, ...]] = {
    "partial_foot": (LegJoint.HIP, LegJoint.KNEE),
    "ankle": (LegJoint.HIP, LegJoint.KNEE),
    "transtibial": (LegJoint.HIP,),
}
#: what a plan's limb is called in cues
LIMB_WORD: dict[str, str] = {"upper": "hand", "lower": "foot"}


def patient_camera(
    root: NodePath,
    aspect: float,
    fov_deg: float = 90.0,
    look_at: tuple[float, float, float] = LOOK_AT,
    eye: tuple[float, float, float] = EYE,
) -> NodePath:
    """A mono camera at the patient's eyes looking at the table (window/offscreen displays)."""
    cam = Camera("patient-camera")
    lens = PerspectiveLens()
    lens.set_fov(fov_deg)
    lens.set_aspect_ratio(aspect)
    lens.set_near_far(0.05, 20.0)
    cam.set_lens(lens)
    np_ = root.attach_new_node(cam)
    np_.set_pos(*eye)
    np_.look_at(*look_at)
    return np_


class LateralityStimulus:
    """A posed 3-D hand or foot (left or right) at a rotation, seen from the back or the palm
    (for a foot: its top or its sole)."""

    def __init__(
        self,
        parent: NodePath,
        skin: tuple[float, float, float],
        limb: LimbKind = "upper",
        size: float = 1.0,
        detail: Detail = "full",
    ) -> None:
        self.size = size
        self.root = parent.attach_new_node("laterality")
        self.root.set_pos(*STIMULUS_POS)
        self.root.set_scale(STIMULUS_SCALE)
        self.turn = self.root.attach_new_node("turn")
        self.limb = limb
        hide = (LegJoint.HIP, LegJoint.KNEE) if limb == "lower" else ()
        self.limbs = {
            s: Limb(
                self.turn, s, skin=skin, forearm=False, limb=limb, hide_joints=hide, detail=detail
            )
            for s in ("left", "right")
        }
        self.shown: tuple[str, int, str] | None = None

    def _pose(self, side: Side) -> LimbPose:
        """The stimulus limb, centred on the origin (palm / middle of the foot)."""
        if self.limb == "lower":
            leg = leg_pose(side, LegParams(dorsiflexion=0.1), hip=np.zeros(3))
            centre = (leg.positions[LegJoint.HEEL] + leg.positions[LegJoint.TOE_TIP]) / 2.0
            return replace(leg, positions=leg.positions - centre)
        pose = hand_pose(
            side, HandParams(spread=0.4, thumb_opposition=0.1), wrist=np.zeros(3), scale=self.size
        )
        return replace(pose, positions=pose.positions - pose.positions[Joint.PALM])

    def show(self, side: Side, angle_deg: int, view: str) -> None:
        """Show a ``side`` hand (foot) rotated ``angle_deg`` clockwise (as seen), back or palm
        view (foot: top or sole)."""
        pose = self._pose(side)
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

    def __init__(
        self,
        root: NodePath,
        settings: SceneSettings,
        amputation_side: Side,
        *,
        limb: LimbKind = "upper",
        level: str = "transradial",
        detail: Detail = "full",
    ) -> None:
        self.root = root
        #: how the limbs are drawn: ``"software"`` on a CPU renderer (:mod:`.detail`)
        self.detail = detail
        self.settings = settings
        self.amputated: Side = amputation_side
        self.intact: Side = other_side(amputation_side)
        self.limb: LimbKind = limb
        self.level = level
        #: what the cues call the limb ("hand", "foot")
        self.limb_word = LIMB_WORD[limb]
        #: where the patient's (window/offscreen) camera looks
        self.look_at = LOOK_AT if limb == "upper" else LOOK_AT_FEET
        self.eye = EYE if limb == "upper" else EYE_FEET
        skin = settings.skin_rgb
        self.environment = build_environment(root, settings.style)
        if limb == "lower":  # seated with the feet in view: no table between eyes and feet
            for part in self.environment.find_all_matches("**/table-*"):
                part.hide()
        k = settings.hand_scale
        hide = LEG_HIDDEN_JOINTS.get(level, ()) if limb == "lower" else ()
        # the hands cast soft shadows on the table (the feet have no table under them; the
        # plain scene has none)
        shadow = limb == "upper" and settings.style == "room"
        sleeve = settings.sleeve_rgb
        self.mirrored = Limb(
            root,
            self.amputated,
            skin=skin,
            name="mirrored-limb",
            thickness=k,
            limb=limb,
            hide_joints=hide,
            shadow=shadow,
            sleeve=sleeve,
            detail=detail,
        )
        self.real = Limb(
            root,
            self.intact,
            skin=skin,
            name="real-limb",
            thickness=k,
            limb=limb,
            shadow=shadow,
            sleeve=sleeve,
            detail=detail,
        )
        #: the patient's hand length relative to the model's: sizes the drawn example hands
        self.hand_size = settings.hand_length_scale
        self.demo = Limb(
            root,
            self.amputated,
            skin=(0.55, 0.7, 0.95),
            alpha=0.55,
            name="demo-limb",
            limb=limb,
            detail=detail,
        )
        self.residual = self._residual(skin) if limb == "upper" else self._leg_residual(skin)
        self.cue = CuePanel(root)
        self.arrow = Arrow(root)
        self.rating = RatingSlider(root)
        self.progress = ProgressBar(root)
        self.laterality = LateralityStimulus(root, skin, limb, size=self.hand_size, detail=detail)
        if limb == "lower":
            self._panels_to_feet_view()
        self.midline = self._midline_strip()
        self._demo: Performance | LegPerformance | None = None
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

    def _midline_strip(self) -> NodePath:
        """A thin translucent blue strip along the midline, on the table (or the floor)."""
        cm = CardMaker("midline-strip")
        cm.set_frame(-0.004, 0.004, 0.0, 0.9)
        node = self.root.attach_new_node("midline")
        card = node.attach_new_node(cm.generate())
        card.set_p(-90)  # lie flat, extending forward (+y), front face up
        node.set_color(0.25, 0.5, 0.95, 0.7)
        node.set_transparency(TransparencyAttrib.M_alpha)
        node.set_light_off(1)
        node.hide()
        return node

    def show_midline(self, plane: MidlinePlane | None) -> None:
        """Show the midline ``plane`` as a strip on the table or floor (``None`` hides it)."""
        if plane is None:
            self.midline.hide()
            return
        n = plane.normal
        fx, fy = -float(n[1]), float(n[0])  # forward along the plane: the normal turned 90°
        p = plane.point
        u = (0.05 - float(p[1])) / fy if abs(fy) > 0.1 else 0.0
        z = 0.003 if self.limb == "lower" else TABLE_TOP + 0.002
        self.midline.set_pos(float(p[0]) + fx * u, float(p[1]) + fy * u, z)
        self.midline.set_h(math.degrees(math.atan2(-fx, fy)))
        self.midline.show()

    def _panels_to_feet_view(self) -> None:
        """Move the cue card, rating slider, progress bar and stimulus into the feet view."""
        dx, dy, dz = PANEL_SHIFT_FEET
        ex, ey, ez = EYE_FEET
        for node in (self.cue.root, self.rating.root, self.progress.root):
            x, y, z = node.get_pos()
            node.set_pos(x + dx, y + dy, z + dz)
            # face the leaning eye (front faces −y): look at the point mirrored through it
            node.look_at(2 * (x + dx) - ex, 2 * (y + dy) - ey, 2 * (z + dz) - ez)
        x, y, z = STIMULUS_POS_FEET
        self.laterality.root.set_pos(x, y, z)
        self.laterality.root.look_at(2 * x - ex, 2 * y - ey, 2 * z - ez)

    def _leg_residual(self, skin: tuple[float, float, float]) -> NodePath:
        """The amputated side's residual limb: what the mirrored leg leaves out (the thigh
        above a transtibial amputation, thigh and shank above an ankle one), the same skinned
        mesh at rest, meeting the mirrored leg along the same cut (nothing above a knee-level
        amputation: the mirrored leg is the whole leg)."""
        hidden = set(LEG_HIDDEN_JOINTS.get(self.level, ()))
        if not hidden:
            return self.root.attach_new_node("residual-limb")
        self._residual_leg = Limb(
            self.root,
            self.amputated,
            skin=(skin[0] * 0.95, skin[1] * 0.95, skin[2] * 0.95),
            name="residual-limb",
            thickness=self.settings.hand_scale,
            sleeve=self.settings.sleeve_rgb,
            limb="lower",
            hide_joints=[j for j in range(LEG_JOINT_COUNT) if j not in hidden],
            cut=1.0 - HIDDEN_SHARE,
        )
        if self.settings.show_residual:
            self._residual_leg.update(leg_pose(self.amputated, LegParams()))
        return self._residual_leg.root

    def home(self, side: Side) -> np.ndarray:
        """Where the ``side`` hand's wrist (foot's ankle) rests: cues point there."""
        if self.limb == "lower":
            flip = np.array([1.0 if side == "right" else -1.0, 1.0, 1.0])
            return LEG_REST_POSITIONS[LegJoint.ANKLE] * flip
        return HOME_WRIST[side]

    # ---- hands ---------------------------------------------------------------------------
    def set_hands(self, intact: LimbPose | None, mirrored: LimbPose | None) -> None:
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
            home = self.home(self.amputated)
            self.arrow.point_at((float(home[0]), float(home[1]) + 0.1, float(home[2]) + 0.06))
        else:
            self.arrow.hide()

    def clear_cue(self) -> None:
        """Hide cue text and arrow."""
        self.cue.hide()
        self.arrow.hide()

    def demonstrate(self, movement: str | None, start: float = 0.0, duration: float = 2.5) -> None:
        """Animate a translucent demonstration hand (leg) doing ``movement`` (``None`` hides
        it)."""
        if movement is None:
            self._demo = None
        elif self.limb == "lower":
            self._demo = LegPerformance(movement, start, duration)
        else:
            self._demo = Performance(movement, start, duration)
        if movement is None:
            self.demo.update(None)

    # ---- frame update ----------------------------------------------------------------------
    def update(self, t: float) -> None:
        """Per-frame animation (the demonstration hand), for a frame displayed at ``t``."""
        if self._demo is not None:
            d = self._demo
            # loop the movement for as long as the demonstration runs
            phase_t = d.start + ((t - d.start) % d.duration) if t >= d.start else d.start
            if isinstance(d, LegPerformance):
                # between the patient's feet, a little forward
                hip = np.array([0.0, 0.08, 0.52])
                self.demo.update(leg_pose(self.amputated, d.params(phase_t), t, hip=hip))
                return
            # in the middle of the table, between the patient's hands, slightly raised
            wrist = np.array([0.0, 0.33, 0.84])
            self.demo.update(
                hand_pose(self.amputated, d.params(phase_t), t, wrist=wrist, scale=self.hand_size)
            )

    def set_progress(self, fraction: float, label: str) -> None:
        """Session progress bar."""
        self.progress.set(fraction, label)

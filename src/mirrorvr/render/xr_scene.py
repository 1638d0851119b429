"""The headset's scene: the mirror scene (limbs, cues, rating, laterality) fed by OpenXR input.

:class:`MirrorHeadsetScene` drives :class:`~mirrorvr.render.scene.MirrorScene` the way the
window/offscreen presenter does (through :class:`~mirrorvr.render.director.Director` and
:class:`~mirrorvr.tracking.pipeline.MirrorPipeline`), but with the hands the runtime tracked
for each frame's predicted display time; the OpenXR display brings one camera per eye.
"""

from __future__ import annotations

from typing import Any, Protocol

from mirrorvr.config.plan import SessionPlan
from mirrorvr.session.timeline import Step, compile_timeline
from mirrorvr.tracking import midline
from mirrorvr.tracking.mirror import MidlinePlane, reflect_positions
from mirrorvr.tracking.pose import LimbPose, TrackingFrame


class HeadsetScene(Protocol):
    """What the OpenXR backend needs from a scene."""

    root: Any
    #: the midline the mirrored side is reflected across
    plane: MidlinePlane
    #: (intact, mirrored) hand of the last :meth:`update`, either None while not tracked
    hands: tuple[LimbPose | None, LimbPose | None]

    def show(self, step: Step, t: float) -> None:
        """Set the scene up for ``step``, first displayed at LSL time ``t``."""
        ...

    def update(self, frame: TrackingFrame | None, t: float) -> None:
        """Place the limbs from this frame's tracking (frame displayed at ``t``)."""
        ...

    def on_actions(self, actions: list[str], t: float) -> None:
        """Apply the patient's actions (``left``, ``right``, ``confirm``) of a frame."""
        ...

    @property
    def answer(self) -> Any:
        """The answer given in the scene to the current question (``value``, ``t``), or None."""
        ...

    def expire(self) -> None:
        """The answer window closed: take the question down."""
        ...


class MirrorHeadsetScene:
    """The mirror scene for ``plan``, mirrored across the midline plane ``plane``."""

    def __init__(self, plan: SessionPlan, plane: MidlinePlane | None = None) -> None:
        from panda3d.core import NodePath

        from mirrorvr.render.director import Director
        from mirrorvr.render.scene import MirrorScene
        from mirrorvr.tracking.pipeline import MirrorPipeline, gain_from_settings

        intact = plan.patient.intact_side
        self.plan = plan
        # the plan's marked or stored midline (x = 0 of the stage by default) until a
        # calibration hold (hold_for_midline in openxr_presenter) sets another
        self.plane = plane or midline.from_plan(plan.tracking).plane
        self.root = NodePath("headset-scene")
        self.hands: tuple[LimbPose | None, LimbPose | None] = (None, None)
        limb = plan.patient.limb
        self.scene = MirrorScene(
            self.root,
            plan.scene,
            plan.patient.amputation_side,
            limb=limb,
            level=plan.patient.amputation_level,
        )
        home = reflect_positions(self.plane, self.scene.home(intact))
        self.pipeline = MirrorPipeline(
            intact_side=intact,
            plane=self.plane,
            gain=gain_from_settings(plan.scene.mirror_gain, plan.scene.mirror_offset_m, home),
            smoothing=plan.scene.smoothing,
            limb=limb,
        )
        timeline = compile_timeline(plan)
        # no performer: in a headset the patient's own (tracked) hand does the movements
        self.director = Director(self.scene, None, timeline.duration, len(plan.blocks))

    def set_plane(self, plane: MidlinePlane) -> None:
        """Mirror across ``plane`` from the next frame (the gain's home follows it)."""
        from mirrorvr.tracking.pipeline import gain_from_settings

        s = self.plan.scene
        self.plane = plane
        home = reflect_positions(plane, self.scene.home(self.plan.patient.intact_side))
        self.pipeline.plane = plane
        self.pipeline.gain = gain_from_settings(s.mirror_gain, s.mirror_offset_m, home)
        self.pipeline.filter.reset()

    def show(self, step: Step, t: float) -> None:
        """Cue, rest, rating slider or laterality stimulus for ``step``."""
        self.director.show(step, t, step.t)

    def update(self, frame: TrackingFrame | None, t: float) -> None:
        """Mirror the tracked intact hand onto the amputated side."""
        intact, mirrored = self.hands = self.pipeline.process(frame or TrackingFrame(t=t))
        self.scene.set_hands(intact, mirrored)
        self.scene.update(t)

    def on_actions(self, actions: list[str], t: float) -> None:
        """Controller actions move the rating slider, confirm it, or pick a side."""
        self.director.on_actions(actions, t)

    @property
    def answer(self) -> Any:
        """The director's answer to the current question (None until given)."""
        return self.director.answer

    def expire(self) -> None:
        """Take an unanswered question down."""
        self.director.expire()

"""Session logic inside the scene: what each step shows, and answers from key actions.

A plain object (no panda3d tasks): the presenter calls :meth:`Director.show` when the runner
presents a step, and :meth:`Director.on_actions` in the frame's session-logic phase with the
actions the input phase read. Answers carry the time of the frame whose input delivered them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirrorvr.render.panels import PANEL_RGB
from mirrorvr.render.scene import MirrorScene
from mirrorvr.session.embodiment import AGREEMENT_ENDS
from mirrorvr.session.timeline import Step
from mirrorvr.tracking.source import Performer

MOVEMENT_TEXT = {
    "fist": "make a fist",
    "finger_flexion": "bend your fingers one by one",
    "thumb_opposition": "touch each fingertip with your thumb",
    "wrist_flexion": "bend your wrist down",
    "wrist_extension": "bend your wrist up",
    "pronation": "turn your palm down and up",
    "supination": "turn your palm up",
    "reach": "reach forward",
    "open_hand": "spread your fingers wide",
    "ankle_dorsiflexion": "pull your toes up",
    "ankle_plantarflexion": "point your foot down",
    "toe_flexion": "curl your toes",
    "knee_extension": "straighten your knee",
    "foot_circles": "draw circles with your foot",
}
REST_RGB = (0.80, 0.92, 0.84)
#: phantom motor execution motions as the patient reads them
PME_TEXT = {
    "hand_close": "close your hand",
    "hand_open": "open your hand",
    "wrist_flexion": "bend your wrist down",
    "wrist_extension": "bend your wrist up",
    "pronation": "turn your palm down",
    "supination": "turn your palm up",
}
#: the demonstration hand's movement for each PME motion
PME_DEMO = {
    "hand_close": "fist",
    "hand_open": "open_hand",
    "wrist_flexion": "wrist_flexion",
    "wrist_extension": "wrist_extension",
    "pronation": "pronation",
    "supination": "supination",
}


@dataclass(frozen=True)
class SceneAnswer:
    """An answer given in the scene: a rating value or a side, and the frame time it came in."""

    value: int | str
    t: float


class Director:
    """Turns timeline steps into scene changes and key actions into answers."""

    def __init__(
        self, scene: MirrorScene, performer: Performer | None, duration: float, blocks: int
    ) -> None:
        self.scene = scene
        self.performer = performer
        self.duration = max(duration, 1e-9)
        self.blocks = blocks
        self.mode: str | None = None  # "rating" | "laterality" while waiting for an answer
        self.answer: SceneAnswer | None = None

    def show(self, step: Step, t: float, session_t: float) -> None:
        """Set the scene up for ``step``, whose first frame is displayed at ``t``.

        ``session_t`` is the step's planned time from the session start (for progress).
        """
        s, kind, d = self.scene, step.kind, step.data
        amp = f"{s.amputated} {s.limb_word}"
        block = f"block {step.block + 1}/{self.blocks}" if step.block is not None else ""
        s.set_progress(session_t / self.duration, block)
        self.answer = None
        self.mode = None
        if kind != "laterality_trial":
            s.laterality.hide()
            s.show_limbs(True)
        if kind not in ("rating", "embodiment"):
            s.rating.close()
        if d.get("exercise") == "pme":
            self._show_pme(step, t)
        elif kind == "cue":
            movement = str(d.get("movement", ""))
            what = MOVEMENT_TEXT.get(movement, movement.replace("_", " "))
            if d.get("exercise") == "imagery":
                s.show_cue(f"Imagine: {what}\nwith your {amp}")
                s.demonstrate(movement, t, max(step.duration, 2.0))
            else:
                s.show_cue(f"Watch your {amp}:\n{what}", point_at_mirrored=True)
                s.demonstrate(None)
        elif kind == "window":
            movement = str(d.get("movement", ""))
            what = MOVEMENT_TEXT.get(movement, movement.replace("_", " "))
            s.demonstrate(None)
            if d.get("exercise") == "imagery":
                s.show_cue(f"Imagine it now: {what}", rgb=PANEL_RGB)
            else:
                s.show_cue(f"Now: {what}", rgb=PANEL_RGB)
                if self.performer is not None:
                    self.performer.perform(movement, t, step.duration)
        elif kind == "rest":
            s.demonstrate(None)
            s.show_cue("Rest", rgb=REST_RGB)
        elif kind == "rating":
            s.demonstrate(None)
            s.clear_cue()
            s.rating.open(str(d.get("prompt", "Pain now? (0-10)")))
            self.mode = "rating"
        elif kind == "embodiment":
            # same slider, agreement with a statement about the limb just seen
            s.demonstrate(None)
            s.clear_cue()
            s.rating.open(str(d.get("prompt", "")), ends=AGREEMENT_ENDS)
            self.mode = "rating"
        elif kind == "laterality_trial":
            s.demonstrate(None)
            s.show_limbs(False)
            # the prompt goes on the progress line: the cue card would hide the stimulus
            s.clear_cue()
            s.set_progress(
                session_t / self.duration, f"{block}   Left or right {s.limb_word}?  (arrow keys)"
            )
            s.laterality.show(
                "left" if d["side"] == "left" else "right",
                int(d["angle_deg"]),
                str(d.get("view", "back")),
            )
            self.mode = "laterality"

    def _show_pme(self, step: Step, t: float) -> None:
        """Phantom motor execution: the phantom itself moves as decoded (the presenter draws it
        from the PME engine), so the cards only say what to do."""
        s, kind, d = self.scene, step.kind, step.data
        amp = s.amputated
        what = PME_TEXT.get(str(d.get("movement", "")), str(d.get("movement", "")))
        phase = d.get("phase")
        demo = PME_DEMO.get(str(d.get("movement", "")))
        if phase == "calibration" and kind == "cue":
            s.show_cue(f"Get ready: {what}\nwith your {amp} (phantom) hand")
            s.demonstrate(demo, t, max(step.duration, 2.0))
        elif phase == "calibration" and kind == "window":
            s.demonstrate(None)
            s.show_cue(f"Now: {what} and hold", rgb=PANEL_RGB)
        elif phase == "fit":
            s.demonstrate(None)
            s.show_cue("Rest while your movements are learned", rgb=REST_RGB)
        elif phase == "task" and kind == "cue":
            s.demonstrate(None)
            s.show_cue(f"Move your phantom hand to the shown posture\n({what}) and hold it")
        elif phase == "task" and kind == "window":
            s.demonstrate(None)
            s.show_cue(f"Go: {what}", rgb=PANEL_RGB, point_at_mirrored=True)
        else:
            s.demonstrate(None)
            s.show_cue("Rest", rgb=REST_RGB)

    def on_actions(self, actions: list[str], t: float) -> None:
        """Apply the frame's key actions (frame display time ``t``)."""
        for action in actions:
            if self.mode == "rating":
                if action == "left":
                    self.scene.rating.move(-1)
                elif action == "right":
                    self.scene.rating.move(+1)
                elif action == "confirm":
                    self.answer = SceneAnswer(self.scene.rating.value, t)
                    self.scene.rating.close()
                    self.mode = None
            elif self.mode == "laterality" and action in ("left", "right"):
                self.answer = SceneAnswer(action, t)
                self.scene.laterality.hide()
                self.mode = None

    def expire(self) -> None:
        """The answer window closed unanswered: take the question down."""
        if self.mode == "rating":
            self.scene.rating.close()
        elif self.mode == "laterality":
            self.scene.laterality.hide()
        self.mode = None

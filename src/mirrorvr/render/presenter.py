"""The panda3d presenter: the session's display seam on a window, offscreen buffer or headset.

:class:`PandaPresenter` implements :class:`mirrorvr.session.presenter.Presenter`. Every call
renders frames through one :class:`~mirrorvr.render.frame.FrameLoop` whose phases run in the
fixed slots (pose sync −1000, simulated patient −60, input −50, session logic 0, scene update
40, render 50). ``present(step)`` sets the scene up, renders the next frame and returns *that
frame's display time*; ratings and laterality answers arrive through the keys (a simulated
patient presses the same keys, on the virtual keyboard, at its reaction times).

Time: on a real clock frames are paced at ``fps`` and a frame's display time is stamped when
the render phase returns (``auto-flip`` is on, so the frame has been handed to the display;
a monitor adds its own scan-out latency, a headset backend stamps the runtime's predicted
display time instead). On the simulated clock (``mirrorvr sim --fast``) frames sit on a
1/``fps`` grid of simulated time and are stamped with their grid time; between steps only every
``stride_s``-th frame is rendered so a 20-minute session still runs in seconds.

The options and seams it is handed live in ``presenter_seams.py``, frame capture in
``frame_recorder.py``, and session control, midline calibration and overlay lines in
``presenter_control.py`` (all re-exported here).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from panda3d.core import NodePath

from mirrorvr.config.plan import SessionPlan
from mirrorvr.render.detail import detail_for
from mirrorvr.render.director import Director
from mirrorvr.render.display import Display, WindowDisplay
from mirrorvr.render.frame import (
    SORT_INPUT,
    SORT_POSE_SYNC,
    SORT_RENDER,
    SORT_SCENE,
    SORT_SESSION,
    FrameInfo,
    FrameLoop,
)
from mirrorvr.render.frame_recorder import FrameRecorder
from mirrorvr.render.input import CONTROL_ACTIONS, KeyInput, keys_for_rating
from mirrorvr.render.presenter_control import PresenterControl
from mirrorvr.render.presenter_seams import (
    PhantomView,
    PresenterOptions,
    RemoteStatus,
    SessionControl,
)
from mirrorvr.render.scene import MirrorScene, patient_camera
from mirrorvr.session.clock import Clock
from mirrorvr.session.presenter import Answer, Answering, ToneOutcome
from mirrorvr.session.timeline import Step, compile_timeline
from mirrorvr.tracking import midline
from mirrorvr.tracking.pipeline import MirrorPipeline
from mirrorvr.tracking.pose import LimbPose, TrackingFrame
from mirrorvr.tracking.skeleton import hand_pose
from mirrorvr.tracking.source import Performer, PoseSource
from mirrorvr.tracking.sources import open_source
from mirrorvr.tracking.watch import TrackingWatch

if TYPE_CHECKING:
    from mirrorvr.render.audio import CueSounder
    from mirrorvr.render.frame_streams import FrameStreams
    from mirrorvr.render.overlay import TherapistOverlay

__all__ = [
    "SORT_PATIENT",
    "FrameRecorder",
    "PandaPresenter",
    "PhantomView",
    "PresenterControl",
    "PresenterOptions",
    "RemoteStatus",
    "SessionControl",
]

#: the simulated patient acts just before input is read, like a finger on a key
SORT_PATIENT = -60


class PandaPresenter(PresenterControl):
    """Shows a session in the mirror scene on ``display`` (window, offscreen, headset)."""

    def __init__(
        self,
        clock: Clock,
        patient: Answering | None,
        plan: SessionPlan,
        display: Display,
        *,
        source: PoseSource | None = None,
        options: PresenterOptions | None = None,
        root: NodePath | None = None,
        attach_camera: bool = True,
    ) -> None:
        self.clock = clock
        self.patient = patient
        self.plan = plan
        self.display = display
        self.options = opts = options or PresenterOptions()
        if opts.frames_dir is not None and opts.frame_every_s < opts.stride_s:
            opts = self.options = PresenterOptions(
                **{**opts.__dict__, "stride_s": opts.frame_every_s}
            )
        self.timeline = compile_timeline(plan)
        amputated = plan.patient.amputation_side
        intact = plan.patient.intact_side
        self.root = root if root is not None else NodePath("scene-root")
        limb = plan.patient.limb
        self.scene = MirrorScene(
            self.root,
            plan.scene,
            amputated,
            limb=limb,
            level=plan.patient.amputation_level,
            detail=detail_for(display.renderer),
        )
        if attach_camera:
            self.camera = patient_camera(
                self.root, display.aspect, look_at=self.scene.look_at, eye=self.scene.eye
            )
            display.attach_camera(self.camera)
        self.source: PoseSource = source or open_source(plan, display=display.kind)
        tr = plan.tracking
        #: the midline in use: the plan's mark or stored plane until a calibration hold runs
        self.midline = midline.from_plan(tr)
        self.pipeline = MirrorPipeline(
            intact_side=intact,
            plane=self.midline.plane,
            smoothing=plan.scene.smoothing,
            limb=limb,
        )
        self._set_plane(self.midline.plane)
        self.director = Director(
            self.scene,
            self.source if isinstance(self.source, Performer) else None,
            self.timeline.duration,
            len(plan.blocks),
        )
        window = display.output if isinstance(display, WindowDisplay) else None
        self.keys = KeyInput(window)
        overlay = opts.therapist_overlay
        if overlay is None:
            overlay = isinstance(display, WindowDisplay)
        self.overlay: TherapistOverlay | None = None
        if overlay and attach_camera:
            from mirrorvr.render.overlay import TherapistOverlay

            self.overlay = TherapistOverlay(display)
        self.recorder = (
            FrameRecorder(display, opts.frames_dir, opts.frame_every_s) if opts.frames_dir else None
        )
        # cue tones: opened only when the plan asks for them, and only in real time
        tones = [s.data["tone"] for s in self.timeline.steps if "tone" in s.data]
        self.sounder: CueSounder | None = None
        self._no_sound = "simulated clock: cue tones play only in real time"
        if tones and clock.realtime:
            from mirrorvr.render.audio import CueSounder, log

            try:
                self.sounder = CueSounder(clock, tones)
            except Exception as e:  # sound is an extra: it must never stop a session
                self._no_sound = f"audio failed: {e}"
                log.warning("warning: cue tones will not play: %s", self._no_sound)
        self._tone_due: dict[str, float] | None = None
        self._tone: ToneOutcome | None = None
        self._scheduled: list[tuple[float, str]] = []
        self._tracking = TrackingFrame(t=0.0)
        #: lost / regained intact limb → the plan's reaction (``[tracking] on_lost``)
        self.watch = TrackingWatch(plan.tracking.lost_after_s)
        self.tracking_lost = False
        #: the session runner, once attached; until then requests queue in ``requests``
        self.control: SessionControl | None = None
        self.requests: list[tuple[str, Any]] = []
        self._interrupted = False
        self._recalibrate = False
        #: the runner's state and pulse count, sent along by a display process's parent
        self.remote_status: RemoteStatus | None = None
        self._hands: tuple[LimbPose | None, LimbPose | None] = (None, None)
        self._cpu0 = 0.0
        #: per-frame LSL streams (set by the real-time display process; see frame_streams.py)
        self.streams: FrameStreams | None = None
        #: phantom motor execution: the engine whose decoded phantom replaces the mirror image
        self.phantom: PhantomView | None = None
        self._actions: list[str] = []
        self._last_t: float | None = None
        self._grid0: float | None = None
        self._t0: float | None = None
        self.frames = 0
        self.loop = FrameLoop()
        self.loop.add_phase("pose-sync", SORT_POSE_SYNC, self._pose_sync)
        self.loop.add_phase("simulated-patient", SORT_PATIENT, self._patient_keys)
        self.loop.add_phase("input", SORT_INPUT, self._input)
        self.loop.add_phase("session-logic", SORT_SESSION, self._session_logic)
        self.loop.add_phase("scene-update", SORT_SCENE, self._scene_update)
        self.loop.add_phase("render", SORT_RENDER, self._render)

    # ---- frame phases (thin: the work is in the objects they call) ---------------------------
    def _pose_sync(self, frame: FrameInfo) -> None:
        if self.streams is not None:  # the frame's CPU time (published) starts here; a
            self._cpu0 = time.thread_time()  # syscall, so only when someone reads it
        self._tracking = self.source.poll(frame.t)

    def _patient_keys(self, frame: FrameInfo) -> None:
        while self._scheduled and self._scheduled[0][0] <= frame.t:
            self.keys.press(self._scheduled.pop(0)[1])

    def _input(self, frame: FrameInfo) -> None:
        self._actions = self.keys.poll()

    def _session_logic(self, frame: FrameInfo) -> None:
        if self._actions:
            scene_actions = []
            for a in self._actions:
                if a == "estop":
                    self.request("estop", "Esc pressed in the preview window")
                elif a == "calibrate":
                    self._recalibrate = True
                elif a in CONTROL_ACTIONS:
                    self.request(a, f"{a} key pressed in the preview window")
                else:
                    scene_actions.append(a)
            if scene_actions:
                self.director.on_actions(scene_actions, frame.t)

    def _scene_update(self, frame: FrameInfo) -> None:
        intact, mirrored = self._hands = self.pipeline.process(self._tracking)
        self._watch_tracking(frame.t, intact is not None)
        if self.phantom is not None:  # phantom motor execution: the decoded phantom instead
            mirrored = self._phantom_pose(frame.t, mirrored)
            self._hands = (intact, mirrored)  # the pose streams carry what is drawn
        self.scene.set_hands(intact, mirrored)
        self.scene.update(frame.t)

    def _phantom_pose(self, t: float, mirrored: LimbPose | None) -> LimbPose | None:
        """The amputated side's hand as the PME engine decoded it (and the task's target as
        the translucent hand at the same place); the mirror outside PME blocks."""
        assert self.phantom is not None
        params = self.phantom.phantom_at(t)
        if params is None:
            return mirrored
        side = self.plan.patient.amputation_side
        target = self.phantom.target_params()
        if target is not None:
            self.scene.demo.update(hand_pose(side, target, t))
        return hand_pose(side, params, t)

    def _render(self, frame: FrameInfo) -> None:
        if self.overlay is not None:
            self.overlay.show(self.overlay_lines())
        self.display.render()
        frame.shown = self.clock.now() if self.clock.realtime else frame.t
        self.frames += 1
        if self._tone_due is not None:  # the frame that shows the cue starts its tone
            self._tone = (
                self.sounder.play(self._tone_due)
                if self.sounder is not None
                else ToneOutcome(False, reason=self._no_sound)
            )
            self._tone_due = None
        if self.sounder is not None:
            self.sounder.update()
        if self.streams is not None:
            self.streams.publish(frame, *self._hands, time.thread_time() - self._cpu0)
        if self.recorder is not None:
            self.recorder.maybe_write(frame)

    # ---- frame timing ------------------------------------------------------------------------
    def _grid(self, t: float) -> float:
        """The first simulated frame time at or after ``t``."""
        if self._grid0 is None:
            self._grid0 = t
        dt = 1.0 / self.options.fps
        k = math.ceil((t - self._grid0) / dt - 1e-9)
        return self._grid0 + k * dt

    def _next_time(self, min_gap: float) -> float:
        """Target display time of the next frame, at least ``min_gap`` after the last one."""
        now = self.clock.now()
        if self.clock.realtime:
            return now
        earliest = now if self._last_t is None else max(now, self._last_t + min_gap)
        return self._grid(earliest)

    def _frame(
        self, min_gap: float | None = None, notes: dict[str, object] | None = None
    ) -> FrameInfo:
        dt = 1.0 / self.options.fps
        if self.clock.realtime:
            if self._last_t is not None:
                self.clock.sleep_until(self._last_t + dt)  # pace at fps
            t = self.clock.now()
        else:
            t = self._next_time(dt if min_gap is None else min_gap)
            self.clock.sleep_until(t)
        info = self.loop.step(t, notes)
        self._last_t = t
        if self._recalibrate:  # C pressed (e.g. while paused): hold again, after this frame
            self._recalibrate = False
            self.calibrate_midline()
        return info

    def warm(self) -> bool:
        """Load the whole scene — hidden parts too: the limb, the mirror's other side, panels —
        into the renderer (textures, vertex buffers, shaders) before the session starts, so the
        first block does not stall on them. Returns whether a renderer was there to warm."""
        output = getattr(self.display, "output", None)
        gsg = output.get_gsg() if output is not None else None
        if gsg is None:
            return False
        self.root.prepare_scene(gsg)
        return True

    # ---- Presenter protocol --------------------------------------------------------------------
    def present(self, step: Step) -> float:
        """Show ``step``; returns the display time of the first frame that shows it."""
        if self._t0 is None:
            self._t0 = self.clock.now() - step.t
        t = self._next_time(1.0 / self.options.fps)
        self.director.show(step, t, step.t)
        self._tone = None
        self._tone_due = dict(step.data["tone"]) if "tone" in step.data else None
        frame = self._frame(notes={"step": step.index, "kind": step.kind})
        assert frame.shown is not None
        onset = frame.shown
        if self.patient is not None and self.options.simulated_input:
            self._schedule_answer(step, onset)
        return onset

    def _schedule_answer(self, step: Step, onset: float) -> None:
        assert self.patient is not None
        if step.kind in ("rating", "embodiment"):
            if step.kind == "embodiment":
                value, rt = self.patient.embodiment_rating(str(step.data["item"]))
            else:
                value, rt = self.patient.pain_rating(str(step.data.get("timepoint", "")))
            keys = list(keys_for_rating(self.scene.rating.value, value))
            n = len(keys)
            self._scheduled = [
                (onset + rt * (0.3 + 0.6 * i / max(1, n - 1)) if i < n - 1 else onset + rt, k)
                for i, k in enumerate(keys)
            ]
        elif step.kind == "laterality_trial":
            side, rt = self.patient.laterality_answer(
                str(step.data["side"]), int(step.data["angle_deg"])
            )
            self._scheduled = [(onset + rt, "arrow_left" if side == "left" else "arrow_right")]

    def cue_tone(self) -> ToneOutcome | None:
        """The tone started in the frame that showed the last presented step (or why not)."""
        return self._tone

    def withdraw_question(self) -> None:
        """The answer window closed: take the question down, forget pending presses."""
        self.director.expire()
        self._scheduled.clear()

    def _await_answer(self, deadline: float) -> Answer | None:
        while self.director.answer is None:
            if self.clock.now() >= deadline:
                break
            if self.clock.realtime:
                self._frame()
                continue
            # simulated clock: render the next stride frame, or the frame that takes a key press
            gap = self.options.stride_s
            if self._scheduled and self._last_t is not None:
                gap = min(gap, max(1.0 / self.options.fps, self._scheduled[0][0] - self._last_t))
            t = self._next_time(gap)
            if t > deadline:
                self.clock.sleep_until(deadline)
                break
            self._frame(min_gap=gap)
        answer = self.director.answer
        self._scheduled.clear()
        if answer is None:
            self.director.expire()
            return None
        if answer.t > deadline:
            return None
        return Answer(answer.value, answer.t)

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """Wait for the slider to be confirmed (keys), rendering frames; ``None`` at the deadline."""
        return self._await_answer(deadline)

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """Wait for a left/right key, rendering frames; ``None`` at the deadline."""
        return self._await_answer(deadline)

    def idle(self, until: float) -> None:
        """Keep rendering (the mirrored hand keeps following) until ``until``."""
        if self.clock.realtime:
            dt = 1.0 / self.options.fps
            while True:
                now = self.clock.now()
                if now >= until:
                    return
                if self._last_t is not None and self._last_t + dt > until:
                    self.clock.sleep_until(until)
                    return
                self._frame()
        self._interrupted = False
        while True:
            t = self._next_time(self.options.stride_s)
            if t >= until:
                break
            self._frame(min_gap=self.options.stride_s)
            if self._interrupted:
                return  # the runner pauses (or stops) before waiting on
        self.clock.sleep_until(until)

    def close(self) -> None:
        """Stop the frame loop and release the display."""
        self.loop.close()
        if self.sounder is not None:
            self.sounder.close()
        if self.streams is not None:
            self.streams.close()
        if self.recorder is not None:
            self.recorder.close()
        self.display.close()
        self.source.close()

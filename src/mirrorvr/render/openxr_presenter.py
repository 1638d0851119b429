"""Running a session in an OpenXR headset: the frame loop, the presenter and the safety policy.

panda3d and the OpenXR session live on the main thread (:class:`HeadsetLoop`), because a
headset needs frames every display period whatever the session does — also while it is
paused. The session runner runs on a worker thread and talks to the loop through
:class:`OpenXRPresenter`: ``present(step)`` hands the step to the loop and returns when the
first frame showing it has been submitted, with that frame's predicted display time on the LSL
clock as the onset.

Headset events become session actions through :class:`HeadsetPolicy`: focus lost (headset
taken off, system menu) pauses and focus regained resumes; tracking lost and the controller's
menu button are emergency stops (disarm at once, pause until the operator resumes); a runtime
that stops or loses the session ends it (abort: disarmed, logged, resumable).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mirrorvr.errors import MirrorVRError
from mirrorvr.render.openxr_display import (
    SORT_INPUT,
    DisplayEvent,
    FrameInfo,
    HeadsetError,
    OpenXRDisplay,
    _lsl_now,
)
from mirrorvr.render.xr_scene import HeadsetScene
from mirrorvr.session.clock import Clock
from mirrorvr.session.presenter import Answer
from mirrorvr.session.runner import SessionRunner
from mirrorvr.session.timeline import Step
from mirrorvr.sim.patient import SimulatedPatient

#: session logic slot: after input (-40), before the scene update and rendering (50)
SORT_SESSION = 0
#: the scene follows the tracked limbs just before rendering
SORT_SCENE = 40
#: how long the loop waits for the headset to become ready before giving up
READY_TIMEOUT_S = 20.0

Reaction = Literal["pause", "estop", "ignore"]

#: controller buttons → scene actions: select on the left/right controller moves the rating
#: slider or answers "left"/"right"; squeeze (grip) confirms
ACTIONS: dict[tuple[str, str], str] = {
    ("left", "select"): "left",
    ("right", "select"): "right",
    ("left", "squeeze"): "confirm",
    ("right", "squeeze"): "confirm",
}

#: the render slot (panda3d's own igLoop sort)
SORT_RENDER = 50


@dataclass(frozen=True)
class HeadsetPolicy:
    """How the session reacts to the headset (defaults follow the safety principle)."""

    on_focus_lost: Reaction = "pause"
    on_tracking_lost: Reaction = "estop"
    on_menu_button: Reaction = "estop"
    #: resume automatically when focus returns after a pause that focus loss caused
    resume_on_focus: bool = True


class _ShowRequest:
    def __init__(self, step: Step) -> None:
        self.step = step
        self.frame: FrameInfo | None = None
        self.done = threading.Event()


@dataclass
class HeadsetLoop:
    """Owns panda3d, the scene and the OpenXR display on the main thread."""

    scene_factory: Callable[[], HeadsetScene]
    policy: HeadsetPolicy = field(default_factory=HeadsetPolicy)
    engine: Any = None
    host: Any = None
    tasks: Any = None
    scene: Any = None
    display: OpenXRDisplay | None = None
    runner: SessionRunner | None = None
    closing: threading.Event = field(default_factory=threading.Event)
    frames: list[FrameInfo] = field(default_factory=list)
    keep_frames: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._frame_cv = threading.Condition(self._lock)
        self._pending: list[_ShowRequest] = []
        self._calls: list[Callable[[], None]] = []
        self._in_flight: list[_ShowRequest] = []
        self._backlog: list[DisplayEvent] = []
        self._focused_once = False
        self._paused_by_focus = False
        self._ending = False
        self._frame_count = 0
        self._dead = False

    # ---- main thread ---------------------------------------------------------------------
    def open(self) -> None:
        """Start panda3d on GLX and the OpenXR instance; :class:`HeadsetError` if no runtime."""
        from panda3d.core import (
            AsyncTaskManager,
            FrameBufferProperties,
            GraphicsEngine,
            GraphicsPipe,
            GraphicsPipeSelection,
            WindowProperties,
        )

        from mirrorvr.render.display import configure_panda

        configure_panda()
        # OpenXR's OpenGL binding on Linux is Xlib/GLX: pandagl, not the EGL offscreen module
        pipe = GraphicsPipeSelection.get_global_ptr().make_module_pipe("pandagl")
        if pipe is None or not pipe.is_valid():
            raise HeadsetError(
                "cannot open OpenGL on the X display (panda3d pandagl): the OpenXR display "
                "needs an X server with GLX (DISPLAY; Xvfb with Mesa works)"
            )
        self.engine = GraphicsEngine(pipe)
        fb = FrameBufferProperties()
        fb.set_rgba_bits(8, 8, 8, 8)
        fb.set_depth_bits(24)
        # a tiny offscreen output whose GL context renders the eye buffers
        self.host = self.engine.make_output(
            pipe, "xr-host", -20, fb, WindowProperties.size(16, 16), GraphicsPipe.BF_refuse_window
        )
        if self.host is None:
            raise HeadsetError("panda3d could not create an OpenGL context on the X display")
        self.tasks = AsyncTaskManager("mirrorvr-headset")
        self.scene = self.scene_factory()
        self.display = OpenXRDisplay(
            self.engine, pipe, self.host, self.tasks, self.scene.root, on_event=self._on_event
        )
        try:
            self.display.open()
        except BaseException:
            self._destroy_engine()
            raise
        self.display.frame_listeners.append(self._on_frame)
        for name, fn, sort in (
            ("xr-session", self._session_task, SORT_SESSION),
            ("xr-scene", self._scene_task, SORT_SCENE),
            ("xr-render", self._render_task, SORT_RENDER),
        ):
            self.add_task(name, fn, sort)
        assert SORT_INPUT < SORT_SESSION < SORT_SCENE < SORT_RENDER

    def add_task(self, name: str, fn: Callable[[], None], sort: int) -> None:
        """Run ``fn()`` every frame at ``sort`` (see the slots in :mod:`openxr_display`)."""
        from panda3d.core import AsyncTask, PythonTask

        def run(_task: Any) -> int:
            fn()
            return int(AsyncTask.DS_cont)

        task = PythonTask(run, name)
        task.set_sort(sort)
        self.tasks.add(task)

    def step(self) -> None:
        """Run one frame (paced by the runtime's xrWaitFrame once its session runs)."""
        self.tasks.poll()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Run frames until the headset session is focused (the patient sees us)."""
        assert self.display is not None
        deadline = time.monotonic() + timeout_s
        while self.display.state != "focused":
            if self.display.exiting:
                raise HeadsetError(
                    f"the OpenXR session ended while starting ({self.display.state})"
                )
            if time.monotonic() > deadline:
                raise HeadsetError(
                    f"the headset did not become ready within {timeout_s:.0f} s (state "
                    f"{self.display.state}): is it on and worn, and is the runtime's app in front?"
                )
            self.step()

    def serve(self, until: threading.Event) -> None:
        """Run frames until ``until`` is set or the presenter closes the display."""
        assert self.display is not None
        while not until.is_set() and not self.closing.is_set():
            self.step()
            if self.display.exiting:
                self._fail_pending()
                # keep the thread responsive without a session to pace it
                until.wait(0.01)

    def close(self) -> None:
        """End the OpenXR session and panda3d."""
        self._fail_pending()
        if self.display is not None:
            self.display.close()
            self.display = None
        self._destroy_engine()

    def _destroy_engine(self) -> None:
        if self.tasks is not None:
            self.tasks.remove(self.tasks.get_tasks())
            self.tasks = None
        if self.engine is not None:
            self.engine.remove_all_windows()
            self.engine = None
            self.host = None

    def _frame_time(self) -> float:
        frame = self.display.frame if self.display is not None else None
        return frame.display_time if frame is not None else _lsl_now()

    def _session_task(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            calls, self._calls = self._calls, []
        t = self._frame_time()
        for fn in calls:
            fn()
        if self.display is not None and self.display.presses:
            presses, self.display.presses = self.display.presses, []
            self.scene.on_actions([ACTIONS[p] for p in presses if p in ACTIONS], t)
        for req in pending:
            self.scene.show(req.step, t)
        with self._lock:
            self._in_flight.extend(pending)

    def _scene_task(self) -> None:
        if self.display is not None:
            self.scene.update(self.display.tracking, self._frame_time())

    def _render_task(self) -> None:
        self.engine.render_frame()

    def _on_frame(self, frame: FrameInfo) -> None:
        with self._lock:
            if self.keep_frames:
                self.frames.append(frame)
            self._frame_count += 1
            if frame.rendered:
                for req in self._in_flight:
                    req.frame = frame
                    req.done.set()
                self._in_flight.clear()
            self._frame_cv.notify_all()

    def _fail_pending(self) -> None:
        with self._lock:
            self._dead = True
            for req in (*self._pending, *self._in_flight):
                req.done.set()
            self._pending.clear()
            self._in_flight.clear()
            self._frame_cv.notify_all()

    # ---- headset events → session --------------------------------------------------------
    def attach_runner(self, runner: SessionRunner) -> None:
        """Route headset events to ``runner`` (and log the ones seen before it existed)."""
        with self._lock:
            self.runner = runner
            backlog, self._backlog = self._backlog, []
        for ev in backlog:
            self._log(ev)

    def _log(self, ev: DisplayEvent) -> None:
        if self.runner is not None:
            self.runner.log.append("display", ev.t, what=ev.what, **ev.detail)

    def detach_runner(self) -> None:
        """Stop routing events: the session is over (its log is about to close)."""
        with self._lock:
            self.runner = None
            self._backlog.clear()
            self.closing.set()

    def _on_event(self, ev: DisplayEvent) -> None:
        if ev.what == "state" and ev.detail.get("state") == "focused":
            self._focused_once = True
        # under the lock: the session may be ending on its own thread (detach_runner)
        with self._lock:
            if self.runner is None:
                if not self.closing.is_set():
                    self._backlog.append(ev)
                return
            self._log(ev)
            self._react(self.runner, ev)

    def _react(self, runner: SessionRunner, ev: DisplayEvent) -> None:
        p = self.policy
        state = ev.detail.get("state", "")
        if self._ending:
            return  # the session is being ended: later transitions change nothing
        if ev.what == "state":
            if state in ("stopping", "exiting", "loss_pending", "instance_loss_pending"):
                self._ending = True
                runner.abort(f"the headset's OpenXR session ended ({state})")
            elif state in ("visible", "synchronized", "idle") and self._focused_once:
                self._apply(runner, p.on_focus_lost, f"headset focus lost ({state})")
                self._paused_by_focus = p.on_focus_lost == "pause"
            elif state == "focused" and self._paused_by_focus and p.resume_on_focus:
                self._paused_by_focus = False
                runner.resume()
        elif ev.what == "tracking_lost":
            self._apply(runner, p.on_tracking_lost, "headset tracking lost")
            self._paused_by_focus = False
        elif ev.what == "estop_button":
            self._apply(
                runner, p.on_menu_button, f"{ev.detail.get('side', '')} controller menu button"
            )
            self._paused_by_focus = False

    @staticmethod
    def _apply(runner: SessionRunner, reaction: Reaction, cause: str) -> None:
        if reaction == "estop":
            runner.estop(cause)
        elif reaction == "pause":
            runner.pause(cause)

    # ---- any thread ----------------------------------------------------------------------
    def show(self, step: Step, timeout_s: float | None = None) -> FrameInfo | None:
        """Hand ``step`` to the loop; the first submitted frame showing it (None if the
        headset session ended first)."""
        req = _ShowRequest(step)
        with self._lock:
            if self._dead:
                return None
            self._pending.append(req)
        req.done.wait(timeout_s)
        return req.frame

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop's thread in the next frame's session slot (scene changes)."""
        with self._lock:
            self._calls.append(fn)

    def wait_frames(self, n: int = 1, timeout_s: float = 5.0) -> bool:
        """Wait until ``n`` more frames were submitted; False on timeout or when ended."""
        with self._lock:
            target = self._frame_count + n
            return (
                self._frame_cv.wait_for(
                    lambda: self._frame_count >= target or self._dead, timeout_s
                )
                and not self._dead
            )


class OpenXRPresenter:
    """The :class:`~mirrorvr.session.presenter.Presenter` of a headset session.

    With a real-time clock a step's onset is the predicted display time of the first frame
    that shows it; with the simulated clock (``mirrorvr sim --fast``) frames are still real but
    the session's time is simulated, so the onset is the simulated time at which it was shown.
    Answers: in simulation the simulated patient answers; otherwise the patient answers in the
    scene with the controllers (:data:`ACTIONS`), stamped with the frame's display time.
    """

    #: how often a wait for the patient's answer looks at the scene
    POLL_S = 0.01

    def __init__(
        self, loop: HeadsetLoop, clock: Clock, patient: SimulatedPatient, *, simulated: bool = True
    ) -> None:
        self.loop = loop
        self.clock = clock
        self.patient = patient
        self.simulated = simulated

    def present(self, step: Step) -> float:
        """Show ``step``; its onset (see the class docstring)."""
        frame = self.loop.show(step)
        if frame is not None and self.clock.realtime:
            return frame.display_time
        return self.clock.now()

    def _answer(self, value: int | str, rt: float, deadline: float) -> Answer | None:
        t = self.clock.now() + rt
        if t > deadline:
            self.idle(deadline)
            return None
        self.idle(t)
        return Answer(value, t)

    def _scene_answer(self, deadline: float) -> Answer | None:
        scene = self.loop.scene
        while True:
            ans = scene.answer
            if ans is not None:
                return Answer(ans.value, ans.t) if ans.t <= deadline else None
            if self.clock.now() >= deadline or self.loop.closing.is_set():
                self.loop.call(scene.expire)
                return None
            self.clock.sleep_until(min(deadline, self.clock.now() + self.POLL_S))

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """The patient's 0–10 rating (or ``None`` at the deadline)."""
        if not self.simulated:
            return self._scene_answer(deadline)
        value, rt = self.patient.pain_rating(str(step.data.get("timepoint", "")))
        return self._answer(value, rt, deadline)

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """The patient's left/right judgement (or ``None`` at the deadline)."""
        if not self.simulated:
            return self._scene_answer(deadline)
        side, rt = self.patient.laterality_answer(
            str(step.data["side"]), int(step.data["angle_deg"])
        )
        return self._answer(side, rt, deadline)

    def idle(self, until: float) -> None:
        """Frames keep flowing on the loop's thread; in simulated time, let one through."""
        if not self.clock.realtime:
            self.loop.wait_frames(1)
        self.clock.sleep_until(until)

    def close(self) -> None:
        """Tell the loop the session is over (it then ends the OpenXR session)."""
        self.loop.detach_runner()


def run_headset_session(
    plan: Any,
    opts: Any,
    scene_factory: Callable[[], HeadsetScene],
    *,
    policy: HeadsetPolicy | None = None,
    on_loop: Callable[[HeadsetLoop], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Run ``plan`` with ``opts`` (:class:`~mirrorvr.session.launch.LaunchOptions`) in the
    headset: the loop on this thread, the session on a worker thread."""
    from mirrorvr.session.launch import run_session

    loop = HeadsetLoop(scene_factory, policy or HeadsetPolicy())
    loop.open()
    if on_loop is not None:
        on_loop(loop)
    outcome: dict[str, Any] = {}
    finished = threading.Event()
    user_on_runner = opts.on_runner

    def on_runner(runner: SessionRunner) -> None:
        loop.attach_runner(runner)
        if user_on_runner is not None:
            user_on_runner(runner)

    opts.on_runner = on_runner
    opts.presenter_factory = lambda clock, patient: OpenXRPresenter(
        loop, clock, patient, simulated=opts.simulated
    )

    def work() -> None:
        try:
            outcome["result"] = run_session(plan, opts)
        except BaseException as e:  # re-raised on the main thread below
            outcome["error"] = e
        finally:
            finished.set()

    try:
        loop.wait_ready()
        worker = threading.Thread(target=work, name="mirrorvr-session", daemon=True)
        worker.start()
        loop.serve(finished)
        # the session may still be finishing (summary) after the presenter closed
        while not finished.wait(0.01):
            if loop.display is not None and not loop.display.exiting:
                loop.step()
        worker.join()
    finally:
        loop.close()
    if "error" in outcome:
        err = outcome["error"]
        if isinstance(err, MirrorVRError):
            raise err
        raise err
    result: tuple[Any, dict[str, Any]] = outcome["result"]
    return result

"""The headset's frame loop: panda3d, the scene and the OpenXR display on one thread.

:class:`HeadsetLoop` runs one frame per :meth:`~HeadsetLoop.step` in panda3d's task order
(OpenXR frame begin −1000, input −40, session logic 0, scene update 40, render 50, OpenXR frame
end 1000; see :mod:`mirrorvr.render.openxr_display`). Other threads hand it steps to show
(:meth:`~HeadsetLoop.request_show`) and scene calls; it knows nothing of sessions — headset
events go to :attr:`~HeadsetLoop.on_event` (the session side applies its safety policy).

When the plan names another pose source (``devices.tracking = "lsl"`` or ``"replay"``), the
loop polls it for each frame's display time and the limbs come from it, not from the runtime's
hand tracking or controllers (which still give buttons); a :class:`TrackingWatch` turns a source
that loses the intact limb into ``pose_lost`` / ``pose_regained`` events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mirrorvr.render.openxr_display import (
    SORT_INPUT,
    DisplayEvent,
    FrameInfo,
    HeadsetError,
    OpenXRDisplay,
    _lsl_now,
)
from mirrorvr.render.xr_scene import HeadsetScene
from mirrorvr.session.timeline import Step
from mirrorvr.tracking.controller_leg import with_foot_controllers
from mirrorvr.tracking.pose import TrackingFrame
from mirrorvr.tracking.source import PoseSource
from mirrorvr.tracking.watch import TrackingWatch

#: session logic slot: after input (-40), before the scene update and rendering (50)
SORT_SESSION = 0
#: the scene follows the tracked limbs just before rendering
SORT_SCENE = 40
#: the render slot (panda3d's own igLoop sort)
SORT_RENDER = 50
#: how long the loop waits for the headset to become ready before giving up
READY_TIMEOUT_S = 20.0

#: controller buttons → scene actions: select on the left/right controller moves the rating
#: slider or answers "left"/"right"; squeeze (grip) confirms
ACTIONS: dict[tuple[str, str], str] = {
    ("left", "select"): "left",
    ("right", "select"): "right",
    ("left", "squeeze"): "confirm",
    ("right", "squeeze"): "confirm",
}


class ShowRequest:
    """A step handed to the loop; ``frame`` is the first submitted frame that showed it."""

    def __init__(self, step: Step) -> None:
        self.step = step
        self.frame: FrameInfo | None = None
        self.done = threading.Event()


@dataclass
class HeadsetLoop:
    """Owns panda3d, the scene and the OpenXR display on the thread that steps it."""

    scene_factory: Callable[[], HeadsetScene]
    on_event: Callable[[DisplayEvent], None] = lambda ev: None
    engine: Any = None
    host: Any = None
    tasks: Any = None
    scene: Any = None
    display: OpenXRDisplay | None = None
    frames: list[FrameInfo] = field(default_factory=list)
    keep_frames: bool = False
    #: the plan's pose source when it is not the headset's own tracking (LSL, replay)
    source: PoseSource | None = None
    #: its name for events (``devices.tracking``)
    source_kind: str = ""
    #: how long without the intact limb counts as lost (``[tracking] lost_after_s``)
    lost_after_s: float = 0.5
    #: the controllers are strapped to the feet (``[tracking] controllers = "feet"``)
    controllers_on_feet: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[ShowRequest] = []
        self._calls: list[Callable[[], None]] = []
        self._in_flight: list[ShowRequest] = []
        self.frame_count = 0
        self._dead = False
        self.watch = TrackingWatch(self.lost_after_s) if self.source is not None else None

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
            self.engine, pipe, self.host, self.tasks, self.scene.root, on_event=self._forward
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
        if self.display is not None and self.display.exiting:
            self._fail_pending()  # nothing will be shown any more: release the waiters

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

    def close(self) -> None:
        """End the OpenXR session and panda3d."""
        self._fail_pending()
        if self.display is not None:
            self.display.close()
            self.display = None
        self._destroy_engine()
        if self.source is not None:
            self.source.close()
            self.source = None

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
        if self.display is None:
            return
        t = self._frame_time()
        if self.source is None:
            frame = self.display.tracking
            if self.controllers_on_feet and frame is not None:
                frame = with_foot_controllers(frame)
            self.scene.update(frame, t)
            return
        self.scene.update(limbs_from_source(self.source.poll(t), self.display.tracking, t), t)
        assert self.watch is not None
        change = self.watch.update(t, self.scene.hands[0] is not None)
        if change is not None:
            self._forward(DisplayEvent(f"pose_{change}", t, {"source": self.source_kind}))

    def _render_task(self) -> None:
        self.engine.render_frame()

    def _on_frame(self, frame: FrameInfo) -> None:
        with self._lock:
            if self.keep_frames:
                self.frames.append(frame)
            self.frame_count += 1
            if frame.rendered:
                for req in self._in_flight:
                    req.frame = frame
                    req.done.set()
                self._in_flight.clear()

    def _fail_pending(self) -> None:
        with self._lock:
            self._dead = True
            for req in (*self._pending, *self._in_flight):
                req.done.set()
            self._pending.clear()
            self._in_flight.clear()

    def _forward(self, ev: DisplayEvent) -> None:
        self.on_event(ev)

    # ---- any thread ----------------------------------------------------------------------
    def request_show(self, step: Step) -> ShowRequest:
        """Hand ``step`` to the loop; the request completes with the first submitted frame
        showing it (with ``frame`` None if the headset session ended first)."""
        req = ShowRequest(step)
        with self._lock:
            if self._dead:
                req.done.set()
            else:
                self._pending.append(req)
        return req

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop's thread in the next frame's session slot (scene changes)."""
        with self._lock:
            self._calls.append(fn)

    @property
    def ended(self) -> bool:
        """The headset session is over (stopped by the runtime or closed)."""
        return self._dead or (self.display is not None and self.display.exiting)


def limbs_from_source(
    source: TrackingFrame, headset: TrackingFrame | None, t: float
) -> TrackingFrame:
    """The frame the scene mirrors when the plan names another pose source (pure): hands and
    legs from ``source`` only — no controller fallback, so a source that loses the limb shows
    none and counts as lost — and the head from the headset."""
    head = headset.head if headset is not None else None
    return TrackingFrame(t=t, hands=source.hands, legs=source.legs, head=head)

"""The OpenXR side of the headset display: types, the instance, session, swapchains and
the runtime's events (the rest of :class:`~mirrorvr.render.openxr_display.OpenXRDisplay`)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mirrorvr.errors import DeviceError
from mirrorvr.tracking.joints import Side
from mirrorvr.tracking.pose import Pose, TrackingFrame

#: sort values of our tasks (see the module docstring)
SORT_FRAME_BEGIN = -1000
#: body trackers with roles (feet, knees): what poses the legs of a lower-limb session
_VIVE_TRACKERS = "XR_HTCX_vive_tracker_interaction"
SORT_INPUT = -40
SORT_FRAME_END = 1000

#: how long to sleep per loop iteration while no session is running (xrWaitFrame paces it
#: otherwise)
IDLE_THROTTLE_S = 0.01

NO_RUNTIME_HELP = (
    "no OpenXR runtime is available. Start your headset's runtime (SteamVR, Monado, Meta "
    "Quest Link) and make it the active OpenXR runtime, or point XR_RUNTIME_JSON at a runtime "
    "manifest; `mirrorvr sim --display openxr` uses mirrorvr's simulated headset "
    "(see docs/openxr.md)"
)


class HeadsetError(DeviceError):
    """The OpenXR runtime is missing, refused us, or lost the session."""


@dataclass(frozen=True)
class DisplayEvent:
    """Something the headset did that the session must react to (see the presenter's policy).

    ``what``: ``state`` (session state changed: ``detail['state']``), ``tracking_lost``,
    ``tracking_regained``, ``input`` (input mode chosen: ``detail['mode']``), ``estop_button``.
    """

    what: str
    t: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class FrameInfo:
    """One OpenXR frame as the display saw it."""

    index: int
    display_time_xr: int
    display_time: float  # LSL seconds
    period: float
    should_render: bool
    tracked: bool = True
    rendered: bool = False
    submitted_at: float = 0.0  # LSL time xrEndFrame returned
    cpu_s: float = 0.0  # CPU time in our tasks this frame (outside panda3d's rendering)
    #: thread CPU clock at the frame's start, less the time blocked in xrWaitFrame (so
    #: ``thread_time() - cpu_start`` is the CPU the frame took, rendering included)
    cpu_start: float = 0.0


@dataclass
class _Eye:
    index: int
    buffer: Any
    camera: Any
    lens: Any
    swapchain: Any = None
    images: list[int] = field(default_factory=list)
    width: int = 0
    height: int = 0
    layer_view: Any = None
    acquired: bool = False
    released: bool = False


def _require_xr() -> Any:
    try:
        import xr
    except ImportError as e:  # pragma: no cover - pyopenxr is a core dependency
        raise HeadsetError(f"pyopenxr is not installed ({e}): pip install pyopenxr") from None
    return xr


class OpenXRSession:
    """Instance, session, swapchains and lifecycle events of an OpenXR headset display."""

    def __init__(
        self,
        engine: Any,
        pipe: Any,
        host: Any,
        tasks: Any,
        scene: Any,
        *,
        on_event: Callable[[DisplayEvent], None] | None = None,
        near: float = 0.05,
        far: float = 50.0,
        app_name: str = "mirrorvr",
    ) -> None:
        self.engine, self.pipe, self.host, self.tasks = engine, pipe, host, tasks
        self.scene = scene
        self.on_event = on_event or (lambda e: None)
        self.near, self.far, self.app_name = near, far, app_name
        self.xr = _require_xr()
        self.instance: Any = None
        self.system_id: Any = None
        self.session: Any = None
        self.space: Any = None
        self.state = "unknown"
        self.running = False
        self.exiting = False
        self.hand_tracking = False
        self.input_mode = "none"
        self.frame: FrameInfo | None = None
        self.frames_submitted = 0
        self.tracking: TrackingFrame | None = None
        #: the head of the frame being drawn (midpoint of the eyes, world frame), None untracked
        self.head: Pose | None = None
        self.eyes: list[_Eye] = []
        self.frame_listeners: list[Callable[[FrameInfo], None]] = []
        self.runtime_name = ""
        self._tracked = True
        self._hand_trackers: dict[Side, Any] = {}
        self._joint_buffers: dict[Side, Any] = {}
        self._locate_joints: Any = None
        self._to_timespec: Any = None
        self._actions: dict[str, Any] = {}
        self._action_set: Any = None
        self._action_spaces: dict[Side, Any] = {}
        self._hand_paths: dict[Side, Any] = {}
        self._down: dict[Side, set[str]] = {"left": set(), "right": set()}
        #: ``XR_HTCX_vive_tracker_interaction``: foot and knee trackers pose the legs
        self.trackers = False
        self._tracker_paths: dict[str, Any] = {}
        self._tracker_spaces: dict[str, Any] = {}
        #: (side, button) presses of select/squeeze since the scene last took them
        self.presses: list[tuple[Side, str]] = []
        self._fbo = 0
        self._tasks: list[Any] = []
        self._cpu_mark = 0.0

    # ---- setup ---------------------------------------------------------------------------
    def _available_extensions(self) -> set[str]:
        xr = self.xr
        try:
            return {e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()}
        except xr.XrException as e:
            raise HeadsetError(f"{NO_RUNTIME_HELP} ({e})") from None

    def _proc(self, name: str, proto: Any) -> Any:
        xr = self.xr
        return ctypes.cast(xr.get_instance_proc_addr(self.instance, name), proto)

    def _system_supports_hands(self) -> bool:
        xr = self.xr
        hand_props = xr.SystemHandTrackingPropertiesEXT()
        props = xr.SystemProperties(next=hand_props)
        result = xr.raw_functions.xrGetSystemProperties(
            self.instance, self.system_id, ctypes.byref(props)
        )
        return result >= 0 and bool(hand_props.supports_hand_tracking)

    # ---- events and lifecycle ------------------------------------------------------------
    def _emit(self, what: str, **detail: Any) -> None:
        t = self.frame.display_time if self.frame else _lsl_now()
        self.on_event(DisplayEvent(what, t, detail))

    def poll_events(self) -> None:
        """Handle every queued runtime event (session state changes, instance loss)."""
        xr = self.xr
        while True:
            try:
                buf = xr.poll_event(self.instance)
            except xr.EventUnavailable:
                return
            kind = xr.StructureType(buf.type)
            if kind == xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED:
                ev = ctypes.cast(
                    ctypes.byref(buf), ctypes.POINTER(xr.EventDataSessionStateChanged)
                ).contents
                self._on_state(xr.SessionState(ev.state))
            elif kind == xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING:
                self._emit("state", state="instance_loss_pending")
                self.exiting = True

    def _on_state(self, state: Any) -> None:
        xr = self.xr
        self.state = state.name.lower()
        if state == xr.SessionState.READY:
            xr.begin_session(
                self.session,
                xr.SessionBeginInfo(
                    primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO
                ),
            )
            self.running = True
        elif state == xr.SessionState.STOPPING:
            xr.end_session(self.session)
            self.running = False
        elif state in (xr.SessionState.EXITING, xr.SessionState.LOSS_PENDING):
            self.running = False
            self.exiting = True
        self._emit("state", state=self.state)

    def request_exit(self) -> None:
        """Ask the runtime to end the session (it answers with STOPPING, then EXITING)."""
        if self.session is not None and self.running:
            try:
                self.xr.request_exit_session(self.session)
            except self.xr.XrException:
                self.exiting = True
        else:
            self.exiting = True


def current_glx_handles() -> Any:
    """GLX handles of the current context (see :mod:`mirrorvr.render.xr_glx`)."""
    from mirrorvr.render.xr_glx import current_glx

    return current_glx()


def _quietly(fn: Callable[[Any], Any], handle: Any) -> None:
    try:
        fn(handle)
    except Exception:  # teardown: a runtime that already dropped the handle is fine
        pass


def _lsl_now() -> float:
    from mirrorvr.session.clock import local_clock

    return local_clock()


#: memory layout of ``XrHandJointLocationEXT``: flags, pose (quaternion xyzw, position), radius
JOINT_DTYPE = np.dtype(
    [("flags", "<u8"), ("q", "<f4", 4), ("p", "<f4", 3), ("radius", "<f4")], align=False
)

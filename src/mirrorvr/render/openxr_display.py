"""OpenXR headset display: the panda3d scene rendered per eye into an OpenXR runtime.

One :class:`OpenXRDisplay` owns the OpenXR instance, session, swapchains and input, and adds
three tasks to a panda3d task manager in the slots the design fixes (the render task at 50
belongs to the caller, :class:`~mirrorvr.render.openxr_presenter.HeadsetLoop`):

=========  ============================  ==================================================
sort       task                          what it does
=========  ============================  ==================================================
-1000      ``xr-frame-begin``            poll runtime events (session lifecycle), then
                                         ``xrWaitFrame`` (paces the loop) + ``xrBeginFrame``,
                                         locate the views, place the eye cameras
-40        ``xr-input``                  hand joints (``XR_EXT_hand_tracking``) or controller
                                         grip/aim poses and buttons (actions)
(50)       render (``render_frame``)     renders each eye buffer; its draw callback copies the
                                         image into the acquired swapchain image
1000       ``xr-frame-end``              ``xrEndFrame`` with the projection layer
=========  ============================  ==================================================

The frame's predicted display time, converted to the LSL clock with
``XR_KHR_convert_timespec_time``, is what a cue shown in that frame gets as its onset.

Everything here runs on the thread that owns panda3d; other threads talk to it through the
presenter (:mod:`mirrorvr.render.openxr_presenter`).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from panda3d.core import LPoint3f, LQuaternionf

from mirrorvr.errors import DeviceError
from mirrorvr.render.xr_frames import (
    film_from_fov,
    position_to_world,
    quat_to_world,
    xr_time_to_lsl,
)
from mirrorvr.tracking.joints import JOINT_COUNT, SIDES, Side
from mirrorvr.tracking.pose import ControllerPose, HandPose, Pose, TrackingFrame
from mirrorvr.tracking.tracker_leg import ROLES as TRACKER_ROLES
from mirrorvr.tracking.tracker_leg import legs_from_trackers

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


class OpenXRDisplay:
    """Renders ``scene`` to an OpenXR headset through panda3d (GLX) and reads its inputs.

    Parameters
    ----------
    engine, pipe, host:
        A panda3d graphics engine on the ``pandagl`` (GLX) pipe and an output of it whose GSG
        (GL context) renders the eye buffers.
    tasks:
        The ``AsyncTaskManager`` the frame runs in (no ShowBase, no builtins).
    scene:
        The scene root the eye cameras look at (world frame: z up, y forward).
    on_event:
        Called (on the panda3d thread) for lifecycle, tracking and button events.
    """

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
    def open(self) -> None:
        """Create the instance and eye buffers and add the frame tasks; the session follows
        on the first draw (it needs panda3d's GL context current)."""
        xr = self.xr
        available = self._available_extensions()
        wanted = [xr.KHR_OPENGL_ENABLE_EXTENSION_NAME, xr.KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME]
        missing = [e for e in wanted if e not in available]
        if missing:
            raise HeadsetError(
                f"the OpenXR runtime lacks {', '.join(missing)}: mirrorvr needs OpenGL "
                "rendering and CLOCK_MONOTONIC time conversion (Linux runtimes: SteamVR, Monado)"
            )
        if xr.EXT_HAND_TRACKING_EXTENSION_NAME in available:
            wanted.append(xr.EXT_HAND_TRACKING_EXTENSION_NAME)
        if _VIVE_TRACKERS in available:
            wanted.append(_VIVE_TRACKERS)
            self.trackers = True
        try:
            self.instance = xr.create_instance(
                xr.InstanceCreateInfo(
                    application_info=xr.ApplicationInfo(
                        application_name=self.app_name,
                        application_version=xr.Version(0, 1, 0),
                        engine_name="panda3d",
                        engine_version=xr.Version(1, 10, 0),
                        api_version=xr.Version(1, 0, 0),
                    ),
                    enabled_extension_names=wanted,
                )
            )
            self.runtime_name = xr.get_instance_properties(self.instance).runtime_name.decode()
            self.system_id = xr.get_system(
                self.instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY)
            )
        except xr.FormFactorUnavailableError:
            raise HeadsetError(
                f"the OpenXR runtime ({self.runtime_name or 'unknown'}) sees no headset: "
                "connect and switch on the headset, then try again"
            ) from None
        except xr.XrException as e:
            raise HeadsetError(f"OpenXR runtime error while starting: {e}") from None
        self.hand_tracking = (
            xr.EXT_HAND_TRACKING_EXTENSION_NAME in wanted and self._system_supports_hands()
        )
        self._to_timespec = self._proc(
            "xrConvertTimeToTimespecTimeKHR",
            ctypes.CFUNCTYPE(
                ctypes.c_int, xr.Instance, ctypes.c_int64, ctypes.POINTER(xr.timespec)
            ),
        )
        # the spec requires asking for the GL requirements before creating a session
        xr.get_opengl_graphics_requirements_khr(self.instance, self.system_id)
        views = xr.enumerate_view_configuration_views(
            self.instance, self.system_id, xr.ViewConfigurationType.PRIMARY_STEREO
        )
        for i, v in enumerate(views):
            self.eyes.append(
                self._make_eye(i, v.recommended_image_rect_width, v.recommended_image_rect_height)
            )
        from panda3d.core import AsyncTask, PythonTask

        for name, fn, sort in (
            ("xr-frame-begin", self._frame_begin, SORT_FRAME_BEGIN),
            ("xr-input", self._input, SORT_INPUT),
            ("xr-frame-end", self._frame_end, SORT_FRAME_END),
        ):

            def run(_task: Any, fn: Callable[[], None] = fn) -> int:
                fn()
                return int(AsyncTask.DS_cont)

            task = PythonTask(run, name)
            task.set_sort(sort)
            self.tasks.add(task)
            self._tasks.append(task)

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

    def _make_eye(self, index: int, width: int, height: int) -> _Eye:
        from panda3d.core import (
            Camera,
            FrameBufferProperties,
            GraphicsPipe,
            NodePath,
            PerspectiveLens,
            PythonCallbackObject,
            WindowProperties,
        )

        fb = FrameBufferProperties()
        fb.set_rgba_bits(8, 8, 8, 8)
        fb.set_depth_bits(24)
        buffer = self.engine.make_output(
            self.pipe,
            f"xr-eye-{index}",
            -10 + index,
            fb,
            WindowProperties.size(width, height),
            GraphicsPipe.BF_refuse_window,
            self.host.get_gsg(),
            self.host,
        )
        if buffer is None:
            raise HeadsetError(f"panda3d could not make a {width}×{height} eye buffer")
        buffer.set_clear_color((0.05, 0.05, 0.08, 1.0))
        buffer.set_clear_color_active(True)
        buffer.set_active(False)  # rendered only in frames the runtime wants
        lens = PerspectiveLens()
        lens.set_near_far(self.near, self.far)
        cam = NodePath(Camera(f"xr-eye-cam-{index}", lens))
        cam.reparent_to(self.scene)
        dr = buffer.make_display_region()
        dr.set_camera(cam)
        eye = _Eye(index, buffer, cam, lens, width=width, height=height)
        dr.set_draw_callback(PythonCallbackObject(lambda cb, e=eye: self._draw_eye(e, cb)))
        return eye

    def _create_session(self) -> None:
        """Create the session and swapchains; called with panda3d's GL context current."""
        from OpenGL import GL, GLX

        xr = self.xr
        glx = current_glx_handles()
        binding = xr.GraphicsBindingOpenGLXlibKHR(
            x_display=ctypes.cast(glx.display, ctypes.POINTER(GLX.Display)),
            visualid=glx.visualid,
            glx_fbconfig=ctypes.cast(glx.fbconfig, GLX.GLXFBConfig),
            glx_drawable=glx.drawable,
            glx_context=ctypes.cast(glx.context, GLX.GLXContext),
        )
        try:
            self.session = xr.create_session(
                self.instance,
                xr.SessionCreateInfo(system_id=self.system_id, next=binding),
            )
            spaces = set(xr.enumerate_reference_spaces(self.session))
            kind = (
                xr.ReferenceSpaceType.STAGE
                if xr.ReferenceSpaceType.STAGE in spaces
                else xr.ReferenceSpaceType.LOCAL
            )
            self.space = xr.create_reference_space(
                self.session,
                xr.ReferenceSpaceCreateInfo(
                    reference_space_type=kind, pose_in_reference_space=xr.Posef()
                ),
            )
            formats = list(xr.enumerate_swapchain_formats(self.session))
            # plain RGBA8 first: panda3d writes display-ready values, which sRGB would re-encode
            fmt = next((f for f in (GL.GL_RGBA8, GL.GL_SRGB8_ALPHA8) if f in formats), formats[0])
            for eye in self.eyes:
                eye.swapchain = xr.create_swapchain(
                    self.session,
                    xr.SwapchainCreateInfo(
                        usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT
                        | xr.SwapchainUsageFlags.TRANSFER_DST_BIT,
                        format=fmt,
                        sample_count=1,
                        width=eye.width,
                        height=eye.height,
                        face_count=1,
                        array_size=1,
                        mip_count=1,
                    ),
                )
                eye.images = [
                    int(img.image)
                    for img in xr.enumerate_swapchain_images(
                        eye.swapchain, xr.SwapchainImageOpenGLKHR
                    )
                ]
            self._fbo = int(GL.glGenFramebuffers(1))
            self._prepare_frame_structs()
            self._setup_input()
        except xr.XrException as e:
            raise HeadsetError(f"the OpenXR runtime refused the session: {e}") from None

    def _prepare_frame_structs(self) -> None:
        """Structures every frame fills in (allocated once)."""
        xr = self.xr
        self._view_info = xr.ViewLocateInfo(
            view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO, space=self.space
        )
        self._view_state = xr.ViewState()
        self._views = (xr.View * len(self.eyes))(*[xr.View() for _ in self.eyes])
        self._need_view_flags = int(
            xr.ViewStateFlags.POSITION_VALID_BIT | xr.ViewStateFlags.ORIENTATION_VALID_BIT
        )
        for eye in self.eyes:
            eye.lens.set_focal_length(1.0)
            lv = xr.CompositionLayerProjectionView()
            lv.sub_image.swapchain = eye.swapchain
            lv.sub_image.image_rect.offset[:] = [0, 0]
            lv.sub_image.image_rect.extent[:] = [eye.width, eye.height]
            eye.layer_view = lv

    # ---- input setup ---------------------------------------------------------------------
    def _setup_input(self) -> None:
        xr = self.xr
        if self.hand_tracking:
            try:
                for side in SIDES:
                    self._hand_trackers[side] = xr.create_hand_tracker_ext(
                        self.session,
                        xr.HandTrackerCreateInfoEXT(
                            hand=xr.HandEXT.LEFT if side == "left" else xr.HandEXT.RIGHT
                        ),
                    )
                    self._joint_buffers[side] = (xr.HandJointLocationEXT * JOINT_COUNT)()
                self._locate_joints = self._proc(
                    "xrLocateHandJointsEXT", xr.PFN_xrLocateHandJointsEXT
                )
            except xr.XrException:
                self._hand_trackers.clear()
                self.hand_tracking = False
        self._setup_actions()
        self.input_mode = "hands" if self.hand_tracking else "controllers"
        self._emit("input", mode=self.input_mode)

    def _setup_actions(self) -> None:
        """Controller grip/aim poses and select/menu buttons on the common profiles."""
        xr = self.xr
        inst = self.instance
        self._hand_paths = {s: xr.string_to_path(inst, f"/user/hand/{s}") for s in SIDES}
        subpaths = list(self._hand_paths.values())
        self._action_set = xr.create_action_set(
            inst,
            xr.ActionSetCreateInfo(
                action_set_name="mirrorvr", localized_action_set_name="mirrorvr", priority=0
            ),
        )
        for name, kind in (
            ("grip", xr.ActionType.POSE_INPUT),
            ("aim", xr.ActionType.POSE_INPUT),
            ("select", xr.ActionType.BOOLEAN_INPUT),
            ("squeeze", xr.ActionType.BOOLEAN_INPUT),
            ("menu", xr.ActionType.BOOLEAN_INPUT),
        ):
            self._actions[name] = xr.create_action(
                self._action_set,
                xr.ActionCreateInfo(
                    action_name=name,
                    action_type=kind,
                    subaction_paths=subpaths,
                    localized_action_name=name,
                ),
            )
        profiles = {
            "/interaction_profiles/khr/simple_controller": {
                "select": "select/click",
                "menu": "menu/click",
            },
            "/interaction_profiles/oculus/touch_controller": {
                "select": "trigger/value",
                "squeeze": "squeeze/value",
            },
            "/interaction_profiles/valve/index_controller": {
                "select": "trigger/click",
                "squeeze": "squeeze/value",
            },
            "/interaction_profiles/htc/vive_controller": {
                "select": "trigger/click",
                "squeeze": "squeeze/click",
                "menu": "menu/click",
            },
        }
        for profile, buttons in profiles.items():
            bindings = []
            for side in SIDES:
                for name, source in (("grip", "grip/pose"), ("aim", "aim/pose"), *buttons.items()):
                    path = xr.string_to_path(inst, f"/user/hand/{side}/input/{source}")
                    bindings.append(xr.ActionSuggestedBinding(self._actions[name], path))
            try:
                xr.suggest_interaction_profile_bindings(
                    inst,
                    xr.InteractionProfileSuggestedBinding(
                        interaction_profile=xr.string_to_path(inst, profile),
                        suggested_bindings=bindings,
                    ),
                )
            except xr.XrException:
                pass  # a runtime may not know every profile; the others still bind
        if self.trackers:
            self._setup_trackers()
        xr.attach_session_action_sets(
            self.session, xr.SessionActionSetsAttachInfo(action_sets=[self._action_set])
        )
        for side in SIDES:
            self._action_spaces[side] = xr.create_action_space(
                self.session,
                xr.ActionSpaceCreateInfo(
                    action=self._actions["grip"], subaction_path=self._hand_paths[side]
                ),
            )
        for role, path in self._tracker_paths.items():
            self._tracker_spaces[role] = xr.create_action_space(
                self.session,
                xr.ActionSpaceCreateInfo(action=self._actions["tracker"], subaction_path=path),
            )

    def _setup_trackers(self) -> None:
        """A pose action on the foot and knee tracker roles (before the set is attached)."""
        xr = self.xr
        inst = self.instance
        self._tracker_paths = {
            role: xr.string_to_path(inst, f"/user/vive_tracker_htcx/role/{role}")
            for role in TRACKER_ROLES
        }
        self._actions["tracker"] = xr.create_action(
            self._action_set,
            xr.ActionCreateInfo(
                action_name="tracker",
                action_type=xr.ActionType.POSE_INPUT,
                subaction_paths=list(self._tracker_paths.values()),
                localized_action_name="tracker",
            ),
        )
        bindings = [
            xr.ActionSuggestedBinding(
                self._actions["tracker"],
                xr.string_to_path(inst, f"/user/vive_tracker_htcx/role/{role}/input/grip/pose"),
            )
            for role in TRACKER_ROLES
        ]
        try:
            xr.suggest_interaction_profile_bindings(
                inst,
                xr.InteractionProfileSuggestedBinding(
                    interaction_profile=xr.string_to_path(
                        inst, "/interaction_profiles/htc/vive_tracker_htcx"
                    ),
                    suggested_bindings=bindings,
                ),
            )
        except xr.XrException:
            self._tracker_paths.clear()  # the runtime refused: no trackers, the rest works

    def _read_trackers(self, frame: FrameInfo) -> dict[str, Pose]:
        xr = self.xr
        poses: dict[str, Pose] = {}
        for role, sub in self._tracker_paths.items():
            state = xr.get_action_state_pose(
                self.session, xr.ActionStateGetInfo(self._actions["tracker"], sub)
            )
            if not state.is_active:
                continue
            loc = xr.locate_space(self._tracker_spaces[role], self.space, frame.display_time_xr)
            p, q = loc.pose.position, loc.pose.orientation
            poses[role] = Pose(
                position_to_world(np.array([p.x, p.y, p.z])),
                quat_to_world(np.array([q.w, q.x, q.y, q.z])),
                flags=int(loc.location_flags),
            )
        return poses

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

    # ---- per-frame tasks -----------------------------------------------------------------
    def _frame_begin(self) -> None:
        self._cpu_mark = time.thread_time()
        cpu = 0.0
        if self.session is None:
            # first frame: render one eye so its draw callback can create the session
            self.eyes[0].buffer.set_active(True)
            self.frame = None
            return
        self.poll_events()
        if not self.running:
            for eye in self.eyes:
                eye.buffer.set_active(False)
            self.frame = None
            time.sleep(IDLE_THROTTLE_S)
            return
        xr = self.xr
        cpu += time.thread_time() - self._cpu_mark
        state = xr.wait_frame(self.session)  # blocks until the runtime wants the next frame
        self._cpu_mark = time.thread_time()
        xr.begin_frame(self.session)
        frame = FrameInfo(
            index=self.frames_submitted,
            display_time_xr=int(state.predicted_display_time),
            display_time=self.to_lsl(int(state.predicted_display_time)),
            period=state.predicted_display_period * 1e-9,
            should_render=bool(state.should_render),
            cpu_start=self._cpu_mark - cpu,
        )
        if frame.should_render:
            frame.tracked = self._place_cameras(frame)
        render = frame.should_render and frame.tracked
        for eye in self.eyes:
            eye.buffer.set_active(render)
            eye.acquired = eye.released = False
        self.frame = frame
        frame.cpu_s = cpu + time.thread_time() - self._cpu_mark
        return

    def to_lsl(self, xr_time: int) -> float:
        """An ``XrTime`` on the LSL clock (``XR_KHR_convert_timespec_time``)."""
        ts = self.xr.timespec()
        result = self._to_timespec(self.instance, xr_time, ctypes.byref(ts))
        if result < 0:
            raise HeadsetError(f"the OpenXR runtime could not convert time {xr_time} ({result})")
        return xr_time_to_lsl(int(ts.tv_sec), int(ts.tv_nsec))

    def _place_cameras(self, frame: FrameInfo) -> bool:
        """Locate both views for the frame's display time and place the eye cameras.

        Runs every frame, so it reuses its structures: one ``xrLocateViews`` call into a
        preallocated array, layer views updated in place, plain arithmetic for two poses.
        """
        xr = self.xr
        info = self._view_info
        info.display_time = frame.display_time_xr
        n = ctypes.c_uint32(0)
        result = xr.raw_functions.xrLocateViews(
            self.session,
            ctypes.byref(info),
            ctypes.byref(self._view_state),
            len(self._views),
            ctypes.byref(n),
            self._views,
        )
        if result < 0 or n.value != len(self.eyes):
            raise HeadsetError(f"the OpenXR runtime could not locate the views ({result})")
        flags = int(self._view_state.view_state_flags)
        tracked = (flags & self._need_view_flags) == self._need_view_flags
        if tracked != self._tracked:
            self._tracked = tracked
            self._emit("tracking_lost" if not tracked else "tracking_regained")
        if not tracked:
            return False
        for eye, view in zip(self.eyes, self._views, strict=True):
            p, q, fov = view.pose.position, view.pose.orientation, view.fov
            # OpenXR (y up, -z forward) → world (z up, y forward): see xr_frames
            eye.camera.set_pos_quat(LPoint3f(p.x, -p.z, p.y), LQuaternionf(q.w, q.x, -q.z, q.y))
            size, offset = film_from_fov(
                fov.angle_left, fov.angle_right, fov.angle_up, fov.angle_down
            )
            eye.lens.set_film_size(*size)
            eye.lens.set_film_offset(*offset)
            eye.layer_view.pose = view.pose
            eye.layer_view.fov = fov
        return True

    def _input(self) -> None:
        frame = self.frame
        if frame is None or self.session is None:
            return
        mark = time.thread_time()
        try:
            self.tracking = self._read_input(frame)
        except self.xr.XrException:
            self.tracking = TrackingFrame(t=frame.display_time)
        frame.cpu_s += time.thread_time() - mark
        return

    def _read_input(self, frame: FrameInfo) -> TrackingFrame:
        xr = self.xr
        hands: dict[Side, HandPose] = {}
        controllers: dict[Side, ControllerPose] = {}
        if self._hand_trackers:
            info = xr.HandJointsLocateInfoEXT(base_space=self.space, time=frame.display_time_xr)
            for side, tracker in self._hand_trackers.items():
                buf = self._joint_buffers[side]
                locs = xr.HandJointLocationsEXT(joint_count=JOINT_COUNT, joint_locations=buf)
                if self._locate_joints(tracker, ctypes.byref(info), ctypes.byref(locs)) < 0:
                    continue
                hands[side] = _hand_from_buffer(side, frame.display_time, bool(locs.is_active), buf)
        if self._action_set is not None and self.state == "focused":
            xr.sync_actions(
                self.session,
                xr.ActionsSyncInfo(active_action_sets=[xr.ActiveActionSet(self._action_set, 0)]),
            )
            for side in SIDES:
                sub = self._hand_paths[side]
                pose_state = xr.get_action_state_pose(
                    self.session, xr.ActionStateGetInfo(self._actions["grip"], sub)
                )
                if not pose_state.is_active:
                    continue
                loc = xr.locate_space(self._action_spaces[side], self.space, frame.display_time_xr)
                p, q = loc.pose.position, loc.pose.orientation
                grip = Pose(
                    position_to_world(np.array([p.x, p.y, p.z])),
                    quat_to_world(np.array([q.w, q.x, q.y, q.z])),
                    flags=int(loc.location_flags),
                )
                pressed = set()
                for name in ("select", "squeeze", "menu"):
                    st = xr.get_action_state_boolean(
                        self.session, xr.ActionStateGetInfo(self._actions[name], sub)
                    )
                    if st.is_active and st.current_state:
                        pressed.add(name)
                for name in pressed - self._down[side]:  # rising edges only
                    if name == "menu":
                        self._emit("estop_button", side=side, button="menu")
                    else:
                        self.presses.append((side, name))
                self._down[side] = pressed
                controllers[side] = ControllerPose(
                    side=side,
                    t=frame.display_time,
                    grip=grip,
                    trigger=1.0 if "select" in pressed else 0.0,
                    squeeze=1.0 if "squeeze" in pressed else 0.0,
                    buttons=frozenset(pressed),
                )
            if self._tracker_paths:
                legs = legs_from_trackers(self._read_trackers(frame), frame.display_time)
                return TrackingFrame(
                    t=frame.display_time, hands=hands, controllers=controllers, legs=legs
                )
        return TrackingFrame(t=frame.display_time, hands=hands, controllers=controllers)

    def _draw_eye(self, eye: _Eye, cbdata: Any) -> None:
        """Draw callback of an eye buffer (GL context current): render, then copy to the
        swapchain image the runtime lends us for this frame."""
        if self.session is None:
            cbdata.upcall()
            self._create_session()
            eye.buffer.set_active(False)
            return
        cbdata.upcall()
        frame = self.frame
        if frame is None or not frame.should_render or eye.swapchain is None:
            return
        from OpenGL import GL

        xr = self.xr
        index = xr.acquire_swapchain_image(eye.swapchain, xr.SwapchainImageAcquireInfo())
        eye.acquired = True
        xr.wait_swapchain_image(
            eye.swapchain, xr.SwapchainImageWaitInfo(timeout=xr.INFINITE_DURATION)
        )
        src = GL.glGetIntegerv(GL.GL_DRAW_FRAMEBUFFER_BINDING)
        read = GL.glGetIntegerv(GL.GL_READ_FRAMEBUFFER_BINDING)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, src)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(
            GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, eye.images[index], 0
        )
        GL.glBlitFramebuffer(
            0,
            0,
            eye.width,
            eye.height,
            0,
            0,
            eye.width,
            eye.height,
            GL.GL_COLOR_BUFFER_BIT,
            GL.GL_NEAREST,
        )
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, src)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, read)
        xr.release_swapchain_image(eye.swapchain, xr.SwapchainImageReleaseInfo())
        eye.released = True

    def _frame_end(self) -> None:
        frame = self.frame
        if frame is None:
            return
        mark = time.thread_time()
        xr = self.xr
        layers = []
        frame.rendered = all(e.released for e in self.eyes)
        if frame.rendered:
            projection = xr.CompositionLayerProjection(
                space=self.space, views=[e.layer_view for e in self.eyes]
            )
            layers.append(ctypes.byref(projection))
        xr.end_frame(
            self.session,
            xr.FrameEndInfo(
                display_time=frame.display_time_xr,
                environment_blend_mode=xr.EnvironmentBlendMode.OPAQUE,
                layers=layers,
            ),
        )
        frame.submitted_at = _lsl_now()
        self.frames_submitted += 1
        for eye in self.eyes:
            eye.buffer.set_active(False)
        frame.cpu_s += time.thread_time() - mark
        for listener in self.frame_listeners:
            listener(frame)
        return

    # ---- teardown ------------------------------------------------------------------------
    def close(self, timeout_s: float = 3.0) -> None:
        """End the session politely (wait for the runtime's EXITING), then free everything."""
        xr = self.xr
        if self.session is not None and self.running and not self.exiting:
            self.request_exit()
            deadline = time.monotonic() + timeout_s
            while self.running and not self.exiting and time.monotonic() < deadline:
                self.tasks.poll()  # our tasks and the caller's render task
        for task in self._tasks:
            self.tasks.remove(task)
        self._tasks.clear()
        for tracker in self._hand_trackers.values():
            _quietly(xr.destroy_hand_tracker_ext, tracker)
        self._hand_trackers.clear()
        for eye in self.eyes:
            if eye.swapchain is not None:
                _quietly(xr.destroy_swapchain, eye.swapchain)
            self.engine.remove_window(eye.buffer)
        self.eyes.clear()
        for space in (*self._action_spaces.values(), *self._tracker_spaces.values(), self.space):
            if space is not None:
                _quietly(xr.destroy_space, space)
        self._action_spaces.clear()
        self._tracker_spaces.clear()
        self.space = None
        if self._action_set is not None:
            _quietly(xr.destroy_action_set, self._action_set)
            self._action_set = None
        if self.session is not None:
            _quietly(xr.destroy_session, self.session)
            self.session = None
        if self.instance is not None:
            _quietly(xr.destroy_instance, self.instance)
            self.instance = None


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


def _hand_from_buffer(side: Side, t: float, active: bool, buf: Any) -> HandPose:
    """26 located joints (OpenXR frame) as a world-frame :class:`HandPose`.

    Reads the ctypes array through a numpy view of its memory: one vectorised conversion
    instead of 26 × 4 ctypes field accesses per hand per frame.
    """
    if ctypes.sizeof(buf) != JOINT_DTYPE.itemsize * JOINT_COUNT:
        raise HeadsetError("unexpected XrHandJointLocationEXT layout in this pyopenxr version")
    rec = np.frombuffer(buf, dtype=JOINT_DTYPE, count=JOINT_COUNT)
    q = rec["q"].astype(np.float64)
    return HandPose(
        side=side,
        t=t,
        positions=position_to_world(rec["p"].astype(np.float64)),
        orientations=quat_to_world(np.concatenate([q[:, 3:], q[:, :3]], axis=1)),
        radii=rec["radius"].astype(np.float64),
        flags=(rec["flags"] & 0xFF).astype(np.uint8),
        active=active,
    )

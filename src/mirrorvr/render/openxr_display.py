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
from typing import Any

import numpy as np
from panda3d.core import LPoint3f, LQuaternionf

from mirrorvr.render.openxr_input import OpenXRInput
from mirrorvr.render.openxr_session import (
    _VIVE_TRACKERS,
    IDLE_THROTTLE_S,
    NO_RUNTIME_HELP,
    SORT_FRAME_BEGIN,
    SORT_FRAME_END,
    SORT_INPUT,
    DisplayEvent,
    FrameInfo,
    HeadsetError,
    _Eye,
    _lsl_now,
    _quietly,
    current_glx_handles,
)
from mirrorvr.render.xr_frames import (
    film_from_fov,
    xr_time_to_lsl,
)
from mirrorvr.tracking.pose import Pose

__all__ = [
    "NO_RUNTIME_HELP",
    "SORT_FRAME_BEGIN",
    "SORT_FRAME_END",
    "SORT_INPUT",
    "DisplayEvent",
    "FrameInfo",
    "HeadsetError",
    "OpenXRDisplay",
    "current_glx_handles",
]


class OpenXRDisplay(OpenXRInput):
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
            self.head = None
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
        # the head (for the midline hold): between the eyes, looking as the first eye does
        a, b = (v.pose.position for v in self._views[:2])
        q = self._views[0].pose.orientation
        self.head = Pose(
            np.array([(a.x + b.x) / 2, -(a.z + b.z) / 2, (a.y + b.y) / 2]),
            np.array([q.w, q.x, -q.z, q.y]),
        )
        return True

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

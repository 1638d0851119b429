"""Per-frame LSL streams from the process that renders: tracked and mirrored hand, frame timing.

Every frame pushes ``mirrorvr-frames`` and, when the intact hand (or controller) was tracked,
``mirrorvr-pose-tracked`` (the intact hand as the scene used it, after smoothing) and
``mirrorvr-pose-mirrored`` (the hand drawn on the amputated side), all stamped with the frame's
display time on the LSL clock (``local_clock()`` seconds: every display process runs on the
same CLOCK_MONOTONIC). Poses are converted from the world frame (z up) to OpenXR stage space
(y up, ``docs/streams.md``) here, at the edge.

One :class:`FrameStreams` serves every display mode; what feeds it differs:

* the window/offscreen display process (:mod:`mirrorvr.render.display_process`) calls
  :meth:`FrameStreams.publish` after each rendered frame, with the simulated patient's hand;
* the OpenXR headset loop adds a :class:`HeadsetFramePublisher` to its display's frame
  listeners: one frame sample per submitted frame (``xrEndFrame``) at its predicted display
  time, poses from ``XR_EXT_hand_tracking`` joints, or from the intact-side controller's grip
  pose when the runtime has no hand tracking (``desc/setup/source`` says which).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mirrorvr.render.frame import FrameInfo
from mirrorvr.streams.layout import HAND_JOINTS
from mirrorvr.streams.outlets import FrameTimingOutlet, PoseOutlet
from mirrorvr.tracking.joints import Side, other_side
from mirrorvr.tracking.leg_skeleton import LegJoint
from mirrorvr.tracking.mirror import MidlinePlane, reflect_pose
from mirrorvr.tracking.pose import LimbPose, Pose, TrackingFrame

if TYPE_CHECKING:
    from mirrorvr.render import openxr_display

#: ``desc/setup/source`` of the pose streams: where the tracked pose came from
SOURCE_SIMULATED = "simulated_hand"
SOURCE_HAND_TRACKING = "openxr_hand_tracking"
SOURCE_CONTROLLER_GRIP = "openxr_controller_grip"
#: a lower-limb session in the headset: legs posed from foot/knee trackers
SOURCE_TRACKERS = "openxr_trackers"
#: the joints of a leg pose stream (:class:`~mirrorvr.tracking.leg_skeleton.LegJoint` order)
LEG_JOINTS = tuple(j.name.lower() for j in LegJoint)
#: the one "joint" of a pose stream fed by a controller
GRIP_JOINTS = ("grip",)
#: the plan's own pose source fed the headset (``devices.tracking`` → ``desc/setup/source``)
SOURCE_PLAN = {"lsl": "lsl_pose_stream", "replay": "replay_file"}

AnyPose = LimbPose | Pose


def missed_intervals(duration: float, fps: float) -> int:
    """Refresh intervals skipped in a ``duration`` s gap between frames paced at ``fps`` (pure)."""
    if not (duration > 0 and fps > 0):
        return 0
    # half an interval of slack: a frame a little late is late, not a whole frame missed
    return max(0, math.floor(duration * fps + 0.5) - 1)


#: world → stage (``xr_frames.position_to_xr``, ``quat_to_xr``) on a row of position x y z
#: and quaternion w x y z, as one permutation and sign: three numpy calls per pose per frame
#: (per-call overhead dominates on arrays this small; a test checks it against xr_frames)
_STAGE_COLUMNS = [0, 2, 1, 3, 4, 6, 5]
_STAGE_SIGNS = np.array([1.0, 1.0, -1.0, 1.0, 1.0, 1.0, -1.0])


def stage_joints(pose: AnyPose) -> NDArray[np.float64]:
    """A hand or rigid pose in stage space as ``(joints, 7)`` rows: position, quaternion wxyz."""
    if isinstance(pose, LimbPose):
        rows = np.concatenate((pose.positions, pose.orientations), axis=1)
    else:
        rows = np.concatenate((pose.position, pose.orientation))[None, :]
    return rows[:, _STAGE_COLUMNS] * _STAGE_SIGNS


def controller_poses(
    tracking: TrackingFrame | None, intact: Side, plane: MidlinePlane
) -> tuple[Pose | None, Pose | None]:
    """(intact-side grip pose, its reflection across the midline), or ``(None, None)`` when
    that controller is not tracked in ``tracking`` (pure)."""
    ctl = tracking.controllers.get(intact) if tracking is not None else None
    if ctl is None or not ctl.grip.valid:
        return None, None
    return ctl.grip, reflect_pose(plane, ctl.grip)


class FrameStreams:
    """The three per-frame outlets, with source ids ``mirrorvr-<session>-<kind>``.

    ``source`` and ``joints`` describe what feeds the pose streams: hand joints
    (:data:`~mirrorvr.streams.layout.HAND_JOINTS`) or one controller grip
    (:data:`GRIP_JOINTS`).
    """

    def __init__(
        self,
        session: str,
        intact: Side,
        amputated: Side,
        fps: float,
        *,
        source: str = SOURCE_SIMULATED,
        joints: Sequence[str] = HAND_JOINTS,
    ) -> None:
        self.fps = fps
        self.source = source
        self.tracked = PoseOutlet("tracked", session, side=intact, joints=joints, source=source)
        self.mirrored = PoseOutlet(
            "mirrored", session, side=amputated, joints=joints, source=source
        )
        self.timing = FrameTimingOutlet(session, refresh_hz=fps)
        self._last_shown: float | None = None
        self.pushed = 0

    @property
    def names(self) -> list[str]:
        """LSL names of the outlets."""
        return [self.tracked.spec.name, self.mirrored.spec.name, self.timing.spec.name]

    def publish(
        self,
        frame: FrameInfo,
        intact: LimbPose | None,
        mirrored: LimbPose | None,
        render_cpu: float = float("nan"),
    ) -> None:
        """Push a rendered frame of the window/offscreen loop (``frame.shown`` stamped)."""
        if frame.shown is not None:
            self.push(frame.index, frame.shown, intact, mirrored, render_cpu)

    def push(
        self,
        index: int,
        t: float,
        intact: AnyPose | None,
        mirrored: AnyPose | None,
        render_cpu: float = float("nan"),
    ) -> None:
        """Push frame ``index`` displayed at LSL time ``t`` and the poses it showed (both, or
        neither: a frame without a tracked intact hand has a timing sample only)."""
        duration = math.nan if self._last_shown is None else t - self._last_shown
        missed = 0 if self._last_shown is None else missed_intervals(duration, self.fps)
        self._last_shown = t
        if intact is not None and mirrored is not None:
            self.tracked.push_joints(t, stage_joints(intact))
            self.mirrored.push_joints(t, stage_joints(mirrored))
        self.timing.push(index, t, duration, missed, render_cpu)
        self.pushed += 1

    def close(self) -> None:
        """Destroy the outlets."""
        for o in (self.tracked, self.mirrored, self.timing):
            o.close()


class HeadsetFramePublisher:
    """A frame listener of :class:`~mirrorvr.render.openxr_display.OpenXRDisplay` that pushes
    every submitted frame to :class:`FrameStreams` (on the headset loop's thread).

    ``scene`` is the headset scene (its ``hands`` are the intact and mirrored hand of the frame
    just rendered; its ``plane`` reflects a controller's grip). The time spent here is added to
    the frame's ``cpu_s`` (CPU outside rendering, the frame-loop benchmark's figure).
    """

    def __init__(
        self,
        streams: FrameStreams,
        display: openxr_display.OpenXRDisplay,
        scene: Any,
        intact: Side,
    ) -> None:
        self.streams = streams
        self.display = display
        self.scene = scene
        self.intact = intact
        self.controllers = streams.source == SOURCE_CONTROLLER_GRIP

    @staticmethod
    def for_display(
        session: str,
        display: openxr_display.OpenXRDisplay,
        scene: Any,
        intact: Side,
        plan_source: str | None = None,
    ) -> HeadsetFramePublisher:
        """Open the streams for ``display``'s input mode and nominal refresh rate (a
        lower-limb scene publishes its legs; ``plan_source``: the plan's ``lsl`` or ``replay``
        source feeds the limbs instead of the headset's own input)."""
        hands = display.input_mode == "hands"
        legs = getattr(getattr(scene, "scene", None), "limb", "upper") == "lower"
        period = display.frame.period if display.frame is not None else 0.0
        if plan_source is not None:
            source = SOURCE_PLAN.get(plan_source, plan_source)
            joints = LEG_JOINTS if legs else HAND_JOINTS
        elif legs:
            source, joints = SOURCE_TRACKERS, LEG_JOINTS
        elif hands:
            source, joints = SOURCE_HAND_TRACKING, HAND_JOINTS
        else:
            source, joints = SOURCE_CONTROLLER_GRIP, GRIP_JOINTS
        streams = FrameStreams(
            session,
            intact,
            other_side(intact),
            1.0 / period if period > 0 else 0.0,
            source=source,
            joints=joints,
        )
        return HeadsetFramePublisher(streams, display, scene, intact)

    def __call__(self, frame: openxr_display.FrameInfo) -> None:
        """Publish one headset frame's poses and timing."""
        mark = time.thread_time()
        tracked: AnyPose | None = None
        mirrored: AnyPose | None = None
        if frame.rendered:  # poses of frames the patient saw (a frame without layers shows none)
            if self.controllers:
                tracked, mirrored = controller_poses(
                    self.display.tracking, self.intact, self.scene.plane
                )
            else:
                tracked, mirrored = self.scene.hands
        self.streams.push(
            frame.index, frame.display_time, tracked, mirrored, mark - frame.cpu_start
        )
        frame.cpu_s += time.thread_time() - mark

    def close(self) -> None:
        """Stop publishing and destroy the outlets."""
        if self in self.display.frame_listeners:
            self.display.frame_listeners.remove(self)
        self.streams.close()

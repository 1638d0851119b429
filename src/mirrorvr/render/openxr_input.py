"""Headset input: hand joints (XR_EXT_hand_tracking) or controllers, read each frame
(part of :class:`~mirrorvr.render.openxr_display.OpenXRDisplay`)."""

from __future__ import annotations

import ctypes
import time
from dataclasses import replace
from typing import Any

import numpy as np

from mirrorvr.render.openxr_session import (
    JOINT_DTYPE,
    FrameInfo,
    HeadsetError,
    OpenXRSession,
)
from mirrorvr.render.xr_frames import (
    position_to_world,
    quat_to_world,
)
from mirrorvr.tracking.joints import JOINT_COUNT, SIDES, Side
from mirrorvr.tracking.pose import ControllerPose, HandPose, Pose, TrackingFrame
from mirrorvr.tracking.tracker_leg import ROLES as TRACKER_ROLES
from mirrorvr.tracking.tracker_leg import legs_from_trackers


class OpenXRInput(OpenXRSession):
    """Hands and controllers of the headset display."""

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

    def _input(self) -> None:
        frame = self.frame
        if frame is None or self.session is None:
            return
        mark = time.thread_time()
        try:
            tracking = self._read_input(frame)
        except self.xr.XrException:
            tracking = TrackingFrame(t=frame.display_time)
        self.tracking = replace(tracking, head=self.head) if self.head is not None else tracking
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

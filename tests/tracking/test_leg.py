"""The leg skeleton, lower-limb movements and mirroring legs (pure)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mirrorvr.tracking import quat
from mirrorvr.tracking.leg_motion import LEG_MOVEMENTS
from mirrorvr.tracking.leg_skeleton import (
    LEG_BONES,
    LEG_JOINT_COUNT,
    LEG_PARENTS,
    LEG_REST_POSITIONS,
    LegJoint,
    LegParams,
    leg_local,
    leg_pose,
)
from mirrorvr.tracking.mirror import MidlinePlane, reflect_hand
from mirrorvr.tracking.pipeline import MirrorPipeline
from mirrorvr.tracking.synthetic import SyntheticSource


def test_rest_pose_is_the_documented_seated_leg() -> None:
    leg = leg_pose("right", LegParams())
    assert np.allclose(leg.positions, LEG_REST_POSITIONS)
    assert len(LEG_PARENTS) == LEG_JOINT_COUNT == 6
    # joint frames: +y along each bone towards the distal joint, +z anterior / dorsal (the
    # ankle's +y runs along the sole, not down the ankle → ball line)
    for a, b in (LEG_BONES[0], LEG_BONES[1], LEG_BONES[3]):
        d = leg.positions[b] - leg.positions[a]
        y = quat.rotate(leg.orientations[a], np.array([0.0, 1.0, 0.0]))
        assert float(y @ d / np.linalg.norm(d)) > 0.99, (a, b)
    shank_front = quat.rotate(leg.orientations[LegJoint.KNEE], np.array([0.0, 0.0, 1.0]))
    foot_top = quat.rotate(leg.orientations[LegJoint.ANKLE], np.array([0.0, 0.0, 1.0]))
    assert shank_front[1] > 0.8 and foot_top[2] > 0.99  # the shank leans forward at rest


def test_bone_lengths_do_not_change_with_posture() -> None:
    rest, _ = leg_local(LegParams())
    p = LegParams(knee_ext=1.0, dorsiflexion=-0.6, inversion=0.3, toe_flex=0.5)
    moved, _ = leg_local(p)
    for a, b in LEG_BONES:
        assert math.isclose(
            np.linalg.norm(rest[b] - rest[a]), np.linalg.norm(moved[b] - moved[a]), rel_tol=1e-9
        )


def test_dorsiflexion_lifts_the_toes_and_knee_extension_lifts_the_foot() -> None:
    rest = leg_pose("right", LegParams()).positions
    up = leg_pose("right", LegParams(dorsiflexion=math.radians(20))).positions
    assert up[LegJoint.TOE_TIP, 2] > rest[LegJoint.TOE_TIP, 2] + 0.04
    assert np.allclose(up[LegJoint.ANKLE], rest[LegJoint.ANKLE])
    ext = leg_pose("right", LegParams(knee_ext=math.radians(50))).positions
    assert ext[LegJoint.ANKLE, 2] > rest[LegJoint.ANKLE, 2] + 0.2
    curl = leg_pose("right", LegParams(toe_flex=math.radians(35))).positions
    assert curl[LegJoint.TOE_TIP, 2] < rest[LegJoint.TOE_TIP, 2]


@pytest.mark.parametrize("movement", LEG_MOVEMENTS)
def test_every_leg_movement_moves_the_foot_and_returns_to_rest(movement: str) -> None:
    src = SyntheticSource("left", seed=1, noise=False, limb="lower")
    rest = src.poll(0.0).legs["left"].positions
    assert rest[LegJoint.ANKLE, 0] < 0  # the left leg is on the left
    src.perform(movement, 1.0, 6.0)
    travel = max(
        float(np.abs(src.poll(1.0 + k * 0.1).legs["left"].positions - rest).max())
        for k in range(60)
    )
    assert travel > 0.02, f"{movement} hardly moves the foot"
    assert np.allclose(src.poll(7.5).legs["left"].positions, rest)


def test_mirrored_left_leg_is_the_right_leg() -> None:
    p = LegParams(knee_ext=0.4, dorsiflexion=0.2, inversion=0.25, toe_flex=0.3)
    left, right = leg_pose("left", p), leg_pose("right", p)
    mirrored = reflect_hand(left, MidlinePlane.sagittal())
    assert mirrored.side == "right"
    assert np.allclose(mirrored.positions, right.positions)
    assert np.allclose(np.abs(np.sum(mirrored.orientations * right.orientations, axis=1)), 1.0)


def test_offset_midline_moves_the_mirrored_leg() -> None:
    frame = SyntheticSource("right", noise=False, limb="lower").poll(0.0)
    at0 = MirrorPipeline("right", smoothing=False, limb="lower").process(frame)[1]
    at5 = MirrorPipeline(
        "right", plane=MidlinePlane.sagittal(0.05), smoothing=False, limb="lower"
    ).process(frame)[1]
    assert at0 is not None and at5 is not None and at0.side == "left"
    # a midline 5 cm to the right puts the reflection 10 cm further right
    assert np.allclose(at5.positions - at0.positions, [0.10, 0.0, 0.0])
    # the hand pipeline sees no hand in a legs-only frame
    assert MirrorPipeline("right").process(frame) == (None, None)


def test_a_controller_poses_the_hand_that_holds_it() -> None:
    from mirrorvr.tracking.controller_hand import hand_from_controller
    from mirrorvr.tracking.joints import Joint
    from mirrorvr.tracking.mirror import handedness
    from mirrorvr.tracking.pose import ControllerPose, Pose, TrackingFrame

    grip = Pose(np.array([0.2, 0.35, 0.82]))
    loose = hand_from_controller(ControllerPose("right", 0.0, grip))
    fist = hand_from_controller(ControllerPose("right", 0.0, grip, trigger=1.0, squeeze=1.0))
    assert loose is not None and fist is not None and handedness(loose) == 1
    # held out for a handshake: fingers forward, back of the hand to the right, palm at the grip
    assert np.linalg.norm(loose.positions[Joint.PALM] - grip.position) < 0.05
    tip = Joint.MIDDLE_TIP
    reach = [
        float(np.linalg.norm(h.positions[tip] - h.positions[Joint.WRIST])) for h in (loose, fist)
    ]
    assert reach[1] < 0.8 * reach[0]  # squeezing closes the hand
    # the left controller gives the mirror image; the pipeline uses it when no hand is tracked
    left_grip = Pose(grip.position * np.array([-1.0, 1.0, 1.0]))
    left = hand_from_controller(ControllerPose("left", 0.0, left_grip))
    assert left is not None and handedness(left) == -1
    assert np.allclose(left.positions * [-1.0, 1.0, 1.0], loose.positions)
    frame = TrackingFrame(t=0.0, controllers={"right": ControllerPose("right", 0.0, grip)})
    intact, mirrored = MirrorPipeline("right", smoothing=False).process(frame)
    assert intact is not None and mirrored is not None and handedness(mirrored) == -1


def test_trackers_on_foot_and_knee_give_the_leg() -> None:
    from mirrorvr.tracking.pose import Pose
    from mirrorvr.tracking.tracker_leg import legs_from_trackers

    for side in ("right", "left"):
        leg = leg_pose(side, LegParams(knee_ext=0.3, dorsiflexion=0.2, inversion=0.1))
        foot = Pose(leg.positions[LegJoint.ANKLE], leg.orientations[LegJoint.ANKLE])
        knee = Pose(leg.positions[LegJoint.KNEE])
        got = legs_from_trackers({f"{side}_foot": foot, f"{side}_knee": knee}, 1.0)[side]
        # the tracked and the derived joints of the foot and shank are the leg's own
        for j in (LegJoint.KNEE, LegJoint.ANKLE, LegJoint.HEEL, LegJoint.BALL):
            assert np.allclose(got.positions[j], leg.positions[j], atol=1e-9), (side, j)
        assert np.allclose(np.abs(np.sum(got.orientations[2] * leg.orientations[2])), 1.0)
        # bone lengths are the skeleton's, and the mirror of a left leg is a right leg
        assert math.isclose(
            float(np.linalg.norm(got.positions[0] - got.positions[1])), 0.43, rel_tol=1e-9
        )
    # without a knee tracker the knee sits at its rest place relative to the foot
    rest = leg_pose("right", LegParams())
    foot = Pose(rest.positions[LegJoint.ANKLE], rest.orientations[LegJoint.ANKLE])
    got = legs_from_trackers({"right_foot": foot}, 0.0)["right"]
    assert np.allclose(got.positions[: LegJoint.TOE_TIP + 1], rest.positions, atol=1e-9)


def test_a_controller_strapped_to_the_foot_poses_the_leg() -> None:
    from mirrorvr.tracking.controller_leg import GRIP_TO_ANKLE_M, with_foot_controllers
    from mirrorvr.tracking.pose import ControllerPose, Pose, TrackingFrame

    leg = leg_pose("right", LegParams(dorsiflexion=0.4, inversion=0.1))
    ankle, q = leg.positions[LegJoint.ANKLE], leg.orientations[LegJoint.ANKLE]
    # the controller lies on the instep: the grip is the ankle moved by the mount's offset
    grip = Pose(ankle - quat.rotate(q, GRIP_TO_ANKLE_M), q)
    frame = TrackingFrame(t=2.0, controllers={"right": ControllerPose("right", 2.0, grip)})
    got = with_foot_controllers(frame)
    assert not got.controllers, "a foot's controller must not pose a hand"
    foot = got.legs["right"]
    for j in (LegJoint.ANKLE, LegJoint.HEEL, LegJoint.BALL):
        assert np.allclose(foot.positions[j], leg.positions[j], atol=1e-9), j
    # the foot lifts with the controller; a tracked leg wins over the controller's
    lifted = Pose(grip.position + np.array([0.0, 0.0, 0.05]), q)
    up = with_foot_controllers(
        TrackingFrame(t=2.0, controllers={"right": ControllerPose("right", 2.0, lifted)})
    )
    assert np.isclose(up.legs["right"].positions[LegJoint.ANKLE][2], ankle[2] + 0.05)
    tracked = TrackingFrame(t=2.0, controllers=frame.controllers, legs={"right": leg})
    assert with_foot_controllers(tracked).legs["right"] is leg
    # a controller without a valid pose poses no foot
    lost = Pose(grip.position, q, flags=0)
    assert not with_foot_controllers(
        TrackingFrame(t=2.0, controllers={"right": ControllerPose("right", 2.0, lost)})
    ).legs


def test_the_plans_source_replaces_the_headsets_limbs() -> None:
    from mirrorvr.render.headset_loop import limbs_from_source
    from mirrorvr.tracking.pose import ControllerPose, Pose, TrackingFrame

    leg = leg_pose("right", LegParams())
    head = Pose(np.array([0.0, 0.0, 1.2]))
    grip = Pose(np.zeros(3))
    headset = TrackingFrame(
        t=5.0, controllers={"right": ControllerPose("right", 5.0, grip)}, head=head
    )
    got = limbs_from_source(TrackingFrame(t=4.9, legs={"right": leg}), headset, 5.0)
    assert got.legs == {"right": leg} and got.head is head and got.t == 5.0
    # no controller fallback: a source without the limb shows none (and counts as lost)
    assert not limbs_from_source(TrackingFrame(t=4.9), headset, 5.0).controllers

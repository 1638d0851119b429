"""A hand posed from a controller: where hand tracking is absent, the grip pose places the hand
and the trigger and grip values curl its fingers (pure).

OpenXR's grip pose (``/user/hand/*/input/grip/pose``) sits in the closed hand, around the
controller's handle: −Z along the handle (the way the closed fingers point), +X normal to the
palm — into the palm of the right hand, away from the palm of the left (so +X points to the
user's right for both hands held out, thumbs up), +Y towards the thumb. In mirrorvr's frame
(converted at the display's edge, OpenXR local X, Y, Z → our x, z, −y) that makes a right hand
with the grip at the identity a hand held out for a handshake: fingers forward (+y), back of the
hand to the right (+x), thumb up. A left hand is built as the mirror image of a right hand held
by the mirrored controller, the same reflection the mirror uses.

The trigger (select/value) curls the index finger, the grip (squeeze) the other three fingers
and brings the thumb round: a controller held loosely shows a loosely closed hand, a full squeeze
a fist.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import Joint
from mirrorvr.tracking.mirror import MidlinePlane, reflect_hand, reflect_pose
from mirrorvr.tracking.pose import ControllerPose, HandPose, Pose, hand_from_arrays
from mirrorvr.tracking.skeleton import RADII, HandParams, hand_local

#: the right hand's joint axes (x, y, z as columns) in the grip frame, in mirrorvr's axes
_GRIP_TO_HAND = quat.from_matrix(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]))
#: the palm's centre lies this far towards the back of the hand from the grip (the handle is
#: held in the palm)
PALM_OFFSET_M = 0.035
_SAGITTAL = MidlinePlane.sagittal()


def grip_params(trigger: float, squeeze: float) -> HandParams:
    """Finger posture for a held controller: loosely closed at rest, a fist at full squeeze."""
    t = min(max(trigger, 0.0), 1.0)
    s = min(max(squeeze, 0.0), 1.0)
    wrap = 0.35 + 0.6 * s  # fingers round the handle
    return HandParams(
        curl_index=0.2 + 0.75 * t,
        curl_middle=wrap,
        curl_ring=wrap,
        curl_little=wrap,
        thumb_opposition=0.25 + 0.3 * s,
        thumb_flex=0.2 + 0.6 * s,
    )


def _right_hand(grip: Pose, params: HandParams, t: float) -> HandPose:
    local_p, local_q = hand_local(params)
    wrist_q = quat.normalize(quat.multiply(grip.orientation, _GRIP_TO_HAND))
    palm_world = grip.position + quat.rotate(wrist_q, np.array([0.0, 0.0, PALM_OFFSET_M]))
    wrist_p = palm_world - quat.rotate(wrist_q, local_p[Joint.PALM])
    positions: NDArray[np.float64] = wrist_p + quat.rotate(wrist_q, local_p)
    orientations = quat.normalize(quat.multiply(wrist_q, local_q))
    return hand_from_arrays("right", t, positions, orientations, radii=RADII)


def hand_from_controller(ctl: ControllerPose) -> HandPose | None:
    """The hand holding ``ctl`` (``None`` while its grip pose is not valid)."""
    if not ctl.grip.valid:
        return None
    params = grip_params(ctl.trigger, ctl.squeeze)
    if ctl.side == "right":
        return _right_hand(ctl.grip, params, ctl.t)
    # the left hand: the right hand on the mirrored controller, reflected back
    right = _right_hand(reflect_pose(_SAGITTAL, ctl.grip), params, ctl.t)
    return reflect_hand(right, _SAGITTAL)

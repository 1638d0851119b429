"""Pose → mirror, per frame: pick the intact limb, smooth it, reflect it onto the amputated side.

The limb is the plan's (``upper``: the hand, ``lower``: the leg); both go through the same
filter, reflection and gain. A frame without a tracked intact hand but with that side's
controller poses the hand from the controller (:mod:`mirrorvr.tracking.controller_hand`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mirrorvr.tracking.controller_hand import hand_from_controller
from mirrorvr.tracking.filters import HandFilter
from mirrorvr.tracking.joints import Side, other_side
from mirrorvr.tracking.mirror import MidlinePlane, VisualGain, mirror_hand
from mirrorvr.tracking.pose import LimbKind, LimbPose, TrackingFrame


@dataclass
class MirrorPipeline:
    """The intact limb and its mirror image from each tracking frame."""

    intact_side: Side
    plane: MidlinePlane = field(default_factory=MidlinePlane.sagittal)
    gain: VisualGain | None = None
    smoothing: bool = True
    filter: HandFilter = field(default_factory=HandFilter)
    limb: LimbKind = "upper"

    @property
    def amputated_side(self) -> Side:
        """The side the mirrored hand is drawn on."""
        return other_side(self.intact_side)

    def process(self, frame: TrackingFrame) -> tuple[LimbPose | None, LimbPose | None]:
        """(intact limb, mirrored limb); both ``None`` while the intact limb is not tracked."""
        hand: LimbPose | None = frame.limbs(self.limb).get(self.intact_side)
        if (hand is None or not hand.usable) and self.limb == "upper":
            ctl = frame.controllers.get(self.intact_side)
            if ctl is not None:
                hand = hand_from_controller(ctl)
        if hand is None or not hand.usable:
            self.filter.reset()  # do not smooth across a tracking gap
            return None, None
        if self.smoothing:
            hand = self.filter(hand)
        return hand, mirror_hand(hand, self.plane, self.gain)


def gain_from_settings(
    gain: float, offset: tuple[float, float, float], home: np.ndarray
) -> VisualGain | None:
    """A :class:`VisualGain` from plan settings (``None`` when it changes nothing)."""
    if gain == 1.0 and not any(offset):
        return None
    return VisualGain(gain=gain, offset=np.array(offset, dtype=np.float64), home=home)

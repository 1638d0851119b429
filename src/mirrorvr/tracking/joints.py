"""The OpenXR hand-joint set (``XR_EXT_hand_tracking``): 26 joints per hand, same indices per side.

Joint frames follow one convention on both hands (as in OpenXR): the joint's local +y axis
points along the bone towards the fingertip, +z out of the back of the hand (dorsal), and
+x = y × z. The left hand is therefore the mirror image of the right hand across its local
x = 0 plane — the fact the mirror math relies on.
"""

from __future__ import annotations

import itertools
from enum import IntEnum
from typing import Literal

Side = Literal["left", "right"]
SIDES: tuple[Side, Side] = ("left", "right")
JOINT_COUNT = 26


class Joint(IntEnum):
    """``XrHandJointEXT`` values."""

    PALM = 0
    WRIST = 1
    THUMB_METACARPAL = 2
    THUMB_PROXIMAL = 3
    THUMB_DISTAL = 4
    THUMB_TIP = 5
    INDEX_METACARPAL = 6
    INDEX_PROXIMAL = 7
    INDEX_INTERMEDIATE = 8
    INDEX_DISTAL = 9
    INDEX_TIP = 10
    MIDDLE_METACARPAL = 11
    MIDDLE_PROXIMAL = 12
    MIDDLE_INTERMEDIATE = 13
    MIDDLE_DISTAL = 14
    MIDDLE_TIP = 15
    RING_METACARPAL = 16
    RING_PROXIMAL = 17
    RING_INTERMEDIATE = 18
    RING_DISTAL = 19
    RING_TIP = 20
    LITTLE_METACARPAL = 21
    LITTLE_PROXIMAL = 22
    LITTLE_INTERMEDIATE = 23
    LITTLE_DISTAL = 24
    LITTLE_TIP = 25


FINGERS = ("thumb", "index", "middle", "ring", "little")

#: joints of each finger from its base to its tip
CHAINS: dict[str, tuple[int, ...]] = {
    "thumb": (2, 3, 4, 5),
    "index": (6, 7, 8, 9, 10),
    "middle": (11, 12, 13, 14, 15),
    "ring": (16, 17, 18, 19, 20),
    "little": (21, 22, 23, 24, 25),
}

#: parent of each joint (-1 for the wrist, the root); OpenXR defines no hierarchy, this is ours
PARENTS: tuple[int, ...] = tuple(
    [1, -1] + [p for chain in CHAINS.values() for p in (1, *chain[:-1])]
)

#: (joint, child) pairs that form bones: what the limb model draws a segment for
BONES: tuple[tuple[int, int], ...] = tuple(
    (j, c) for chain in CHAINS.values() for j, c in itertools.pairwise(chain)
) + tuple((1, chain[0]) for chain in CHAINS.values() if chain[0] != 2)

TIPS = tuple(chain[-1] for chain in CHAINS.values())


def other_side(side: Side) -> Side:
    """left ↔ right."""
    return "right" if side == "left" else "left"


def joint_name(j: int) -> str:
    """``index_proximal``-style name of a joint index."""
    return Joint(j).name.lower()

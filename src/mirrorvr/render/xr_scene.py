"""A plain headset scene: cue text, the intact hand's joints and their mirror image.

This is the OpenXR backend's own scene, used until (and wherever) the mirrored-limb scene is
not plugged in: each tracked joint of the intact hand is a small card facing the viewer, and
the same joints reflected across the body's midline are drawn on the missing side in a
distinct colour, so eye images show what the patient would see mirrored.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from mirrorvr.session.timeline import Step
from mirrorvr.tracking.joints import JOINT_COUNT, Side
from mirrorvr.tracking.mirror import MidlinePlane, mirror_hand
from mirrorvr.tracking.pose import TrackingFrame

#: colours (RGBA) of the intact and mirrored joints: far apart so images can tell them apart
INTACT_COLOUR = (0.2, 0.45, 1.0, 1.0)
MIRROR_COLOUR = (1.0, 0.55, 0.1, 1.0)
JOINT_SIZE_M = 0.016


class HeadsetScene(Protocol):
    """What the OpenXR backend needs from a scene."""

    root: Any

    def show(self, step: Step) -> None:
        """Put what ``step`` shows (cue, rest, rating prompt...) into the scene."""
        ...

    def update(self, frame: TrackingFrame | None) -> None:
        """Place the limbs from this frame's tracking (called once per frame)."""
        ...


def cue_text(step: Step) -> str:
    """What the headset says for a step (the text a patient reads)."""
    d = step.data
    kind = step.kind
    if kind == "cue":
        return f"{str(d.get('movement', '')).replace('_', ' ')}".strip() or "get ready"
    if kind == "window":
        return "move now" if d.get("mode", "") != "imagery" else "imagine the movement"
    if kind == "rest":
        return "rest"
    if kind == "rating":
        return "How strong is your pain now? 0 - 10"
    if kind == "laterality_trial":
        return "left or right?"
    return ""


class JointScene:
    """Cue text plus joint markers for the intact hand and its mirror image."""

    def __init__(self, intact_side: Side, plane: MidlinePlane | None = None) -> None:
        from panda3d.core import CardMaker, NodePath, TextNode

        self.intact_side = intact_side
        self.plane = plane or MidlinePlane.sagittal()
        self.root = NodePath("headset-scene")
        cm = CardMaker("table")
        cm.set_frame(-0.6, 0.6, -0.1, 0.5)
        table = self.root.attach_new_node(cm.generate())
        table.set_p(-90)
        table.set_pos(0, 0.2, 0.74)
        table.set_color(0.35, 0.3, 0.25, 1)
        table.set_two_sided(True)
        self.text = TextNode("cue")
        self.text.set_align(TextNode.A_center)
        self.text.set_text_color(1, 1, 1, 1)
        text_np = self.root.attach_new_node(self.text)
        text_np.set_pos(0, 1.4, 1.45)
        text_np.set_scale(0.08)
        self.markers: dict[str, list[Any]] = {}
        for which, colour in (("intact", INTACT_COLOUR), ("mirror", MIRROR_COLOUR)):
            group = self.root.attach_new_node(which)
            nodes = []
            for j in range(JOINT_COUNT):
                card = CardMaker(f"{which}-{j}")
                h = JOINT_SIZE_M / 2
                card.set_frame(-h, h, -h, h)
                node = group.attach_new_node(card.generate())
                node.set_billboard_point_eye()
                node.set_color(*colour)
                node.set_light_off()
                nodes.append(node)
            group.hide()
            self.markers[which] = nodes
        self.showing = ""

    def show(self, step: Step) -> None:
        """Show the step's cue text."""
        self.showing = cue_text(step)
        self.text.set_text(self.showing)

    def update(self, frame: TrackingFrame | None) -> None:
        """Place the intact hand's joints and their reflection (hidden when not tracked)."""
        hand = frame.hands.get(self.intact_side) if frame is not None else None
        groups = {k: v[0].get_parent() for k, v in self.markers.items()}
        if hand is None or not hand.usable:
            for g in groups.values():
                g.hide()
            return
        mirrored = mirror_hand(hand, self.plane)
        for which, pose in (("intact", hand), ("mirror", mirrored)):
            for node, p in zip(self.markers[which], np.asarray(pose.positions), strict=True):
                node.set_pos(float(p[0]), float(p[1]), float(p[2]))
            groups[which].show()

"""Flat, unlit panels floating in the scene: cue text, pain rating slider, progress bar, arrow.

Everything is 3-D geometry in the world (no 2-D overlay), so a headset shows it in both eyes at
a comfortable distance exactly as the preview window does.
"""

from __future__ import annotations

from panda3d.core import CardMaker, NodePath, TextNode

PANEL_POS = (0.0, 0.95, 0.90)  # in front of the patient, above the far edge of the table
EYE = (0.0, 0.0, 1.22)  # the panels turn to face the patient's eyes (no keystone distortion)


def face_the_eye(node: NodePath) -> None:
    """Turn a card-like node (front faces −y) towards the patient's eyes."""
    p = node.get_pos()
    node.look_at(2 * p[0] - EYE[0], 2 * p[1] - EYE[1], 2 * p[2] - EYE[2])


TEXT_RGB = (0.12, 0.16, 0.22)
CUE_RGB = (0.98, 0.93, 0.62)  # warm yellow card: cues stand out from the calm room
PANEL_RGB = (0.95, 0.96, 0.97)
ACCENT = (0.20, 0.45, 0.75)
PAIN_ENDS = ("no pain", "worst pain")


def _card(
    parent: NodePath,
    name: str,
    left: float,
    right: float,
    bottom: float,
    top: float,
    rgb: tuple[float, float, float],
    alpha: float = 1.0,
) -> NodePath:
    cm = CardMaker(name)
    cm.set_frame(left, right, bottom, top)
    card = parent.attach_new_node(cm.generate())
    card.set_color(*rgb, alpha)
    if alpha < 1.0:
        card.set_transparency(True)
    return card


def _text(
    parent: NodePath, name: str, size: float, rgb: tuple[float, float, float] = TEXT_RGB
) -> tuple[NodePath, TextNode]:
    tn = TextNode(name)
    tn.set_align(TextNode.A_center)
    tn.set_text_color(*rgb, 1.0)
    tn.set_wordwrap(22.0)
    np_ = parent.attach_new_node(tn)
    np_.set_scale(size)
    np_.set_y(-0.004)  # just in front of its card
    return np_, tn


class CuePanel:
    """A card with one or two lines of instruction text."""

    def __init__(self, parent: NodePath) -> None:
        self.root = parent.attach_new_node("cue-panel")
        self.root.set_pos(*PANEL_POS)
        face_the_eye(self.root)
        self.root.set_light_off(1)
        self.card = _card(self.root, "cue-card", -0.36, 0.36, -0.09, 0.09, CUE_RGB)
        self.text_np, self.text = _text(self.root, "cue-text", 0.045)
        self.root.hide()
        self.showing = ""

    def show(self, text: str, rgb: tuple[float, float, float] = CUE_RGB) -> None:
        """Show ``text`` on a card of colour ``rgb``."""
        self.text.set_text(text)
        lines = max(1, text.count("\n") + 1)
        self.text_np.set_z(0.012 * lines)
        self.card.set_color(*rgb, 1.0)
        self.root.show()
        self.showing = text

    def hide(self) -> None:
        """Hide the panel."""
        self.root.hide()
        self.showing = ""


class RatingSlider:
    """An 11-point (0–10) numeric rating scale answered with left/right and confirm."""

    def __init__(self, parent: NodePath) -> None:
        self.root = parent.attach_new_node("rating")
        self.root.set_pos(PANEL_POS[0], PANEL_POS[1], PANEL_POS[2] - 0.02)
        face_the_eye(self.root)
        self.root.set_light_off(1)
        _card(self.root, "rating-card", -0.42, 0.42, -0.14, 0.15, PANEL_RGB)
        self.prompt_np, self.prompt = _text(self.root, "rating-prompt", 0.026)
        self.prompt.set_wordwrap(30.0)
        self.prompt_np.set_z(0.10)
        self.x0, self.x1 = -0.34, 0.34
        track = _card(self.root, "rating-track", self.x0, self.x1, -0.006, 0.006, (0.55, 0.6, 0.66))
        track.set_y(-0.002)  # in front of the card (same depth would flicker)
        for v in range(11):
            x = self.x0 + (self.x1 - self.x0) * v / 10
            tick = _card(
                self.root, f"tick-{v}", x - 0.002, x + 0.002, -0.02, 0.02, (0.4, 0.45, 0.5)
            )
            tick.set_y(-0.003)
            tnp, tn = _text(self.root, f"label-{v}", 0.028)
            tn.set_text(str(v))
            tnp.set_pos(x, -0.004, -0.065)
        self.end_labels: list[TextNode] = []
        for label, x in ((PAIN_ENDS[0], self.x0), (PAIN_ENDS[1], self.x1)):
            tnp, tn = _text(self.root, label, 0.018, (0.35, 0.4, 0.45))
            tn.set_text(label)
            tnp.set_pos(x, -0.004, -0.11)
            self.end_labels.append(tn)
        self.knob = _card(self.root, "knob", -0.018, 0.018, -0.03, 0.03, (0.6, 0.63, 0.67))
        self.knob.set_y(-0.008)
        self.value = 5
        self.touched = False
        self.root.hide()

    def open(self, prompt: str, start: int = 5, ends: tuple[str, str] = ("", "")) -> None:
        """Show the scale with ``prompt``; the knob starts at ``start`` (grey until moved).

        ``ends`` label the 0 and 10 ends (default: no pain / worst pain).
        """
        self.prompt.set_text(prompt)
        for tn, label, default in zip(self.end_labels, ends, PAIN_ENDS, strict=True):
            tn.set_text(label or default)
        self.value = start
        self.touched = False
        self._place()
        self.root.show()

    def move(self, delta: int) -> None:
        """Move the knob by ``delta`` points (clamped to 0–10)."""
        self.value = max(0, min(10, self.value + delta))
        self.touched = True
        self._place()

    def _place(self) -> None:
        x = self.x0 + (self.x1 - self.x0) * self.value / 10
        self.knob.set_x(x)
        self.knob.set_color(*(ACCENT if self.touched else (0.6, 0.63, 0.67)), 1.0)

    def close(self) -> None:
        """Hide the scale."""
        self.root.hide()

    @property
    def visible(self) -> bool:
        """Whether the scale is shown."""
        return not self.root.is_hidden()


class ProgressBar:
    """Session progress: a thin bar and a label above the panels."""

    def __init__(self, parent: NodePath) -> None:
        self.root = parent.attach_new_node("progress")
        self.root.set_pos(PANEL_POS[0], PANEL_POS[1] + 0.01, PANEL_POS[2] + 0.12)
        face_the_eye(self.root)
        self.root.set_light_off(1)
        self.w = 0.5
        _card(self.root, "progress-back", -self.w / 2, self.w / 2, -0.006, 0.006, (0.7, 0.74, 0.78))
        self.fill = _card(self.root, "progress-fill", 0.0, 1.0, -0.006, 0.006, ACCENT)
        self.fill.set_y(-0.002)
        self.label_np, self.label = _text(self.root, "progress-label", 0.02, (0.3, 0.35, 0.4))
        self.label_np.set_z(0.016)
        self.set(0.0, "")

    def set(self, fraction: float, label: str) -> None:
        """Fill ``fraction`` (0–1) of the bar and show ``label``."""
        f = max(0.0, min(1.0, fraction))
        self.fill.set_x(-self.w / 2)
        self.fill.set_sx(max(1e-4, f * self.w))
        self.label.set_text(label)


class Arrow:
    """A flat arrow pointing down at a spot on the table (e.g. the mirrored hand)."""

    def __init__(
        self, parent: NodePath, rgb: tuple[float, float, float] = (0.95, 0.55, 0.15)
    ) -> None:
        self.root = parent.attach_new_node("arrow")
        shaft = _card(self.root, "arrow-shaft", -0.012, 0.012, 0.03, 0.11, rgb)
        head = self.root.attach_new_node("arrow-head")
        cm = CardMaker("arrow-head-card")
        cm.set_frame(-0.035, 0.035, -0.035, 0.035)
        tri = head.attach_new_node(cm.generate())
        tri.set_color(*rgb, 1.0)
        tri.set_r(45)
        tri.set_scale(0.8, 1, 0.8)
        head.set_z(0.03)
        shaft.set_two_sided(True)
        tri.set_two_sided(True)
        self.root.set_light_off(1)
        self.root.set_billboard_axis()
        self.root.hide()

    def point_at(self, pos: tuple[float, float, float]) -> None:
        """Show the arrow with its tip just above ``pos``."""
        self.root.set_pos(pos[0], pos[1], pos[2] + 0.05)
        self.root.show()

    def hide(self) -> None:
        """Hide the arrow."""
        self.root.hide()

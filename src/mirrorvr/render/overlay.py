"""The therapist's overlay on the preview window: what the session is doing, on top of the
patient's view.

Flat text in the window's corner, drawn by its own orthographic camera in a display region above
the patient's (a 2-D overlay: the patient never sees it — a headset shows only the scene).
Lines: session state and block, the cue on the card, tracking (source, tracked or lost), the
midline, pulses delivered, and the keys (Esc e-stop, P pause, R resume, C midline). Text nodes
are regenerated only when a line changes.
"""

from __future__ import annotations

from panda3d.core import Camera, NodePath, OrthographicLens, TextNode

from mirrorvr.render.display import Display

KEYS_LINE = "Esc e-stop   P pause   R resume   C midline"


class TherapistOverlay:
    """Text lines over the top-left of ``display`` (above every other region)."""

    def __init__(self, display: Display, lines: int = 6) -> None:
        self.root = NodePath("therapist-overlay")
        self.root.set_depth_test(False)
        self.root.set_depth_write(False)
        cam = Camera("overlay-camera")
        lens = OrthographicLens()
        lens.set_film_size(2.0 * display.aspect, 2.0)
        lens.set_near_far(-10.0, 10.0)
        cam.set_lens(lens)
        self.camera = self.root.attach_new_node(cam)
        region = display.attach_camera(self.camera)
        region.set_sort(20)  # after the patient's view
        region.set_clear_depth_active(True)
        self._texts: list[TextNode] = []
        left, top = -display.aspect + 0.04, 1.0 - 0.07
        for i in range(lines):
            tn = TextNode(f"overlay-line-{i}")
            tn.set_text_color(1.0, 1.0, 1.0, 1.0)
            tn.set_shadow(0.06, 0.06)
            tn.set_shadow_color(0.0, 0.0, 0.0, 0.9)
            tn.set_card_color(0.05, 0.08, 0.12, 0.55)
            tn.set_card_as_margin(0.3, 0.3, 0.15, 0.15)
            np_ = self.root.attach_new_node(tn)
            np_.set_scale(0.055)
            np_.set_pos(left, 0.0, top - 0.075 * i)
            self._texts.append(tn)
        self.shown: list[str] = [""] * lines

    def show(self, lines: list[str]) -> None:
        """Show ``lines`` (fewer than the overlay holds: the rest are blank)."""
        for i, tn in enumerate(self._texts):
            text = lines[i] if i < len(lines) else ""
            if text != self.shown[i]:
                tn.set_text(text)
                self.shown[i] = text

    def hide(self) -> None:
        """Take the overlay off the window."""
        self.root.hide()

"""Keys in: a data graph with a real keyboard (windows) and a virtual one, mapped to actions.

Both feed the same :class:`ButtonThrower`, so a simulated patient's key press travels exactly
the path a person's does: data graph → button events → :class:`KeyInput` → actions. Actions:
``left`` / ``right`` (move the rating slider, answer a laterality trial), ``confirm`` (enter the
rating), and the therapist's session keys: ``estop`` (Esc: emergency stop), ``pause`` (P),
``resume`` (R) — handed to the session runner by the presenter — and ``calibrate`` (C: hold
for the midline calibration again, e.g. while paused).
"""

from __future__ import annotations

from collections.abc import Iterable

from panda3d.core import (
    ButtonRegistry,
    ButtonThrower,
    DataGraphTraverser,
    EventQueue,
    GraphicsWindow,
    MouseAndKeyboard,
    NodePath,
    VirtualMouse,
)

#: key name → action
KEYMAP = {
    "arrow_left": "left",
    "a": "left",
    "arrow_right": "right",
    "d": "right",
    "enter": "confirm",
    "space": "confirm",
    "escape": "estop",
    "p": "pause",
    "r": "resume",
    "c": "calibrate",
}
#: actions that control the session (not the scene)
CONTROL_ACTIONS = ("estop", "pause", "resume")


class KeyInput:
    """Reads key presses from the data graph each frame and returns them as actions."""

    def __init__(self, window: GraphicsWindow | None = None) -> None:
        self.root = NodePath("data-root")
        self.virtual = VirtualMouse("virtual-keyboard")
        self.virtual.set_window_size(1, 1)
        vnp = self.root.attach_new_node(self.virtual)
        self._throwers = [self._thrower(vnp)]
        if window is not None and window.get_num_input_devices() > 0:
            mak = self.root.attach_new_node(MouseAndKeyboard(window, 0, "keyboard"))
            self._throwers.append(self._thrower(mak))
        self._traverser = DataGraphTraverser()
        self._pending: list[str] = []

    def _thrower(self, parent: NodePath) -> ButtonThrower:
        bt = ButtonThrower("buttons")
        bt.set_prefix("key:")
        # events go to panda3d's event queue, which only this class drains (there is no
        # ShowBase messenger in mirrorvr); the prefix marks ours
        parent.attach_new_node(bt)
        return bt

    def press(self, key: str) -> None:
        """Press and release ``key`` on the virtual keyboard (delivered at the next poll)."""
        self._pending.append(key)

    def poll(self) -> list[str]:
        """Actions of the keys pressed since the last poll, in order (unmapped keys dropped)."""
        registry = ButtonRegistry.ptr()
        for key in self._pending:
            handle = registry.find_button(key)
            self.virtual.press_button(handle)
            self.virtual.release_button(handle)
        self._pending.clear()
        self._traverser.traverse(self.root.node())
        actions: list[str] = []
        queue = EventQueue.get_global_event_queue()
        while not queue.is_queue_empty():
            event = queue.dequeue_event()
            name = event.name
            if name.startswith("key:"):
                action = KEYMAP.get(name[4:])
                if action is not None:
                    actions.append(action)
        return actions


def keys_for_rating(start: int, value: int) -> Iterable[str]:
    """The key presses that move a 0–10 slider from ``start`` to ``value`` and confirm it."""
    step = "arrow_right" if value > start else "arrow_left"
    yield from [step] * abs(value - start)
    yield "enter"

"""The frame as ordered phases in a panda3d task manager (no ShowBase, no globals).

Fixed slots (lower runs first), matching panda3d's own and the OpenXR plugins' sorts:

=======  ==============  ===============================================================
 sort     phase           what runs
=======  ==============  ===============================================================
 −1000    pose sync       poll the pose source for this frame's display time
 −50      input           traverse the data graph (keyboard, virtual keyboard), route keys
 0        session logic   rating slider, laterality answers, simulated-patient presses
 40       scene update    mirror the hand, place limbs, animate cues (just before render)
 50       render          cull, draw, flip; stamp the frame's display time
=======  ==============  ===============================================================

Each phase is a thin wrapper around a plain callable taking the :class:`FrameInfo`, so the
objects behind them can be stepped in tests without any task manager.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from panda3d.core import AsyncTask, AsyncTaskManager, PythonTask

SORT_POSE_SYNC = -1000
SORT_INPUT = -50
SORT_SESSION = 0
SORT_SCENE = 40
SORT_RENDER = 50


@dataclass
class FrameInfo:
    """One frame: its number, the time it is meant to be displayed, and when it was."""

    index: int = -1
    t: float = 0.0  # target display time (poses are sampled for it)
    shown: float | None = None  # display time stamped by the render phase
    notes: dict[str, Any] = field(default_factory=dict)


class FrameLoop:
    """Runs the registered phases once per :meth:`step`, in sort order."""

    def __init__(self, name: str = "mirrorvr-frame") -> None:
        self.manager = AsyncTaskManager(name)
        self.frame = FrameInfo()
        self.phases: dict[str, int] = {}

    def add_phase(self, name: str, sort: int, fn: Callable[[FrameInfo], None]) -> None:
        """Run ``fn(frame)`` every frame at ``sort``."""

        def task(_task: Any) -> int:
            fn(self.frame)
            return int(AsyncTask.DS_cont)

        t = PythonTask(task, name)
        t.set_sort(sort)
        self.manager.add(t)
        self.phases[name] = sort

    def step(self, t: float, notes: dict[str, Any] | None = None) -> FrameInfo:
        """Run one frame meant for display at ``t``; returns its info (``shown`` stamped)."""
        self.frame = FrameInfo(index=self.frame.index + 1, t=t, notes=dict(notes or {}))
        self.manager.poll()
        return self.frame

    def close(self) -> None:
        """Remove every phase."""
        self.manager.remove(self.manager.get_tasks())

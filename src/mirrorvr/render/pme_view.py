"""The decoded phantom for a display in its own process: it follows the ``mirrorvr-pme`` stream.

In real time the PME engine decodes in the session's process; the display process draws. Each
``mirrorvr-pme`` sample carries the phantom's state after that window's decision (hand, wrist,
rotation), so the display only follows the session's own stream (source id
``mirrorvr-<session>-pme``) and draws the latest state it has — the same numbers the log and
the XDF hold. Which steps are PME steps, and the task's target, it learns from the steps it is
asked to present. Implements :class:`mirrorvr.render.presenter.PhantomView`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mirrorvr.session.timeline import Step
from mirrorvr.streams.layout import PME
from mirrorvr.tracking.phantom import (
    PhantomState,
    TaskTarget,
    phantom_params,
    step_target,
    target_posture,
)
from mirrorvr.tracking.skeleton import HandParams

_HAND, _WRIST, _ROTATION = (
    [c.label for c in PME.channels].index(n) for n in ("hand", "wrist", "rotation")
)


class PmeStreamView:
    """The phantom as the session's ``mirrorvr-pme`` stream says (follows it on a thread)."""

    def __init__(self, session: str) -> None:
        from mirrorvr.streams.inlets import StreamFollower, predicate_for

        self._lock = threading.Lock()
        self._state = PhantomState()
        self._since = -np.inf  # a task cue resets the phantom: older samples no longer count
        self._active = False
        self._target: TaskTarget | None = None
        self.samples = 0
        self.follower = StreamFollower(
            predicate_for(source_id=PME.source_id(session)),
            self._on_samples,
            label="pme-view",
            poll_s=0.005,
        ).start()

    def _on_samples(self, follower: Any, stamps: np.ndarray, values: Any) -> None:
        x = np.asarray(values, dtype=np.float64)
        with self._lock:
            keep = stamps >= self._since
            if np.any(keep):
                last = x[keep][-1]
                self._state = PhantomState(
                    float(last[_HAND]), float(last[_WRIST]), float(last[_ROTATION])
                )
            self.samples += len(stamps)

    def on_step(self, step: Step, onset: float) -> None:
        """A step was presented: is it PME, does it reset the phantom, show a target?"""
        d = step.data
        with self._lock:
            self._active = d.get("exercise") == "pme"
            if not self._active:
                self._target = None
                return
            if d.get("phase") == "task" and step.kind == "cue":
                self._state, self._since = PhantomState(), onset  # the engine resets it too
            self._target = step_target(d, step.duration) if step.kind == "window" else None

    def phantom_at(self, t: float) -> HandParams | None:
        """The latest decoded posture (``None`` outside PME blocks: the mirror image)."""
        with self._lock:
            return phantom_params(self._state) if self._active else None

    def target_params(self) -> HandParams | None:
        """The current task's target posture."""
        with self._lock:
            return None if self._target is None else target_posture(self._target)

    def close(self) -> None:
        """Stop following the stream."""
        self.follower.stop()

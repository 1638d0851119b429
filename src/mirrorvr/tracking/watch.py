"""Tracking watch (pure): when the intact limb counts as lost, and when it is back.

The frame loop reports, every frame, whether the intact limb was tracked. After ``lost_after_s``
without it the watch says ``lost`` once; the first tracked frame after that says ``regained``.
What happens then is the plan's (``[tracking] on_lost``: pause, e-stop or nothing) — the same
reactions the headset has for its own tracking (docs/openxr.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Change = Literal["lost", "regained"]


@dataclass
class TrackingWatch:
    """Turns per-frame "tracked or not" into lost / regained transitions."""

    lost_after_s: float = 0.5
    lost: bool = field(default=False, init=False)
    _since: float | None = field(default=None, init=False)

    def update(self, t: float, tracked: bool) -> Change | None:
        """Report frame time ``t``; returns the change this frame makes, if any."""
        if tracked:
            self._since = None
            if self.lost:
                self.lost = False
                return "regained"
            return None
        if self._since is None:
            self._since = t
        if not self.lost and t - self._since >= self.lost_after_s:
            self.lost = True
            return "lost"
        return None

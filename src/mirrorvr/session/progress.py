"""Where a running session is, from its events alone (pure): elapsed vs planned time, the
current block, pulses delivered. The CLI's progress display and other observers read it."""

from __future__ import annotations

from dataclasses import dataclass

from mirrorvr.session.events import Event


@dataclass
class SessionProgress:
    """Fed every event of a session (``feed``); never raises on odd or missing fields."""

    planned_s: float = 0.0
    planned_pulses: int = 0
    blocks: int = 0
    t0: float | None = None
    t: float | None = None
    block: int | None = None
    block_name: str = ""
    pulses: int = 0
    state: str = "starting"
    reason: str = ""

    def feed(self, e: Event) -> None:
        """Update from one event (unknown kinds and missing fields are ignored)."""
        d = e.data
        if e.kind in ("session_start", "resume") and self.t0 is None:
            self.t0 = e.t
            self.planned_s = float(d.get("planned_duration_s") or self.planned_s)
            self.planned_pulses = int(d.get("planned_pulses") or self.planned_pulses)
            self.pulses = int(d.get("pulses_counted") or self.pulses)
            self.state = "running"
        self.t = e.t
        if e.kind == "block_start" and isinstance(d.get("block"), int):
            self.block = d["block"]
            self.block_name = str(d.get("label") or d.get("block_kind") or "")
        elif e.kind == "train_outcome":
            self.pulses += int(d.get("delivered") or 0)
        elif e.kind == "state":
            self.state = str(d.get("to") or self.state)
        elif e.kind == "session_end":
            self.state = str(d.get("state") or "ended")
            self.reason = str(d.get("reason") or "")

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since the session started (at ``now``, else at the last event)."""
        if self.t0 is None:
            return 0.0
        t = now if now is not None else self.t
        return max(0.0, (t if t is not None else self.t0) - self.t0)

    def describe(self) -> str:
        """``block 2/3 mirror · 120/1200 pulses`` (and the state when not running)."""
        parts = []
        if self.block is not None:
            of = f"/{self.blocks}" if self.blocks else ""
            parts.append(f"block {self.block + 1}{of} {self.block_name}".rstrip())
        if self.planned_pulses:
            parts.append(f"{self.pulses}/{self.planned_pulses} pulses")
        if self.state not in ("running", "starting"):
            parts.append(self.state)
        return " · ".join(parts) if parts else self.state

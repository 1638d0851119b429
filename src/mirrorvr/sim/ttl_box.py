"""Emulated serial TTL trigger box.

Every byte received sets the eight output lines. A pulse is delivered on each rising edge
(lines go from 0 to a non-zero code). Every byte is logged with its arrival time on the LSL
clock (CLOCK_MONOTONIC, shared by every process on the machine), which is what tests and
timing benchmarks compare the session's own stamps against.
"""

from __future__ import annotations

import json
import os
import select
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mirrorvr.session.clock import local_clock
from mirrorvr.sim.pty_link import PtyLink


@dataclass
class TTLBoxEmulator:
    """Serves a pty: logs frames and counts pulses (rising edges)."""

    link: PtyLink
    log_file: IO[str] | None = None
    lines: int = 0
    pulses: list[tuple[float, int]] = field(default_factory=list)
    #: told of every delivered pulse ``(t, code)``: the simulated body answers it with an MEP
    on_pulse: Callable[[float, int], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def _log(self, **rec: object) -> None:
        if self.log_file is not None:
            self.log_file.write(json.dumps(rec, separators=(",", ":")) + "\n")
            self.log_file.flush()

    def handle(self, data: bytes, t: float) -> None:
        """Apply received bytes (all arrived at ``t``)."""
        for b in data:
            rising = self.lines == 0 and b != 0
            self.lines = b
            self._log(t=t, rx=f"{b:02x}", lines=b, action="pulse" if rising else "level")
            if rising:
                self.pulses.append((t, b))
                if self.on_pulse is not None:
                    self.on_pulse(t, b)

    def serve(self) -> None:
        """Read until stopped or the pty is closed."""
        self._log(t=local_clock(), action="start", port=self.link.slave_path)
        fd = self.link.master_fd
        while not self._stop.is_set():
            r, _, _ = select.select([fd], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: no client has the slave open right now; keep serving
                if self._stop.wait(0.01):
                    break
                continue
            if data:
                self.handle(data, local_clock())
        self._drain(fd)
        self._log(t=local_clock(), action="stop", pulses=len(self.pulses))

    def _drain(self, fd: int) -> None:
        # bytes written just before we were told to stop are still in the pty: record them
        # too, or the log would under-report what the host sent
        while select.select([fd], [], [], 0.02)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            self.handle(data, local_clock())

    def stop(self) -> None:
        """Ask ``serve`` to return."""
        self._stop.set()


def open_log(path: str | Path | None) -> IO[str] | None:
    """Open an emulator log for appending (JSON Lines)."""
    if path is None:
        return None
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return open(p, "a", encoding="utf-8", buffering=1)

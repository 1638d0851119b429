"""Machinery shared by the stimulator emulators: pty loop, timed output, line delay, log, faults.

An emulator reads host bytes from the pty master, stamps each read on the LSL clock, lets its
device model act, and queues replies with an earliest send time (a late reply holds up the
ones after it, as on one serial line). ``tick`` runs every few milliseconds so the state
machine (arming, recharge, trains, watchdog, auto-disarm) advances without host traffic.

The log is JSON Lines: every received frame with its arrival time ``t`` and what the device did,
every state change, and every delivered pulse as ``{"action": "pulse", "intensity": ...}``.
"""

from __future__ import annotations

import collections
import json
import os
import select
import threading
import time
from typing import IO, Any

from mirrorvr.session.clock import local_clock
from mirrorvr.sim.faults import Fault
from mirrorvr.sim.pty_link import LineTiming, PtyLink

#: how often the device model ticks when the line is quiet
TICK_S = 0.002


class SerialEmulator:
    """Base class: subclasses implement ``feed`` (bytes in), ``tick`` and ``state``."""

    name = "emulator"
    baudrate = 9600

    def __init__(
        self,
        link: PtyLink,
        log_file: IO[str] | None = None,
        *,
        line_delay: bool = True,
        timing: str = "real",
        faults: list[Fault] | None = None,
        idle_disarm_s: float = 60.0,
    ) -> None:
        self.link = link
        self.log_file = log_file
        self.line = LineTiming(self.baudrate if line_delay else 0)
        if timing not in ("real", "fast"):
            raise ValueError(f"timing must be 'real' or 'fast', got {timing!r}")
        self.fast = timing == "fast"
        self.faults = list(faults or [])
        self.idle_disarm_s = idle_disarm_s
        self.pulses: list[tuple[float, float]] = []
        self.frames_after_arm = 0
        self.ever_armed = False
        self.disconnected = False
        self._replug_at: float | None = None
        self._nul_active = False
        self._out: collections.deque[tuple[float, bytes]] = collections.deque()
        self._stop = threading.Event()
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ logging

    def log(self, **rec: Any) -> None:
        """One JSON line (``t`` first)."""
        if self.log_file is None:
            return
        rec.setdefault("t", local_clock())
        line = json.dumps(rec, separators=(",", ":"))
        with self._log_lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def pulse(self, t: float, intensity: float, **extra: Any) -> None:
        """Record a delivered pulse."""
        self.pulses.append((t, intensity))
        self.log(t=t, action="pulse", intensity=intensity, **extra)

    # ------------------------------------------------------------------ faults

    def note_armed(self) -> None:
        """Start counting frames for fault injection (first arming)."""
        self.ever_armed = True

    def fault_for_frame(self) -> Fault | None:
        """The fault striking the frame just received, if any (counts frames after arming)."""
        if not self.ever_armed:
            return None
        self.frames_after_arm += 1
        for f in self.faults:
            if f.at == self.frames_after_arm:
                if f.kind == "nul":
                    self._nul_active = True
                return f
        return None

    def disconnect(self, replug_after_s: float | None = None) -> None:
        """Close the link as if the cable were pulled; the device model keeps running.

        ``replug_after_s``: the cable is plugged back in that much later (``disconnect:P``): a
        new pty behind the same link path, as udev gives a re-plugged adapter its old name.
        """
        self.disconnected = True
        self.log(action="disconnect", replug_after_s=replug_after_s)
        self.link.close_master()
        if replug_after_s is not None:
            self._replug_at = time.monotonic() + replug_after_s

    def _replug(self) -> None:
        """A new pty behind the old link path; the device model's state is unchanged."""
        old, new = self.link, PtyLink.open()
        link = old.link
        old.close()  # the host's end of the old pty now only reads EIO
        if link is not None:
            new.make_link(link)
        self.link = new
        self._replug_at = None
        self._out.clear()
        self.disconnected = False
        self.log(action="replug", port=new.slave_path)

    # ------------------------------------------------------------------ output

    def send(self, data: bytes, delay: float = 0.0) -> None:
        """Queue ``data`` to go out no earlier than ``delay`` from now, after what is queued."""
        if not data or self.disconnected:
            return
        if self._nul_active:
            data = b"\x00\x00\x00" + data
        self._out.append((time.monotonic() + delay, data))

    def _flush(self) -> None:
        while self._out and self._out[0][0] <= time.monotonic() and not self.disconnected:
            _, data = self._out.popleft()
            try:
                if self.line.baudrate:
                    self._paced_write(data)
                else:
                    os.write(self.link.master_fd, data)
            except OSError:
                self._out.clear()
                return

    def _paced_write(self, data: bytes) -> None:
        """Write ``data`` as a line at the baud rate would deliver it.

        Byte i is due one byte-time after byte i-1; whatever is due is written at once, so a
        late wake-up (a loaded machine) does not add up over the bytes of a reply.
        """
        bt = self.line.byte_time(1)
        start = time.monotonic()
        sent = 0
        while sent < len(data):
            due = min(len(data), int((time.monotonic() - start) / bt))
            if due > sent:
                os.write(self.link.master_fd, data[sent:due])
                sent = due
            else:
                time.sleep(bt)

    # ------------------------------------------------------------------ hooks

    def feed(self, data: bytes, t: float) -> None:
        """Bytes from the host, all read at ``t``."""
        raise NotImplementedError

    def tick(self, now: float) -> None:
        """Advance the device model to ``now``."""

    def state(self) -> dict[str, Any]:
        """Summary of the model's state (logged at stop)."""
        return {}

    # ------------------------------------------------------------------ loop

    def serve(self) -> None:
        """Serve the pty until stopped."""
        self.log(action="start", port=self.link.slave_path, device=self.name, fast=self.fast,
                 line_delay=bool(self.line.baudrate), faults=[f.spec() for f in self.faults])  # fmt: skip
        fd = self.link.master_fd
        while not self._stop.is_set():
            if (
                self.disconnected
                and self._replug_at is not None
                and time.monotonic() >= self._replug_at
            ):
                self._replug()
                fd = self.link.master_fd
                continue
            if self.disconnected:
                self._stop.wait(0.01)
                self.tick(local_clock())
                continue
            timeout = TICK_S
            if self._out:
                timeout = max(0.0, min(timeout, self._out[0][0] - time.monotonic()))
            try:
                r, _, _ = select.select([fd], [], [], timeout)
            except (OSError, ValueError):
                break
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # EIO: no client has the slave open right now
                    data = b""
                    self._stop.wait(0.005)
                if data:
                    self.feed(data, local_clock())
            self.tick(local_clock())
            self._flush()
        self._drain(fd)
        self.log(action="stop", pulses=len(self.pulses), **self.state())

    def _drain(self, fd: int) -> None:
        # Bytes a client wrote before we were stopped reached the device: a loaded machine can
        # deliver SIGTERM before the loop read them, and the log must still show them.
        while not self.disconnected:
            try:
                r, _, _ = select.select([fd], [], [], 0)
                data = os.read(fd, 4096) if r else b""
            except (OSError, ValueError):
                return
            if not data:
                return
            self.feed(data, local_clock())

    def stop(self) -> None:
        """Make ``serve`` return."""
        self._stop.set()

"""Serial TTL trigger box driver (Brain Products TriggerBox-style).

One byte written sets the box's eight output lines and they stay until the next write, so a
trigger is the code byte followed, after the pulse width, by ``0``. The box cannot set the
stimulator's intensity or arm it: those are done on the stimulator's front panel, so this driver
only tracks an armed flag and refuses triggers while disarmed.

The pulse width is *not* waited for inside :meth:`TTLBox.trigger`: it writes the code and
returns at once, so the pulse is stamped and logged without a millisecond of spinning in
between. The line goes back to idle by a deadline (:attr:`TTLBox.release_at`): the stimulation
executor calls :meth:`TTLBox.release` at that deadline on its own (real or simulated) clock;
for any other caller (threshold hunts, probes, tests) a small timer thread does it in real
time (:attr:`TTLBox.auto_release`).
"""

from __future__ import annotations

import os
import threading

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.stim.base import Capabilities, DisarmOutcome, Stimulator, StimulatorStatus
from mirrorvr.stim.transport import SerialTransport


def _is_pty(port: str) -> bool:
    # Unix98 pty slaves are /dev/pts/N (device major 136-143); a symlink may point at one
    try:
        return os.major(os.stat(port).st_rdev) in range(136, 144)
    except OSError:
        return False


class TTLBox(Stimulator):
    """Trigger box on a serial port: one byte per trigger code, then 0 after the pulse width."""

    kind = "ttl-box"

    def __init__(
        self,
        port: str,
        *,
        trigger_code: int = 1,
        pulse_width_s: float = 0.001,
        baudrate: int = 115200,
    ) -> None:
        if not 1 <= trigger_code <= 255:
            raise ValueError(f"trigger_code must be 1..255, got {trigger_code}")
        self.port = port
        self.transport = SerialTransport(port, baudrate=baudrate, timeout=0.1)
        # built once: nothing is built between a pulse's deadline and its write
        self._code = bytes([trigger_code])
        self.pulse_width_s = pulse_width_s
        self._armed = False
        self._intensity: float | None = None
        self._lock = threading.RLock()  # disarm may run inside a trigger's fault path
        self._is_pty = False
        #: LSL time the held line is due back to idle (``None``: the line is idle)
        self.release_at: float | None = None
        #: release held lines from a timer thread (off when the executor releases them itself)
        self.auto_release = True
        self._release_wake = threading.Condition(self._lock)
        self._releaser: threading.Thread | None = None
        self._closed = False

    @property
    def trigger_code(self) -> int:
        """The byte a trigger writes (fixed when the box is made)."""
        return self._code[0]

    @property
    def capabilities(self) -> Capabilities:
        """Host-timed only; intensity is set on the stimulator itself."""
        return Capabilities(sets_intensity=False, device_timed_trains=False, max_host_rate_hz=100.0)

    @property
    def trigger_wire_s(self) -> float:
        """One byte's line time on a real port; none on a pseudo-terminal (it has no line)."""
        return 0.0 if self._is_pty else self.transport.byte_time(1)

    def connect(self) -> None:
        """Open the port and set all lines low."""
        self.transport.open()
        self._closed = False
        self._is_pty = _is_pty(self.transport.port)
        self.transport.write(b"\x00")

    def arm(self) -> None:
        """Allow triggers (the stimulator itself is armed on its panel)."""
        if not self.transport.is_open:
            raise DeviceError(f"trigger box on {self.transport.port} is not connected")
        self._armed = True

    def disarm(self) -> DisarmOutcome:
        """Refuse further triggers and drive all lines low at once.

        A trigger on the line is cut short rather than held for its width (its edge already
        went out, so it is counted as delivered); taking the trigger lock orders the disarm byte
        after any write in progress, so no trigger can reach the line after ``disarm`` returns.
        """
        self._armed = False  # any trigger not yet holding the lock now refuses
        with self._lock:
            self.release_at = None
            if not self.transport.is_open:
                return DisarmOutcome("failed", "drive trigger lines low", f"{self.port} is closed")
            try:
                self.transport.write(b"\x00")
            except DeviceError as e:
                # the port is gone: nothing is triggered through it, but the lines' state and
                # the stimulator behind them are not known
                return DisarmOutcome("failed", "drive trigger lines low", str(e))
        return DisarmOutcome(
            "confirmed",
            detail="trigger lines low, no further triggers; a stimulator armed at its own "
            "panel stays armed",
        )

    def set_intensity(self, pct_mso: float) -> None:
        """Record the intended intensity (set it on the stimulator's panel)."""
        self._intensity = pct_mso

    @property
    def hold_s(self) -> float:
        """How long a trigger holds the line before :meth:`release` (the pulse width)."""
        return self.pulse_width_s

    def trigger(self) -> float:
        """Raise the trigger code and return; the line drops to 0 at :attr:`release_at`.

        Returns the LSL time the code's write completed. A trigger while the previous one is
        still held (faster than the pulse width: never from the executor) releases it first.
        """
        with self._lock:
            if not self._armed:
                raise DeviceError("trigger refused: the trigger box is disarmed")
            if self.release_at is not None:
                self._write_idle()
            # the byte's start bit leaves about one byte-time before the write call returns on
            # a real UART; on a pty there is no such delay. We stamp the completed write.
            t = self.transport.write(self._code)
            self.release_at = t + self.pulse_width_s
            if self.auto_release:
                self._start_releaser()
                self._release_wake.notify()
            return t

    def release(self) -> None:
        """Drop a held trigger line to idle now (the caller waited out the pulse width)."""
        with self._lock:
            if self.release_at is not None:
                self._write_idle()

    def _write_idle(self) -> None:
        self.release_at = None
        self.transport.write(b"\x00")

    def _start_releaser(self) -> None:
        if self._releaser is None or not self._releaser.is_alive():
            self._releaser = threading.Thread(
                target=self._release_loop, name="ttl-box release", daemon=True
            )
            self._releaser.start()

    def _release_loop(self) -> None:
        # a held line returns to idle at its deadline even if no one calls release(); under
        # load this thread may wake late, which only lengthens the pulse (the edge is what
        # triggers the stimulator)
        with self._lock:
            while not self._closed:
                due = self.release_at
                if due is None:
                    self._release_wake.wait()
                    continue
                remaining = due - local_clock()
                if remaining > 0:
                    self._release_wake.wait(remaining)
                    continue
                try:
                    self._write_idle()
                except DeviceError:
                    self.release_at = None  # the port is gone: the next call reports it

    def status(self) -> StimulatorStatus:
        """Connected/armed as known on the host side (the box does not report status)."""
        return StimulatorStatus(
            connected=self.transport.is_open,
            armed=self._armed,
            ready=self._armed,
            intensity_pct_mso=self._intensity,
        )

    def close(self) -> None:
        """Disarm, stop the release timer and close the port."""
        self.disarm()
        with self._lock:
            self._closed = True
            self._release_wake.notify_all()
        if self._releaser is not None:
            self._releaser.join(1.0)
        self.transport.close()

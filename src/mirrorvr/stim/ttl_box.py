"""Serial TTL trigger box driver (Brain Products TriggerBox-style).

One byte written sets the box's eight output lines and they stay until the next write, so a
trigger is the code byte followed, after the pulse width, by ``0``. The box cannot set the
stimulator's intensity or arm it: those are done on the stimulator's front panel, so this driver
only tracks an armed flag and refuses triggers while disarmed.
"""

from __future__ import annotations

import os
import threading

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import RealClock, local_clock
from mirrorvr.stim.base import Capabilities, Stimulator, StimulatorStatus
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
        self.transport = SerialTransport(port, baudrate=baudrate, timeout=0.1)
        self.trigger_code = trigger_code
        self.pulse_width_s = pulse_width_s
        self._armed = False
        self._intensity: float | None = None
        self._lock = threading.RLock()  # disarm may run inside a trigger's fault path
        self._clock = RealClock()
        self._is_pty = False

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
        self._is_pty = _is_pty(self.transport.port)
        self.transport.write(b"\x00")

    def arm(self) -> None:
        """Allow triggers (the stimulator itself is armed on its panel)."""
        if not self.transport.is_open:
            raise DeviceError(f"trigger box on {self.transport.port} is not connected")
        self._armed = True

    def disarm(self) -> None:
        """Refuse further triggers and drive all lines low.

        A trigger already on the line finishes its pulse width first (at most
        ``pulse_width_s``): taking the trigger lock orders the disarm byte after it, so no
        trigger can ever reach the line after ``disarm`` returns.
        """
        self._armed = False  # any trigger not yet holding the lock now refuses
        with self._lock:
            if self.transport.is_open:
                try:
                    self.transport.write(b"\x00")
                except DeviceError:
                    pass  # the port is gone: nothing can be triggered through it either

    def set_intensity(self, pct_mso: float) -> None:
        """Record the intended intensity (set it on the stimulator's panel)."""
        self._intensity = pct_mso

    def trigger(self) -> float:
        """Raise the trigger code, hold it for the pulse width, then drop to 0."""
        with self._lock:
            if not self._armed:
                raise DeviceError("trigger refused: the trigger box is disarmed")
            t = self.transport.write(bytes([self.trigger_code]))
            # the line must stay high for the pulse width in *real* time, whatever the session clock
            self._clock.sleep_until(local_clock() + self.pulse_width_s)
            self.transport.write(b"\x00")
            # the byte's start bit leaves about one byte-time before the write call returns on a
            # real UART; on a pty there is no such delay. We stamp the completed write.
            return t

    def status(self) -> StimulatorStatus:
        """Connected/armed as known on the host side (the box does not report status)."""
        return StimulatorStatus(
            connected=self.transport.is_open,
            armed=self._armed,
            ready=self._armed,
            intensity_pct_mso=self._intensity,
        )

    def close(self) -> None:
        """Disarm and close the port."""
        self.disarm()
        self.transport.close()

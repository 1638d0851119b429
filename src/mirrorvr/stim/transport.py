"""Transports: how bytes move to a device (a real serial port or a pseudo-terminal).

Drivers never touch pyserial directly; they call ``write``/``read`` here, which log every byte
with its time so a session can show exactly what went over the wire.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.stim.errors import DisconnectedError

log = logging.getLogger(__name__)

#: called with (direction ``">>"`` or ``"<<"``, bytes, LSL time) for every byte moved
ByteSink = Callable[[str, bytes, float], None]


@dataclass(frozen=True)
class PortSettings:
    """Line settings and timeouts of one device family."""

    baudrate: int
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    timeout: float = 0.5
    write_timeout: float = 0.5


#: per-device line settings (magstim-serial.md §1, magventure-serial.md §1)
PORT_SETTINGS: dict[str, PortSettings] = {
    "ttl-box": PortSettings(115200, timeout=0.1),
    "magstim-200": PortSettings(9600, timeout=0.5, write_timeout=0.5),
    "magstim-bistim": PortSettings(9600, timeout=0.5, write_timeout=0.5),
    "magstim-rapid": PortSettings(9600, timeout=0.5, write_timeout=0.5),
    "magventure": PortSettings(38400, timeout=1.0, write_timeout=0.5),
}


def is_pty(port: str) -> bool:
    """Whether ``port`` (or what a symlink points at) is a pseudo-terminal (no real line)."""
    return os.path.realpath(port).startswith("/dev/pts/")


class LineTriggerUnsupported(DeviceError):
    """The port cannot drive RTS/DTR (a pseudo-terminal, or an adapter without the lines)."""


class SerialTransport:
    """A pyserial port with timeouts and byte logging.

    Parameters
    ----------
    port:
        Device path (``/dev/ttyUSB0``, a pty such as ``/dev/pts/3``, or a symlink to one).
    baudrate, bytesize, parity, stopbits:
        Line settings of the device (a pty ignores them; emulators add line delay themselves).
    timeout:
        Read timeout in seconds: a read never blocks longer than this.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        timeout: float = 0.5,
        write_timeout: float = 0.5,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self._settings = dict(
            baudrate=baudrate,
            bytesize=bytesize,
            parity=parity,
            stopbits=stopbits,
            timeout=timeout,
            write_timeout=write_timeout,
        )
        self._timeout = timeout
        self._write_timeout = write_timeout
        self._serial: serial.Serial | None = None
        self._write_lock = threading.Lock()
        self.sinks: list[ByteSink] = []

    @classmethod
    def for_device(cls, kind: str, port: str, **overrides: float) -> SerialTransport:
        """A transport with the line settings of device family ``kind``."""
        if kind not in PORT_SETTINGS:
            raise DeviceError(f"no serial settings known for device kind '{kind}'")
        st = PORT_SETTINGS[kind]
        t = cls(
            port,
            baudrate=st.baudrate,
            bytesize=st.bytesize,
            parity=st.parity,
            stopbits=st.stopbits,
            timeout=float(overrides.get("timeout", st.timeout)),
            write_timeout=float(overrides.get("write_timeout", st.write_timeout)),
        )
        return t

    @property
    def timeout(self) -> float:
        """Read timeout in seconds."""
        return self._timeout

    def _emit(self, direction: str, data: bytes, t: float) -> None:
        for sink in self.sinks:
            sink(direction, data, t)

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._serial is not None and self._serial.is_open

    def open(self) -> None:
        """Open the port; a missing or busy port raises ``DeviceError`` naming it."""
        if not os.path.exists(self.port):
            raise DeviceError(
                f"serial port {self.port} does not exist: check the cable and the port name "
                "(`mirrorvr devices` lists the ports this computer has)"
            )
        try:
            self._serial = serial.Serial(self.port, **self._settings)
        except (serial.SerialException, OSError, ValueError) as e:
            raise DeviceError(f"cannot open serial port {self.port}: {e}") from None

    def close(self) -> None:
        """Close the port (idempotent)."""
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None

    def byte_time(self, n: int) -> float:
        """Seconds ``n`` bytes take on the wire at this baud rate (10 bits per 8N1 byte)."""
        return n * 10.0 / self.baudrate

    def write(self, data: bytes) -> float:
        """Write all of ``data``; returns the LSL time when the write call completed."""
        if self._serial is None:
            raise DeviceError(f"serial port {self.port} is not open")
        with self._write_lock:
            try:
                t = self._write_now(self._serial, data)
            except (serial.SerialException, OSError) as e:
                raise DisconnectedError(
                    f"writing to {self.port} failed ({e}): the device or cable is gone"
                ) from None
        log.debug("%s >> %s at %.6f", self.port, data.hex(" "), t)
        self._emit(">>", data, t)
        return t

    def _write_now(self, port: serial.Serial, data: bytes) -> float:
        """Hand ``data`` to the kernel; the LSL time the last byte was handed over.

        On POSIX this writes the port's (non-blocking) descriptor itself and stamps right after
        the ``write`` that completed it: pyserial's ``write`` then makes one more ``select``
        call before it returns, which put a second system call (and its tail under load) between
        a trigger leaving and its stamp. A full output buffer (a stalled reader) waits for room
        up to the write timeout, as pyserial does.
        """
        fd = getattr(port, "fd", None)
        if not isinstance(fd, int) or fd < 0:  # not the POSIX backend: pyserial's own write
            port.write(data)
            return local_clock()
        try:  # the usual case (a trigger byte, room in the buffer): one call, then the stamp
            n = os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        if n == len(data):
            return local_clock()
        view = memoryview(data)[n:]
        t = local_clock()
        deadline: float | None = None
        while view:
            try:
                n = os.write(fd, view)
            except (BlockingIOError, InterruptedError):
                n = 0
            if n:
                t = local_clock()
                view = view[n:]
                continue
            if deadline is None:
                deadline = time.monotonic() + self._write_timeout
            left = deadline - time.monotonic()
            if left <= 0:
                raise serial.SerialTimeoutException("Write timeout")
            select.select([], [fd], [], left)
        return t

    def read(self, n: int) -> bytes:
        """Read up to ``n`` bytes, waiting at most the read timeout."""
        if self._serial is None:
            raise DeviceError(f"serial port {self.port} is not open")
        try:
            data = bytes(self._serial.read(n))
        except (serial.SerialException, OSError) as e:
            raise DisconnectedError(
                f"reading from {self.port} failed ({e}): the device or cable is gone"
            ) from None
        if data:
            t = local_clock()
            log.debug("%s << %s at %.6f", self.port, data.hex(" "), t)
            self._emit("<<", data, t)
        return data

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        """Read ``n`` bytes or fewer if ``timeout`` (default: the read timeout) runs out first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        buf = b""
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                # this thread may have been starved past its deadline while the bytes sat in
                # the input buffer: take what is there before calling it a timeout
                waiting = min(self.in_waiting(), n - len(buf))
                if waiting:
                    buf += self.read(waiting)
                break
            if self._serial is None:
                raise DeviceError(f"serial port {self.port} is not open")
            self._set_timeout(min(remaining, self.timeout))
            buf += self.read(n - len(buf))
        if self._serial is not None:
            self._set_timeout(self.timeout)
        return buf

    def _set_timeout(self, timeout: float) -> None:
        assert self._serial is not None
        if self._serial.timeout == timeout:
            return
        try:
            self._serial.timeout = timeout  # pyserial reconfigures the port: it can fail too
        except (serial.SerialException, OSError) as e:
            raise DisconnectedError(
                f"reading from {self.port} failed ({e}): the device or cable is gone"
            ) from None

    def in_waiting(self) -> int:
        """Bytes received and not yet read."""
        if self._serial is None:
            return 0
        try:
            return int(self._serial.in_waiting)
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"reading from {self.port} failed: {e}") from None

    def reset_input(self) -> None:
        """Drop unread input (resynchronisation after garbage)."""
        if self._serial is not None:
            try:
                waiting = self._serial.in_waiting
                if waiting:
                    self._emit("<<", bytes(self._serial.read(waiting)), local_clock())
                self._serial.reset_input_buffer()
            except (serial.SerialException, OSError):
                pass  # a vanished port reports itself on the next read or write

    def set_line(self, line: str, level: bool) -> float:
        """Drive the RTS or DTR line (QuickFire cables, line-triggered boxes).

        A pseudo-terminal has no modem-control lines (the ioctl fails with ENOTTY): this raises
        :class:`LineTriggerUnsupported` saying so, rather than pretending a trigger went out.
        """
        if line not in ("rts", "dtr"):
            raise ValueError(f"line must be 'rts' or 'dtr', got {line!r}")
        if self._serial is None:
            raise DeviceError(f"serial port {self.port} is not open")
        with self._write_lock:
            try:
                setattr(self._serial, line, level)
            except (serial.SerialException, OSError) as e:
                code = getattr(e, "errno", None)
                if code == errno.ENOTTY or "Inappropriate ioctl" in str(e):
                    raise LineTriggerUnsupported(
                        f"{self.port} cannot drive its {line.upper()} line (it is a "
                        "pseudo-terminal or an adapter without modem-control lines): "
                        "line triggering needs a real serial port; use serial triggers or a "
                        "TTL box instead"
                    ) from None
                raise DeviceError(f"setting {line.upper()} on {self.port} failed: {e}") from None
            t = local_clock()
        self._emit(">>", f"<{line}={int(level)}>".encode(), t)
        return t

    def pulse_line(self, line: str, width_s: float = 0.005) -> float:
        """Raise ``line`` for ``width_s`` then lower it; returns the LSL time of the rising edge."""
        t = self.set_line(line, True)
        time.sleep(width_s)
        self.set_line(line, False)
        return t

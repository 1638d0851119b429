"""Transports: how bytes move to a device (a real serial port or a pseudo-terminal).

Drivers never touch pyserial directly; they call ``write``/``read`` here, which log every byte
with its time so a session can show exactly what went over the wire.
"""

from __future__ import annotations

import logging
import os
import threading

import serial

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock

log = logging.getLogger(__name__)


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
        self._serial: serial.Serial | None = None
        self._write_lock = threading.Lock()

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
                self._serial.write(data)
            except (serial.SerialException, OSError) as e:
                raise DeviceError(f"writing to {self.port} failed: {e}") from None
            t = local_clock()
        log.debug("%s >> %s at %.6f", self.port, data.hex(" "), t)
        return t

    def read(self, n: int) -> bytes:
        """Read up to ``n`` bytes, waiting at most the read timeout."""
        if self._serial is None:
            raise DeviceError(f"serial port {self.port} is not open")
        try:
            data = bytes(self._serial.read(n))
        except (serial.SerialException, OSError) as e:
            raise DeviceError(f"reading from {self.port} failed: {e}") from None
        if data:
            log.debug("%s << %s", self.port, data.hex(" "))
        return data

    def reset_input(self) -> None:
        """Drop unread input (resynchronisation after garbage)."""
        if self._serial is not None:
            self._serial.reset_input_buffer()

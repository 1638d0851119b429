"""Pseudo-terminals for emulators: a master end we serve, a slave path clients open.

A symlink (``--link PATH``) gives the slave a stable name, like a udev rule gives a real
adapter. A pty ignores baud rate, so emulators add line delay themselves (see ``LineTiming``).
"""

from __future__ import annotations

import contextlib
import os
import pty
import termios
import time
import tty
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PtyLink:
    """An open pty pair with an optional symlink to the slave."""

    master_fd: int
    slave_fd: int
    slave_path: str
    link: Path | None = None

    @classmethod
    def open(cls, link: str | Path | None = None) -> PtyLink:
        """Create a raw pty pair and point ``link`` at its slave."""
        master, slave = pty.openpty()
        tty.setraw(slave)
        # raw mode on both ends: no echo, no line discipline rewriting our bytes
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        path = os.ttyname(slave)
        pty_link = cls(master, slave, path, None)
        if link is not None:
            pty_link.make_link(link)
        return pty_link

    def make_link(self, link: str | Path) -> None:
        """Point ``link`` at the slave (done last, so a client never finds a pty nobody serves)."""
        link_path = Path(link)
        if link_path.is_symlink() or link_path.exists():
            link_path.unlink()
        link_path.parent.mkdir(parents=True, exist_ok=True)
        link_path.symlink_to(self.slave_path)
        self.link = link_path

    def close_master(self) -> None:
        """Close the device's end only (a pulled cable); later closes skip it."""
        if self.master_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.master_fd)
        self.master_fd = -1

    def close(self) -> None:
        """Close both ends and remove the link."""
        # idempotent: a second close must never close fd numbers that another pty, pipe or port
        # in this process has been given since (that closes someone else's link: EIO there)
        for fd in (self.master_fd, self.slave_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master_fd = self.slave_fd = -1
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()


@dataclass
class LineTiming:
    """Per-byte delay so a pty behaves like a serial line at ``baudrate`` (0 = off)."""

    baudrate: int = 0
    bits_per_byte: int = 10

    def byte_time(self, n: int = 1) -> float:
        """Seconds ``n`` bytes take on the modelled line."""
        return 0.0 if self.baudrate <= 0 else n * self.bits_per_byte / self.baudrate

    def delay(self, n: int) -> None:
        """Wait as long as ``n`` bytes take on the line."""
        dt = self.byte_time(n)
        if dt > 0:
            time.sleep(dt)

"""pymeasure-style protocol checking: a transport that plays a list of (sent, answered) pairs.

Each pair is the exact bytes the driver must write and the bytes the device answers. A pair
whose ``sent`` is ``None`` is unsolicited: its bytes arrive right after the previous answer.
The transport fails on any byte the driver writes that is not the next expected one, on reply
bytes the driver leaves unread, and (``check``) on pairs left unused at the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from mirrorvr.session.clock import local_clock

Pair = tuple[bytes | None, bytes | None]


class ProtocolMismatch(AssertionError):
    """The driver wrote something the protocol list did not expect."""


class ProtocolTransport:
    """Stands in for :class:`~mirrorvr.stim.transport.SerialTransport`."""

    def __init__(self, pairs: list[Pair], port: str = "protocol-test") -> None:
        self.pairs = list(pairs)
        self.i = 0
        self.rx = bytearray()
        self.port = port
        self.timeout = 0.2
        self.written: list[bytes] = []
        self.errors: list[str] = []
        self._open = False
        self._lock = threading.Lock()
        self._deliver_unsolicited()

    @property
    def is_open(self) -> bool:
        """Whether ``open`` was called (and not ``close``)."""
        return self._open

    def open(self) -> None:
        """Open (nothing to do)."""
        self._open = True

    def close(self) -> None:
        """Close."""
        self._open = False

    def _deliver_unsolicited(self) -> None:
        while self.i < len(self.pairs) and self.pairs[self.i][0] is None:
            self.rx += self.pairs[self.i][1] or b""
            self.i += 1

    def write(self, data: bytes) -> float:
        """Check ``data`` against the next pair and queue its answer."""
        with self._lock:
            self.written.append(data)
            if self.i >= len(self.pairs):
                msg = f"unexpected write {data.hex(' ')} after all {len(self.pairs)} pairs"
                self.errors.append(msg)
                raise ProtocolMismatch(msg)
            sent, answer = self.pairs[self.i]
            if data != sent:
                msg = f"pair {self.i}: driver sent {data.hex(' ')}, expected {sent.hex(' ') if sent else None}"
                self.errors.append(msg)
                raise ProtocolMismatch(msg)
            self.i += 1
            self.rx += answer or b""
            self._deliver_unsolicited()
            return local_clock()

    def _take(self, n: int) -> bytes:
        with self._lock:
            out = bytes(self.rx[:n])
            del self.rx[:n]
            return out

    def read(self, n: int) -> bytes:
        """Up to ``n`` queued bytes (waits a little when there are none, like a timeout)."""
        out = self._take(n)
        if not out:
            time.sleep(0.002)
        return out

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` queued bytes."""
        return self._take(n)

    def in_waiting(self) -> int:
        """Queued bytes."""
        return len(self.rx)

    def reset_input(self) -> None:
        """A driver flushing input must have read every answer already."""
        if self.rx:
            msg = f"driver dropped unread reply bytes {bytes(self.rx).hex(' ')}"
            self.errors.append(msg)
            raise ProtocolMismatch(msg)

    def check(self) -> None:
        """Fail on mismatches seen, pairs left unused, or reply bytes never read."""
        assert not self.errors, self.errors
        assert self.i == len(self.pairs), (
            f"{len(self.pairs) - self.i} expected exchange(s) unused, next: "
            f"{self.pairs[self.i][0].hex(' ') if self.pairs[self.i][0] else None}"
        )
        assert not self.rx, f"reply bytes never read: {bytes(self.rx).hex(' ')}"


@contextmanager
def expect_protocol(pairs: list[Pair]) -> Iterator[ProtocolTransport]:
    """A protocol transport checked when the block ends without error."""
    t = ProtocolTransport(pairs)
    yield t
    t.check()


def h(text: str) -> bytes:
    """Bytes from hex text with spaces."""
    return bytes.fromhex(text)

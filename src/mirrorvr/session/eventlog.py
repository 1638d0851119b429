"""Append-only, crash-safe JSON Lines event log.

Each event is written with a single ``os.write`` to a file opened ``O_APPEND``, so once
``append`` returns the line is in the kernel and survives ``kill -9`` of this process. Events
marked durable (a pulse's intent before the pulse, its outcome after) are also ``fsync``-ed,
so they survive a power cut. A line torn by a crash mid-write can only be the last one; on
reopening it is moved to ``events.jsonl.torn`` (kept, never deleted) before appending resumes.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirrorvr.session.events import Event

EventSink = Callable[[Event], None]
"""Anything that wants every event as it is logged (LSL outlets, console, progress)."""


@dataclass(frozen=True)
class LogReadResult:
    """Events read from a log, with any lines that could not be parsed."""

    events: list[Event]
    bad_lines: list[tuple[int, str]]  # (line number, reason)
    torn_tail: bool


def read_events(path: str | Path) -> LogReadResult:
    """Read every complete, valid event; report (never raise on) bad or torn lines."""
    p = Path(path)
    raw = p.read_bytes() if p.exists() else b""
    torn = bool(raw) and not raw.endswith(b"\n")
    lines = raw.split(b"\n")
    if torn or lines[-1] == b"":
        lines = lines[:-1]
    events: list[Event] = []
    bad: list[tuple[int, str]] = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(Event.from_json(line.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as e:
            bad.append((i, str(e)))
    return LogReadResult(events, bad, torn)


class EventLog:
    """The session's authoritative record; assigns ``seq`` and fans out to sinks.

    Thread-safe: the runner and the stimulation thread both append.
    """

    def __init__(self, path: str | Path, *, fsync_durable: bool = True) -> None:
        self.path = Path(path)
        self.fsync_durable = fsync_durable
        self._lock = threading.Lock()
        self._sinks: list[EventSink] = []
        self._seq = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._seq = self._recover_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _recover_tail(self) -> int:
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            torn_path = self.path.with_name(self.path.name + ".torn")
            with open(torn_path, "ab") as f:
                f.write(raw[cut:] + b"\n")
            with open(self.path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
        events = read_events(self.path).events
        return (events[-1].seq + 1) if events else 0

    @property
    def next_seq(self) -> int:
        """The ``seq`` the next event will get."""
        return self._seq

    def add_sink(self, sink: EventSink) -> None:
        """Call ``sink(event)`` for every event appended from now on."""
        self._sinks.append(sink)

    def append(self, kind: str, t: float, *, durable: bool = False, **data: Any) -> Event:
        """Write one event; with ``durable`` it is on disk (fsync) when this returns."""
        with self._lock:
            event = Event(self._seq, t, kind, data)
            line = (event.to_json() + "\n").encode("utf-8")
            written = 0
            while written < len(line):  # os.write on a regular file is whole unless disk full
                written += os.write(self._fd, line[written:])
            self._seq += 1
            fd = self._fd
        if durable and self.fsync_durable:
            # outside the lock: a pulse logged by another thread meanwhile must not wait for
            # this flush (milliseconds on a busy disk); fsync covers every write made before it
            try:
                os.fsync(fd)
            except OSError as e:
                if e.errno != errno.EBADF:  # closed meanwhile: close() flushed it already
                    raise
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception as e:  # a broken sink must never stop the record or a session
                self._sinks.remove(sink)
                # a display or stream problem, never a device fault: its own kind
                self.append("sink_error", t, sink=repr(sink), error=f"{type(e).__name__}: {e}")
        return event

    def close(self) -> None:
        """Flush to disk and close."""
        with self._lock:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        return iter(read_events(self.path).events)

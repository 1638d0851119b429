"""The one clock.

Every timestamp in mirrorvr is LSL ``local_clock()`` seconds (CLOCK_MONOTONIC on Linux), so
events from rendering, stimulation and other LSL devices line up without conversion. Simulation
swaps in :class:`SimClock`, a non-real-time clock that jumps to each deadline, so a 20-minute
plan runs in seconds and yields the same event sequence as in real time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

#: ``sleep_until`` sleeps until this long before a deadline, then spins: ``time.sleep`` was
#: measured to overshoot by up to 8 ms under load on our machines, a spin by microseconds.
SPIN_MARGIN_S = 0.002


@runtime_checkable
class Clock(Protocol):
    """A source of LSL-timebase seconds that can wait until a deadline."""

    realtime: bool

    def now(self) -> float:
        """Current time in LSL seconds."""
        ...

    def sleep_until(self, t: float) -> None:
        """Return at (or just after) time ``t``; returns at once if ``t`` has passed."""
        ...


def _lsl_local_clock() -> float:
    import pylsl  # only where the timebase is not known to be CLOCK_MONOTONIC

    return float(pylsl.local_clock())


#: LSL ``local_clock()``: the timebase of every timestamp mirrorvr writes. On Linux liblsl reads
#: ``std::chrono::steady_clock``, which is CLOCK_MONOTONIC — the same clock as
#: ``time.monotonic()`` — so we read it directly: no liblsl (and numpy) import for processes that
#: only need the time (emulators, the stimulation process), and half the cost per call.
local_clock: Callable[[], float] = (
    time.monotonic if sys.platform.startswith("linux") else _lsl_local_clock
)


class RealClock:
    """Wall-paced clock on LSL ``local_clock()`` with hybrid sleep-then-spin waits."""

    realtime = True

    def __init__(self, spin_margin_s: float = SPIN_MARGIN_S) -> None:
        self.spin_margin_s = spin_margin_s

    def now(self) -> float:
        """Current LSL time."""
        return local_clock()

    def sleep_until(self, t: float) -> None:
        """Sleep coarsely, then spin the last ``spin_margin_s`` to hit ``t`` closely."""
        while True:
            remaining = t - local_clock()
            if remaining <= 0:
                return
            if remaining > self.spin_margin_s:
                time.sleep(remaining - self.spin_margin_s)


class SimClock:
    """Non-real-time clock: ``sleep_until`` jumps straight to the deadline.

    Thread-safe, so a stimulation thread and the runner can share it; time never goes back.
    """

    realtime = False

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current simulated time."""
        with self._lock:
            return self._t

    def sleep_until(self, t: float) -> None:
        """Advance to ``t`` (never backwards)."""
        with self._lock:
            if t > self._t:
                self._t = t

    def advance(self, dt: float) -> None:
        """Advance by ``dt`` seconds (used for simulated work that takes time)."""
        with self._lock:
            self._t += max(0.0, dt)

"""The pulse scheduler: its own thread, real-time priority, sleep-then-spin to each deadline.

Jobs (one stimulation train each) run in submission order on a dedicated thread, so the session
runner keeps presenting cues while a train is being delivered. The thread asks Linux for
``SCHED_FIFO`` real-time priority; where that is not allowed it says so once (event
``scheduler``, and a Python warning) and runs at normal priority, where wake-ups under load can
be milliseconds late and more pulses end up ``pulse_missed`` instead of fired.

Waiting is hybrid: an interruptible sleep until ``spin_s`` before the deadline, then a busy
spin on CLOCK_MONOTONIC — the clock under LSL's ``local_clock()`` on Linux — so a pulse leaves
within microseconds of its deadline, and an emergency stop wakes the thread at once.

Cancelling (:meth:`PulseScheduler.cancel`) bumps an epoch: every job submitted before it is
dropped (its ``on_drop`` runs instead), the job in progress sees ``cancelled`` and stops.
"""

from __future__ import annotations

import gc
import logging
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from mirrorvr.stim.priority import PULSE_RT_PRIORITY, try_realtime

log = logging.getLogger(__name__)

#: sleep until this long before a deadline, then spin (a sleep overshoots by up to ms)
DEFAULT_SPIN_S = 0.002
#: SCHED_FIFO priority of the scheduler thread (see :mod:`mirrorvr.stim.priority`)
DEFAULT_RT_PRIORITY = PULSE_RT_PRIORITY
#: while the scheduler runs, the GIL is handed over this often at most: the scheduler thread
#: waits at most about this long for a busy Python thread to let go (Python's default is 5 ms)
GIL_SWITCH_INTERVAL_S = 0.0002

monotonic = time.monotonic  # CLOCK_MONOTONIC: the same timebase as pylsl.local_clock()


@dataclass
class Job:
    """One unit of work for the scheduler thread."""

    run: Callable[[], None]
    on_drop: Callable[[str], None]
    epoch: int = 0


class PulseScheduler:
    """A dedicated, real-time thread that runs stimulation jobs and waits precisely."""

    def __init__(
        self,
        *,
        realtime_priority: int | None = DEFAULT_RT_PRIORITY,
        spin_s: float = DEFAULT_SPIN_S,
        name: str = "mirrorvr-pulses",
    ) -> None:
        self.realtime_priority = realtime_priority
        self.spin_s = spin_s
        self.name = name
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._cancel = threading.Event()
        self._epoch = 0
        self._epoch_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.realtime = False
        self.rt_status = "not started"
        self._old_switch: float | None = None
        self.errors: list[BaseException] = []

    # ---- lifecycle ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> PulseScheduler:
        """Start the thread and wait until it has (or has not) got real-time priority."""
        if self.running:
            return self
        self._old_switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._old_switch, GIL_SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait(5.0)
        if not self.realtime and self.realtime_priority is not None:
            warnings.warn(self.rt_status, RuntimeWarning, stacklevel=2)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel whatever is pending and end the thread."""
        self.cancel("scheduler stopping")
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._old_switch is not None:
            sys.setswitchinterval(self._old_switch)
            self._old_switch = None

    def __enter__(self) -> PulseScheduler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        if self.realtime_priority is not None:
            self.realtime, why = try_realtime(self.realtime_priority)
            self.rt_status = (
                why
                if self.realtime
                else (
                    f"could not get SCHED_FIFO real-time priority ({why}); pulses run at normal "
                    "priority: expect wake-ups up to several ms late under load, and more pulses "
                    "skipped as missed. Run as root or grant CAP_SYS_NICE / an rtprio limit "
                    "(ulimit -r) to fix"
                )
            )
        else:
            self.rt_status = "real-time priority not requested"
        if not self.realtime:
            log.warning("pulse scheduler: %s", self.rt_status)
        self._ready.set()
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                if job.epoch != self._epoch:
                    job.on_drop("cancelled before it started (pause, abort or emergency stop)")
                else:
                    # no garbage-collection pause (in any thread, holding the GIL) mid-train;
                    # reference counting still frees almost everything meanwhile
                    gc_was_on = gc.isenabled()
                    gc.disable()
                    try:
                        job.run()
                    finally:
                        if gc_was_on:
                            gc.enable()
            except BaseException as e:  # never let the pulse thread die silently
                self.errors.append(e)
                log.exception("pulse scheduler job failed")
            finally:
                with self._epoch_lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    # ---- jobs ---------------------------------------------------------------------------
    def submit(self, run: Callable[[], None], on_drop: Callable[[str], None]) -> None:
        """Queue ``run`` for the scheduler thread (``on_drop`` runs instead if cancelled)."""
        with self._epoch_lock:
            self._pending += 1
            self._idle.clear()
            job = Job(run, on_drop, self._epoch)
        self._queue.put(job)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted job has finished or been dropped."""
        return self._idle.wait(timeout)

    def cancel(self, reason: str = "") -> None:
        """Drop every pending job and stop the running one at its next wait (any thread)."""
        with self._epoch_lock:
            self._epoch += 1
        self._cancel.set()

    def reset(self) -> None:
        """Accept jobs again after a cancel (the session resumed)."""
        self._cancel.clear()

    @property
    def cancelled(self) -> bool:
        """Whether a cancel is in force."""
        return self._cancel.is_set()

    # ---- precise waiting ----------------------------------------------------------------
    def wait_until(self, deadline: float, *, spin: bool = True) -> bool:
        """Return at ``deadline`` (monotonic seconds), or ``False`` at once if cancelled.

        ``spin=False``: sleep throughout (the end of a pulse width may run a little long;
        the GIL and the CPU stay free for the rest of the process meanwhile).
        """
        cancel = self._cancel
        spin_s = self.spin_s if spin else 0.0
        while True:
            if cancel.is_set():
                return False
            remaining = deadline - monotonic()
            if remaining <= 0:
                return True
            if remaining > spin_s:
                cancel.wait(remaining - spin_s)
            # else: spin — the last ``spin`` seconds are a busy loop on the clock

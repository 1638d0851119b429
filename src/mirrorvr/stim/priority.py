"""CPU priorities for the threads that must not wait: pulses, disarms, keep-alives.

On a loaded machine the kernel, not Python, decides when a thread runs. Three levels, all
optional (each needs root or CAP_SYS_NICE / an rtprio limit, and falls back quietly):

- ``SCHED_FIFO`` :data:`PULSE_RT_PRIORITY` for the pulse scheduler's thread;
- a short ``SCHED_FIFO`` boost (:func:`realtime_boost`, above the pulses) around a disarm or
  emergency stop called from an ordinary thread, so it cannot be preempted half-way;
- ``SCHED_FIFO`` :data:`KEEPALIVE_RT_PRIORITY` (below the pulses) for a stimulator's
  keep-alive thread, which sleeps nearly all the time but must wake within milliseconds —
  a starved keep-alive loses the unit's remote control (MAGIC issue #18).

Linux applies these per thread (``sched_setscheduler(0, ...)`` acts on the calling thread).

A fourth measure is machine-wide: :func:`hold_cpu_latency` asks the kernel's CPU-idle code
(PM QoS, ``/dev/cpu_dma_latency``) to keep every CPU out of idle states slower to leave than a
bound while the stimulation process lives. On the 2-core VM of docs/performance.md an idle
virtual CPU halts at once and comes back cold: the first pulse-stream push after a wait took
88 µs (median) halted and 9 µs held; it costs power (idle CPUs poll), nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: SCHED_FIFO priority (1-99) of the pulse scheduler: above ordinary threads and the
#: keep-alives, below kernel interrupt threads (50+ by default, but threaded IRQs sit at 50)
PULSE_RT_PRIORITY = 80
#: SCHED_FIFO priority of a disarm / emergency stop from an ordinary thread: above the pulses
BOOST_RT_PRIORITY = PULSE_RT_PRIORITY + 5
#: SCHED_FIFO priority of a stimulator keep-alive thread: below the pulses, above the rest
KEEPALIVE_RT_PRIORITY = 70
#: SCHED_FIFO priority of the session process's reader of the stimulation process's messages
#: (it logs each pulse and pushes it to LSL; blocked on its pipe the rest of the time)
MESSAGES_RT_PRIORITY = 60


def try_realtime(priority: int) -> tuple[bool, str]:
    """Give the calling thread SCHED_FIFO ``priority``: (granted, the OS error if not)."""
    if not hasattr(os, "sched_setscheduler"):
        return False, "real-time scheduling is not available on this OS"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as e:  # PermissionError without CAP_SYS_NICE, EINVAL out of range
        return False, str(e)
    return True, f"SCHED_FIFO priority {priority}"


@contextlib.contextmanager
def realtime_boost(priority: int = BOOST_RT_PRIORITY) -> Iterator[bool]:
    """Run the block at SCHED_FIFO ``priority`` (e.g. an emergency stop called from an ordinary
    thread, which a loaded machine could otherwise preempt mid-way); restores the old policy.
    Yields whether the boost was granted."""
    if not hasattr(os, "sched_getscheduler"):
        yield False
        return
    try:
        old_policy = os.sched_getscheduler(0)
        old_param = os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError:
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, old_policy, old_param)


#: :func:`pin_cpu`'s choice of CPU: the highest-numbered one this process may run on
LAST_CPU = -1


def last_cpu() -> int | None:
    """The CPU :data:`LAST_CPU` stands for: the highest-numbered one this thread may run on,
    or ``None`` where only one is allowed (binding would then gain nothing)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[-1] if len(allowed) > 1 else None


def pin_cpu(cpu: int | None) -> tuple[int | None, str]:
    """Bind the calling thread (and every thread it starts later) to one CPU.

    ``cpu``: a CPU number, :data:`LAST_CPU` (the highest-numbered allowed one, away from
    CPU 0, which is where boot-time housekeeping usually lands: UNVERIFIED on this VM), or
    ``None`` (no binding). On a machine with one allowed
    CPU nothing is bound. Returns ``(the CPU, what happened)`` or ``(None, why not)``.

    Why: on the 2-core VM of docs/performance.md unbound test senders saw a few post-deadline
    stalls of 100–250 µs per 400 deadlines that bound ones did not, and a bare LSL push with a
    consumer had p99 143 µs unbound, 38 µs bound (``benchmarks/lsl_push_floor.py``). In whole
    sessions the A/B runs show no consistent effect either way (the host's state dominates).
    """
    if cpu is None:
        return None, "not requested"
    if not hasattr(os, "sched_setaffinity"):
        return None, "not bound (no sched_setaffinity on this OS)"
    allowed = sorted(os.sched_getaffinity(0))
    if cpu == LAST_CPU:
        chosen = last_cpu()
        if chosen is None:
            return None, "not bound (one CPU allowed)"
        cpu = chosen
    if cpu not in allowed:
        return None, f"not bound (CPU {cpu} is not among the allowed CPUs {allowed})"
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as e:
        return None, f"not bound (CPU {cpu}: {e.strerror or e})"
    return cpu, f"bound to CPU {cpu}"


#: the kernel's CPU-latency request file (PM QoS): held open, its value binds every CPU
CPU_LATENCY_FILE = "/dev/cpu_dma_latency"


def hold_cpu_latency(max_us: int = 0, path: str = CPU_LATENCY_FILE) -> tuple[int | None, str]:
    """Ask that no CPU idles in a state taking longer than ``max_us`` µs to leave.

    The request holds while the returned file descriptor stays open (the kernel drops it when
    the process ends, however it ends): ``(fd, what happened)``; ``(None, why not)`` where the
    file is missing or not writable (root only by default). 0 keeps idle CPUs polling.
    """
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return None, f"not held ({path}: {e.strerror or e})"
    try:
        os.write(fd, struct.pack("i", max_us))  # the file takes a binary 32-bit value
    except OSError as e:
        os.close(fd)
        return None, f"not held ({path}: {e.strerror or e})"
    return fd, f"held at {max_us} µs"


def raise_thread_priority(nice: int) -> bool:
    """Lower the calling thread's nice value (Linux: per-thread nice), if permitted."""
    if nice >= 0 or not hasattr(os, "setpriority"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except OSError:
        return False
    return True


def keepalive_priority(rt_priority: int | None, nice: int) -> str:
    """Give a keep-alive thread (the caller) SCHED_FIFO ``rt_priority`` or else ``nice``.

    Returns what it got, for the driver's status and the log.
    """
    if rt_priority is not None:
        ok, why = try_realtime(rt_priority)
        if ok:
            return why
        log.debug("keep-alive: no SCHED_FIFO (%s); trying nice %d", why, nice)
    if raise_thread_priority(nice):
        return f"nice {nice}"
    return "default priority (no CAP_SYS_NICE)"

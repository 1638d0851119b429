"""Child processes leave Ctrl-C to their parent, and do not outlive it.

A terminal's Ctrl-C reaches every process of the foreground group: the display and headset
processes, the emulators and Xvfb too. They must not die (or print a KeyboardInterrupt
traceback) under the session: the session's process catches it, disarms, ends the session and
then stops its children in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator


def ignore_sigint() -> None:
    """In a child process: ignore SIGINT (the parent shuts it down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def sigint_ignored_while_starting() -> Iterator[None]:
    """Start child processes inside this block so they inherit an ignored SIGINT from the first
    instruction (Python keeps an inherited SIG_IGN); a no-op outside the main thread, where
    the child's own :func:`ignore_sigint` does it a moment later."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def die_with_parent(parent_pid: int) -> None:
    """In a child process: receive SIGTERM when the parent dies (Linux ``PR_SET_PDEATHSIG``).

    A session process killed with SIGKILL (or crashed) runs no clean-up, so its display, headset
    and stimulation processes would live on as orphans: rendering, holding the headset or the
    port. If the parent is already gone when this runs, the SIGTERM is sent at once.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def die_with_spawning_parent() -> None:
    """:func:`die_with_parent` for a process started by :mod:`multiprocessing`."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is not None and parent.pid is not None:
        die_with_parent(parent.pid)

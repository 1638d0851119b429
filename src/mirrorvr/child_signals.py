"""Child processes leave Ctrl-C to their parent.

A terminal's Ctrl-C reaches every process of the foreground group: the display and headset
processes, the emulators and Xvfb too. They must not die (or print a KeyboardInterrupt
traceback) under the session: the session's process catches it, disarms, ends the session and
then stops its children in order.
"""

from __future__ import annotations

import contextlib
import signal
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

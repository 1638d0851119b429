"""The terminal's progress bar of a session, fed by its events. It can never fail a session:
whatever goes wrong in drawing stays here (the event log already has the event)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from mirrorvr.session.clock import local_clock
from mirrorvr.session.eventlog import EventSink
from mirrorvr.session.events import Event
from mirrorvr.session.progress import SessionProgress


def _mmss(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


class ProgressDisplay:
    """``with ProgressDisplay(...) as p: opts.sinks.append(p.sink)`` around a session."""

    def __init__(self, console: Console, *, planned_s: float, blocks: int, realtime: bool) -> None:
        self.model = SessionProgress(planned_s=planned_s, blocks=blocks)
        self.realtime = realtime
        self._progress = Progress(
            TextColumn("{task.description:<36}"),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            console=console,
        )
        self._task = self._progress.add_task("starting", total=max(planned_s, 1e-9), clock="")
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def sink(self, e: Event) -> None:
        """The event sink: update the model and the bar; never raises."""
        with contextlib.suppress(Exception):
            self.model.feed(e)
            self._draw()

    def _draw(self) -> None:
        m = self.model
        # real time: the bar moves between events too (the session clock is local_clock)
        elapsed = m.elapsed(local_clock() if self.realtime and m.state == "running" else None)
        planned = m.planned_s or 1e-9
        self._progress.update(
            self._task,
            total=planned,
            completed=min(elapsed, planned),
            description=m.describe(),
            clock=f"{_mmss(elapsed)} / {_mmss(m.planned_s)}",
        )

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                self._draw()

    def __enter__(self) -> ProgressDisplay:
        self._progress.start()
        if self.realtime:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        with contextlib.suppress(Exception):
            self._draw()
            self._progress.stop()


@contextlib.contextmanager
def maybe_progress(
    console: Console, *, planned_s: float, blocks: int, realtime: bool, sinks: list[EventSink]
) -> Iterator[ProgressDisplay | None]:
    """A progress display whose sink is added to ``sinks`` when ``console`` is a terminal."""
    if not console.is_terminal:
        yield None
        return
    with ProgressDisplay(console, planned_s=planned_s, blocks=blocks, realtime=realtime) as p:
        sinks.append(p.sink)
        yield p

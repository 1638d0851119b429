"""The presenter that lets the phantom motor execution engine run while the runner waits."""

from __future__ import annotations

from typing import Any

from mirrorvr.session.pme_engine import PmeEngine
from mirrorvr.session.presenter import Answer, Presenter, ToneOutcome
from mirrorvr.session.timeline import Step

#: real time: the engine looks at the stream at least this often while the runner waits
POLL_S = 0.005


class PmePresenter:
    """A presenter that lets a :class:`PmeEngine` run while the runner waits.

    Everything else is the wrapped presenter's (attributes too: ``publish_frames`` and the
    like reach it unchanged). A presenter with a ``phantom`` attribute (the panda3d scene) is
    given the engine, so it draws the phantom as decoded on the amputated side.
    """

    def __init__(self, inner: Presenter, engine: PmeEngine) -> None:
        self.inner = inner
        self.engine = engine
        if hasattr(inner, "phantom"):
            inner.phantom = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def present(self, step: Step) -> float:
        """Present through the wrapped presenter, then tell the engine."""
        self.engine.advance(self.engine.clock.now())
        onset = self.inner.present(step)
        self.engine.on_present(step, onset)
        return onset

    def cue_tone(self) -> ToneOutcome | None:
        """The wrapped presenter's tone outcome."""
        return self.inner.cue_tone()

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """Ratings are the wrapped presenter's."""
        return self.inner.ask_rating(step, deadline)

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """Laterality answers are the wrapped presenter's."""
        return self.inner.ask_laterality(step, deadline)

    def idle(self, until: float) -> None:
        """Advance the engine, then let the wrapped presenter wait (real time: in short slices)."""
        clock = self.engine.clock
        if not clock.realtime:
            self.engine.advance(until)
            self.inner.idle(until)
            return
        while True:
            now = clock.now()
            self.engine.advance(now)
            if now >= until:
                return
            self.inner.idle(min(until, now + POLL_S))

    def close(self) -> None:
        """End the engine's block, then close the wrapped presenter."""
        try:
            self.engine.close()
        finally:
            self.inner.close()

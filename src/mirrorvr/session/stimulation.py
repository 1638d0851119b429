"""What the session runner needs of stimulation, as a protocol: ``session/`` never imports the
executors in ``stim/`` (only the :class:`~mirrorvr.stim.base.Stimulator` interface); :mod:`mirrorvr.run.stimulation` assembles what fits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from mirrorvr.session.timeline import Step
from mirrorvr.stim.base import Stimulator


class Stimulation(Protocol):
    """What the runner needs of the stimulation executor: the in-process one
    (:class:`mirrorvr.stim.executor.StimulationExecutor`) or one in its own process. Assembled
    by :mod:`mirrorvr.run.stimulation`; the runner never imports stim/ drivers or executors."""

    delivered: int
    on_fault: Callable[[str], None] | None

    @property
    def stimulator(self) -> Stimulator:
        """The device the trains go to."""
        ...

    def submit(self, step: Step, onset: float) -> None:
        """Deliver ``step`` at ``onset``."""
        ...

    def cancel(self, reason: str = "") -> None:
        """Stop what is scheduled (no e-stop)."""
        ...

    def halt(self, reason: str) -> None:
        """Stop at once and disarm."""
        ...

    def estop(self, cause: str) -> None:
        """Emergency stop: disarm first, then log it."""
        ...

    def resume(self) -> None:
        """Accept trains again after an e-stop or pause."""
        ...

    def pause_for_fault(self, cause: str) -> str | None:
        """Disarm for a device-fault pause and log the outcome; or why that cannot be safe."""
        ...

    def reconnect(self) -> str | None:
        """Try to bring a faulted stimulator back (disarmed); ``None``: it answers again."""
        ...

    def recheck(self, today: dt.date, pulses_today: int = 0) -> list[str]:
        """The governor's problems with the rest of the plan (empty: may go on)."""
        ...

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no train is running; ``False`` on timeout."""
        ...

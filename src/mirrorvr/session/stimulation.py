"""What the session runner needs of stimulation, as protocols: ``session/`` never imports the
drivers or executors in ``stim/``; :mod:`mirrorvr.run.stimulation` assembles what fits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

from mirrorvr.session.timeline import Step


class StimulatorControl(Protocol):
    """What the runner does to the stimulator itself: arm before, disarm after."""

    @property
    def kind(self) -> str:
        """The device kind (for the log)."""
        ...

    def arm(self) -> None:
        """Arm (charge) the device."""
        ...

    def disarm(self) -> None:
        """Disarm the device."""
        ...

    def status(self) -> Any:
        """The device's status (``connected``, ``armed``, …)."""
        ...


class Stimulation(Protocol):
    """What the runner needs of the stimulation executor: the in-process one
    (:class:`mirrorvr.stim.executor.StimulationExecutor`) or one in its own process. Assembled
    by :mod:`mirrorvr.run.stimulation`; the runner never imports stim/ drivers or executors."""

    delivered: int
    on_fault: Callable[[str], None] | None

    @property
    def stimulator(self) -> StimulatorControl:
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

    def recheck(self, today: dt.date, pulses_today: int = 0) -> list[str]:
        """The governor's problems with the rest of the plan (empty: may go on)."""
        ...

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no train is running; ``False`` on timeout."""
        ...

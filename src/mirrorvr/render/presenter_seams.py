"""What :class:`~mirrorvr.render.presenter.PandaPresenter` is handed and talks to: its options,
the session runner's controls, the phantom motor execution view and a remote runner's status."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mirrorvr.tracking.skeleton import HandParams


class PhantomView(Protocol):
    """What the scene needs from phantom motor execution (``mirrorvr.session.pme.PmeEngine``)."""

    def phantom_at(self, t: float) -> HandParams | None:
        """The phantom's posture at display time ``t`` (``None``: show the mirror image)."""
        ...

    def target_params(self) -> HandParams | None:
        """The current task's target posture, if any."""
        ...


@dataclass
class RemoteStatus:
    """What the overlay shows of a runner in another process (updated with each step)."""

    state: str = ""
    pulses_delivered: int | None = None


class SessionControl(Protocol):
    """Who the display hands the therapist's keys and lost tracking to (the session runner)."""

    def pause(self, reason: str = ...) -> None:
        """Pause before the next step."""
        ...

    def estop(self, cause: str) -> None:
        """Emergency stop: disarm at once, then pause."""
        ...

    def resume(self) -> None:
        """Continue after a pause."""
        ...


@dataclass
class PresenterOptions:
    """Frame pacing and capture."""

    fps: float = 90.0
    #: simulated clock: render at least one frame every this many seconds between steps
    #: (``frame_every_s`` instead when frames are written, so none are missing)
    stride_s: float = 0.5
    #: write PNG frames here (every presented step's first frame, and one per ``frame_every_s``)
    frames_dir: Path | None = None
    frame_every_s: float = 0.2
    #: the simulated patient answers with key presses (False: only a person's keyboard)
    simulated_input: bool = True
    #: the therapist's overlay (state, cue, tracking, pulses, keys) over the patient's view;
    #: ``None``: in a window (the preview) only, never in offscreen frames
    therapist_overlay: bool | None = None

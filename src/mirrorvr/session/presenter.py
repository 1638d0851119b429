"""The display seam: how the runner shows cues and asks the patient for answers.

A presenter shows a step and returns its *onset*: the display time of the first frame that
shows it, on the LSL clock (not the moment code ran). Answers come back with their own LSL
time. The panda3d scene (window, offscreen) and the OpenXR headset implement this protocol; the
:class:`HeadlessPresenter` here has no display.

Who answers is an :class:`Answering` given to the presenter: in simulation the simulated patient
(:class:`mirrorvr.sim.patient.SimulatedPatient`); in a real session nobody stands in for the
patient (``None``): the display's own input answers, and a headless real session gets none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from mirrorvr.session.clock import Clock
from mirrorvr.session.timeline import Step


class Answering(Protocol):
    """Something that answers the session's questions in place of a patient (simulation)."""

    def pain_rating(self, timepoint: str) -> tuple[int, float]:
        """(NRS 0-10, seconds taken to answer)."""
        ...

    def laterality_answer(self, side: str, angle_deg: int) -> tuple[str, float]:
        """(answered side, seconds taken to answer)."""
        ...

    def embodiment_rating(self, item: str) -> tuple[int, float]:
        """(agreement 0-10 with embodiment statement ``item``, seconds taken to answer)."""
        ...


@dataclass(frozen=True)
class Answer:
    """A patient's answer: a rating value or a laterality side, with its LSL time."""

    value: int | str
    t: float


@dataclass(frozen=True)
class ToneOutcome:
    """Whether a cue's tone was played, and when it was started (LSL time), or why not."""

    played: bool
    t: float | None = None
    reason: str = ""

    def to_event(self) -> dict[str, object]:
        """The fields a cue event's ``tone`` object gets (``played``, ``t`` or ``reason``)."""
        if self.played:
            return {"played": True, "t": self.t}
        return {"played": False, "reason": self.reason}


class Presenter(Protocol):
    """What a display backend offers the session runner."""

    def present(self, step: Step) -> float:
        """Show ``step`` (cue, window, rest, trial...); returns its onset on the LSL clock."""
        ...

    def cue_tone(self) -> ToneOutcome | None:
        """The tone of the step just presented (``None`` if it asked for none: no ``tone``
        in its data)."""
        ...

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """Ask for a 0–10 rating; ``None`` if unanswered by ``deadline``."""
        ...

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """Show a laterality stimulus (already presented) and wait for left/right."""
        ...

    def idle(self, until: float) -> None:
        """Keep the display alive until LSL time ``until`` (render frames, poll input)."""
        ...

    def close(self) -> None:
        """Release the display."""
        ...


class HeadlessPresenter:
    """No display: onset is the clock's time; ``patient`` (if any) answers."""

    def __init__(self, clock: Clock, patient: Answering | None) -> None:
        self.clock = clock
        self.patient = patient
        self._tone: ToneOutcome | None = None

    def present(self, step: Step) -> float:
        """Nothing to draw: the onset is now."""
        self._tone = (
            ToneOutcome(False, reason="no display (cue tones play with a real-time display)")
            if "tone" in step.data
            else None
        )
        return self.clock.now()

    def cue_tone(self) -> ToneOutcome | None:
        """Headless sessions play no tones: a tone asked for is reported as not played."""
        return self._tone

    def ask_rating(self, step: Step, deadline: float) -> Answer | None:
        """The simulated patient answers after a reaction time (or misses the deadline)."""
        if self.patient is None:  # no display and nobody to answer: the prompt times out
            self.clock.sleep_until(deadline)
            return None
        if step.kind == "embodiment":
            value, rt = self.patient.embodiment_rating(str(step.data["item"]))
        else:
            value, rt = self.patient.pain_rating(str(step.data.get("timepoint", "")))
        t = self.clock.now() + rt
        if t > deadline:
            self.clock.sleep_until(deadline)
            return None
        self.clock.sleep_until(t)
        return Answer(value, t)

    def ask_laterality(self, step: Step, deadline: float) -> Answer | None:
        """The simulated patient judges the hand's side."""
        if self.patient is None:
            self.clock.sleep_until(deadline)
            return None
        side, rt = self.patient.laterality_answer(
            str(step.data["side"]), int(step.data["angle_deg"])
        )
        t = self.clock.now() + rt
        if t > deadline:
            self.clock.sleep_until(deadline)
            return None
        self.clock.sleep_until(t)
        return Answer(side, t)

    def idle(self, until: float) -> None:
        """Wait on the clock: in real time by sleeping only — the runner's polls need no
        microsecond precision, and a spin would hold the GIL that the thread logging each
        pulse needs."""
        if self.clock.realtime:
            time.sleep(max(0.0, until - self.clock.now()))
        else:
            self.clock.sleep_until(until)

    def close(self) -> None:
        """Nothing to release."""

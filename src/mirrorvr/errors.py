"""Errors a person can act on.

Every error mirrorvr shows to a user says *what* went wrong, *where* (file, field or port) and,
where it can, *what to do*. The CLI prints them without a traceback and exits with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input: where it is and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class MirrorVRError(Exception):
    """Base class for errors reported to the user without a traceback."""


class PlanError(MirrorVRError):
    """A session plan could not be loaded or is invalid; holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DeviceError(MirrorVRError):
    """A device is missing, does not answer, or is not the device expected."""


class SafetyRefusal(MirrorVRError):
    """The safety governor refused stimulation; ``reason`` is written for a therapist."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SessionError(MirrorVRError):
    """A session folder is missing, unreadable, or cannot be resumed."""

"""What phantom motor execution takes in: the EMG feed, the simulated patient, calibration data.

:class:`EmgFeed` (multichannel EMG on the session's clock) and :class:`PmePatient` (the
simulated patient's side) are the protocols the engine (:mod:`mirrorvr.session.pme_engine`)
is given per block by a :data:`FeedFactory`; :func:`settings_of` reads a block's decoder
settings; ``_Calibration`` collects the labelled windows the decoder is fitted on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from mirrorvr.config.plan import PhantomMotorExecutionBlock
from mirrorvr.decoding.decoder import DecoderSettings, FeatureRows


class EmgFeed(Protocol):
    """Multichannel EMG in µV on the session's clock."""

    fs: float
    channels: int

    def poll(self, until: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Samples not handed out yet, up to ``until`` (real time: whatever has arrived)."""
        ...

    def problem(self) -> str | None:
        """Why the stream cannot be used right now (lost, stalled), or ``None``."""
        ...

    def close(self) -> None:
        """Release the stream."""
        ...


class PmePatient(Protocol):
    """The simulated patient's side of PME (a real patient needs no object)."""

    def cued(self, motion: str, onset: float, duration: float, choices: list[str]) -> str:
        """Execute a cued motion for a contraction window (returns what was executed)."""
        ...

    def act(self, motion: str, t: float, level: float | None = None) -> None:
        """Switch to ``motion`` at ``t`` (closed loop)."""
        ...


#: makes the EMG feed (and, in simulation, the patient) of a PME block
FeedFactory = Callable[[int, PhantomMotorExecutionBlock], tuple[EmgFeed, PmePatient | None]]


def settings_of(block: PhantomMotorExecutionBlock) -> DecoderSettings:
    """Decoder settings from a block's ``decoding`` table."""
    d = block.decoding
    return DecoderSettings(
        window_s=d.window_ms / 1000.0,
        increment_s=d.increment_ms / 1000.0,
        features=tuple(d.features),
        threshold_uv=d.count_threshold_uv,
        vote=d.vote,
        shrinkage=d.shrinkage,
    )


@dataclass
class _Calibration:
    """Labelled spans and the windows that fell inside them."""

    spans: list[tuple[str, float, float, int]] = field(default_factory=list)
    x: list[NDArray[np.float64]] = field(default_factory=list)
    activity: list[NDArray[np.float64]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)

    def take(self, rows: FeatureRows) -> None:
        for label, t0, t1, group in self.spans:
            sel = (rows.t >= t0) & (rows.t <= t1)
            n = int(sel.sum())
            if n:
                self.x.append(rows.x[sel])
                self.activity.append(rows.activity[sel])
                self.labels += [label] * n
                self.groups += [group] * n

    def rows(self, width: int) -> FeatureRows:
        x = np.concatenate(self.x) if self.x else np.zeros((0, width))
        a = np.concatenate(self.activity) if self.activity else np.zeros(0)
        return FeatureRows(np.zeros(len(a)), x, a)

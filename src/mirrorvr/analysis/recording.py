"""What the loader returns: a recording as typed tables (pandas) plus sampled signals.

Event-like data (cues, pulses, ratings, laterality trials, foreign markers) are small and become
:class:`pandas.DataFrame` tables with fixed columns. Sampled streams (poses, frames, EMG, EEG)
can be large — a 60-minute session holds hundreds of MB of pose data — so they stay as numpy
arrays in a :class:`Signal`, whose :meth:`Signal.frame` gives a DataFrame view on demand.
All times are LSL seconds on the recording machine's clock (after clock synchronisation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirrorvr.config.plan import SessionPlan

#: columns of each event table (always present, possibly empty)
EVENT_COLUMNS = ["seq", "t", "kind", "step", "block", "data"]
PULSE_COLUMNS = ["t", "planned", "error_s", "step", "train", "i", "phase", "intensity_pct_mso"]
MISSED_COLUMNS = ["t", "planned", "late_s", "step", "train", "i", "phase"]
CUE_COLUMNS = ["t", "planned", "step", "movement", "exercise", "repetition"]
RATING_COLUMNS = ["t", "timepoint", "value", "rt_s"]
LATERALITY_COLUMNS = ["t", "trial", "side", "angle_deg", "view", "answer", "correct", "rt_s"]
MARKER_COLUMNS = ["stream", "t", "value"]
STREAM_COLUMNS = [
    "stream_id",
    "name",
    "type",
    "role",
    "channel_count",
    "channel_format",
    "nominal_srate",
    "effective_srate",
    "can_drop_samples",
    "n_samples",
    "first_t",
    "last_t",
    "n_clock_offsets",
]


@dataclass
class Signal:
    """One sampled stream: timestamps (n,), data (n, channels), channel labels and units.

    A signal may be *lazy* (``loader`` set and ``data`` None at construction): its values are
    read from the file on first access to ``data`` — analysis that needs only timestamps
    (gaps, frame times of a pose stream) never reads an hour of pose values.
    """

    name: str
    type: str
    timestamps: np.ndarray
    data: np.ndarray
    channels: list[str]
    units: list[str]
    nominal_srate: float = 0.0
    effective_srate: float = 0.0
    can_drop_samples: bool = False
    stream_id: int = 0
    clock_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    clock_values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    desc: dict[str, Any] = field(default_factory=dict)
    loader: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)
    #: reads samples ``a:b`` only (a lazy signal whose file allows it)
    row_reader: Callable[[int, int], np.ndarray] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.__dict__.get("data") is None:
            if self.loader is None:
                raise ValueError(f"signal {self.name!r}: give data or a loader")
            del self.__dict__["data"]  # __getattr__ reads it on first use

    def __getattr__(self, name: str) -> Any:
        if name == "data":
            loader = self.__dict__.get("loader")
            if loader is not None:
                data = np.asarray(loader())
                self.__dict__["data"] = data
                return data
        raise AttributeError(name)

    def rows(self, a: int, b: int) -> np.ndarray:
        """Samples ``a:b`` (all channels): from memory if loaded, else only the part of the
        file that holds them."""
        if "data" in self.__dict__ or self.row_reader is None:
            return self.data[a:b]
        return self.row_reader(a, b)

    @property
    def loaded(self) -> bool:
        """False while a lazy signal's values have not been read."""
        return "data" in self.__dict__

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def frame(self) -> pd.DataFrame:
        """The samples as a DataFrame: column ``t`` then one column per channel."""
        df = pd.DataFrame(self.data, columns=self.channels, copy=False)
        df.insert(0, "t", self.timestamps)
        return df

    def channel(self, label: str) -> np.ndarray | None:
        """One channel's values by label, or None (a lazy signal stays unread if it has no
        such channel)."""
        if label not in self.channels:
            return None
        return self.data[:, self.channels.index(label)]


@dataclass
class Recording:
    """A loaded session folder or XDF file."""

    source: Path
    kind: str  # "session" | "xdf"
    session_id: str
    t0: float  # recording start: the session_start event, else the earliest sample
    events: pd.DataFrame
    pulses: pd.DataFrame
    missed: pd.DataFrame
    cues: pd.DataFrame
    ratings: pd.DataFrame
    laterality: pd.DataFrame
    markers: pd.DataFrame
    streams: pd.DataFrame
    poses: dict[str, Signal] = field(default_factory=dict)
    frames: Signal | None = None
    emg: dict[str, Signal] = field(default_factory=dict)
    other: dict[str, Signal] = field(default_factory=dict)
    #: per stream (every XDF stream, markers included): (collection times, offset values) in s
    clock_offsets: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    plan: SessionPlan | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: damage found while loading, by kind (truncated, corrupt, no_footer, clock_reset,
    #: time_jump, log_mismatch, log_fallback); each is in ``warnings`` too
    damage: list[tuple[str, str]] = field(default_factory=list)

    @property
    def patient(self) -> str | None:
        """Pseudonymous patient id, if known."""
        if self.plan is not None:
            return self.plan.patient.id
        return self.meta.get("patient")

    @property
    def duration(self) -> float:
        """Seconds from the recording start to the last event or sample."""
        ends = [float(self.events["t"].max())] if len(self.events) else []
        ends += [float(s.timestamps[-1]) for s in self.signals() if len(s)]
        return (max(ends) - self.t0) if ends else 0.0

    def signals(self) -> list[Signal]:
        """Every sampled stream."""
        out = list(self.poses.values()) + list(self.emg.values()) + list(self.other.values())
        return out + ([self.frames] if self.frames is not None else [])

    def of_kind(self, kind: str) -> pd.DataFrame:
        """Events of one kind (empty table if none)."""
        return self.events[self.events["kind"] == kind]

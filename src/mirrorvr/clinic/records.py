"""Plain records the clinic store returns (read-only snapshots of rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Side = Literal["left", "right"]


@dataclass(frozen=True)
class Patient:
    """A patient, known only by a pseudonymous id."""

    id: str
    amputation_side: Side
    amputation_level: str
    amputation_date: dt.date | None
    notes: str
    created: str


@dataclass(frozen=True)
class Screening:
    """TMS screening answers on one date: ``True`` yes, ``False`` no, ``None`` not asked."""

    id: int
    patient_id: str
    date: dt.date
    answers: dict[str, bool | None]
    cleared_by: str
    notes: str

    @property
    def yes_items(self) -> list[str]:
        """Items answered yes (each needs a physician's decision)."""
        return [k for k, v in self.answers.items() if v is True]


@dataclass(frozen=True)
class ThresholdRecord:
    """A resting motor threshold measurement."""

    id: int
    patient_id: str
    date: dt.date
    rmt_pct_mso: float
    method: str


@dataclass(frozen=True)
class SessionRecord:
    """A session: its plan, folder and what its event log says happened."""

    id: int
    patient_id: str
    date: dt.date
    plan_name: str
    folder: str
    status: str
    pulses_planned: int
    pulses_delivered: int | None
    estops: int | None
    deviations: list[str]
    notes: str
    adverse_events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Rating:
    """A pain rating with its timepoint label (raw score; everything else is derived)."""

    id: int
    patient_id: str
    session_id: int | None
    date: dt.date
    timepoint: str
    scale: str
    value: float
    items: dict[str, float] | None
    source: str

    @property
    def nrs(self) -> float:
        """The value on the 0-10 scale (VAS mm / 10)."""
        return self.value / 10.0 if self.scale == "vas" else self.value

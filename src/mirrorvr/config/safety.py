"""The clinic's safety profile, its signed overrides, and the TMS safety screening."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from mirrorvr.config.base import PositiveSeconds, Seconds, _Model

LoosenableLimit = Literal[
    "max_intensity_pct_rmt",
    "max_intensity_pct_mso",
    "max_pulses_per_session",
    "max_pulses_per_day",
    "max_threshold_age_days",
    "max_screening_age_days",
    "min_intertrain_interval_s",
    "min_single_pulse_interval_s",
    "train_table_scale",
    "max_train_duration_s",
    "tbs_max_intensity_pct_rmt",
    "tbs_max_pulses_per_burst",
    "tbs_max_burst_frequency_hz",
    "tbs_min_burst_interval_s",
    "tbs_max_train_duration_s",
    "tbs_max_pulses_per_session",
    "allow_visual_threshold",
]


class SafetyOverride(_Model):
    """An explicit, signed loosening of one limit beyond the project baseline.

    ``max_train_duration_s`` overrides the train-duration table at one frequency (``frequency_hz``)
    for intensities up to ``up_to_pct_rmt``; every other rule replaces the profile's value with
    ``value``. Overrides are listed in the session log (event ``safety_override``).
    """

    rule: LoosenableLimit
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    frequency_hz: Annotated[float, Field(gt=0)] | None = None
    up_to_pct_rmt: Annotated[float, Field(gt=0, le=150)] | None = None
    reason: str = Field(min_length=10)
    approved_by: str = Field(min_length=2)
    approved_on: dt.date

    @model_validator(mode="after")
    def _scoped(self) -> SafetyOverride:
        if self.rule == "max_train_duration_s" and (
            self.frequency_hz is None or self.up_to_pct_rmt is None
        ):
            raise ValueError(
                "a max_train_duration_s override needs frequency_hz and up_to_pct_rmt "
                "(which table cell it replaces)"
            )
        return self


class SafetyProfile(_Model):
    """Limits a clinic sets; the governor enforces them.

    The defaults are the project baseline (see docs/safety.md for each value's source). A clinic
    may tighten any of them here; setting a looser value is refused unless an entry in
    ``overrides`` names the rule, the new value, the reason and who approved it, and when.
    """

    name: str = "default"
    max_intensity_pct_rmt: Annotated[float, Field(gt=0, le=150)] = 120.0
    max_intensity_pct_mso: Annotated[float, Field(gt=0, le=100)] = 100.0
    max_pulses_per_session: Annotated[int, Field(ge=0)] = 3000
    max_pulses_per_day: Annotated[int, Field(ge=0)] = 3000
    max_threshold_age_days: Annotated[int, Field(ge=0)] = 0  # 0 = must be measured today
    #: screening questionnaire age: a screening covers a course (the clinic store's default
    #: validity); a clinic wanting VERIFY-style screening on the day sets 0
    max_screening_age_days: Annotated[int, Field(ge=0)] = 90
    #: last pulse of a train to first pulse of the next (Chen 1997 tested 5 s as safe)
    min_intertrain_interval_s: Seconds = 5.0
    #: single / paired pulses (and cue-locked pulses) may not come closer than this
    min_single_pulse_interval_s: Seconds = 1.0
    #: multiplies every train-duration table cell; < 1 tightens (e.g. 0.75 per Chen 1997)
    train_table_scale: Annotated[float, Field(gt=0, le=10)] = 1.0
    tbs_max_intensity_pct_rmt: Annotated[float, Field(gt=0, le=150)] = 80.0
    tbs_max_pulses_per_burst: Annotated[int, Field(ge=1, le=10)] = 3
    tbs_max_burst_frequency_hz: Annotated[float, Field(gt=0, le=100)] = 50.0
    tbs_min_burst_interval_s: PositiveSeconds = 0.2
    tbs_max_train_duration_s: PositiveSeconds = 40.0
    tbs_max_pulses_per_session: Annotated[int, Field(ge=0)] = 600
    #: rTMS dosing from a visually judged threshold (Westin 2014: 11 % too high on average)
    allow_visual_threshold: bool = False
    overrides: list[SafetyOverride] = Field(default_factory=list)


class ScreeningPositive(_Model):
    """A screening question answered "yes", and the physician's decision on it."""

    item: str = Field(min_length=1)
    #: the responsible physician's decision (e.g. "implant is MR-conditional; TMS allowed")
    decision: str = ""
    cleared_by: str = ""

    @property
    def resolved(self) -> bool:
        """A positive counts as resolved only with a decision and who made it."""
        return bool(self.decision.strip() and self.cleared_by.strip())


class Screening(_Model):
    """The TMS safety screening questionnaire for this session (e.g. Rossi 2009/2011)."""

    questionnaire: str = "TMS safety screening (Rossi et al. 2009, updated 2011)"
    completed_on: dt.date
    completed_by: str = Field(min_length=2)
    positives: list[ScreeningPositive] = Field(default_factory=list)

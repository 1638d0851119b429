"""The console API's request bodies (validated by pydantic)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class NewPatient(BaseModel):
    """Register a patient."""

    id: str
    amputation_side: str
    amputation_level: str = "transradial"
    amputation_date: dt.date | None = None
    notes: str = ""


class ScreeningIn(BaseModel):
    """A screening questionnaire: yes (true), no (false) or not asked (null) per item."""

    answers: dict[str, bool | None]
    cleared_by: str = ""
    notes: str = ""


class ThresholdIn(BaseModel):
    """A resting motor threshold measured today."""

    rmt_pct_mso: float
    method: str = "5-10"


class RatingIn(BaseModel):
    """A rating entered by the therapist."""

    value: float
    timepoint: str
    scale: str = "nrs"
    session_id: int | None = None
    items: dict[str, float] | None = None


class GmiIn(BaseModel):
    """A GMI stage change."""

    stage: str
    change: str
    reason: str = ""


class PlanIn(BaseModel):
    """The plan editor's fields: a preset and the therapist's changes to it."""

    patient_id: str
    preset: str
    intensity_pct_rmt: float | None = None
    stage: str | None = Field(
        default=None, description="GMI stage exercises instead of the preset's"
    )


class NotesIn(BaseModel):
    """Post-session notes."""

    notes: str


class AdverseEventIn(BaseModel):
    """An adverse event."""

    description: str
    severity: str
    relatedness: str = "unknown"
    action: str = ""


# ---- the app ----------------------------------------------------------------------------------

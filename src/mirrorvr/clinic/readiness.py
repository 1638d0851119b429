"""The safety governor's inputs from the clinic store, and a plan fitted to a patient.

Before a session the governor needs three facts the plan file cannot know: how many pulses the
patient already had today, the latest motor threshold (value, method, date) and whether the
patient's TMS screening clears them. This module reads them from the store, puts the patient and
their threshold into the plan, and lists every reason the session may not start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mirrorvr.clinic.appearance import Appearance, get_appearance
from mirrorvr.clinic.records import Patient, Screening, ThresholdRecord
from mirrorvr.clinic.screening import ScreeningStatus, screening_status
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import plan_from_dict
from mirrorvr.config.plan import LOWER_LEVELS, UPPER_LEVELS, SessionPlan
from mirrorvr.errors import PlanError, Problem
from mirrorvr.session.timeline import compile_timeline
from mirrorvr.stim import governor


@dataclass(frozen=True)
class GovernorInputs:
    """What the store tells the governor about a patient on a given day."""

    patient: Patient
    day: dt.date
    pulses_today: int
    threshold: ThresholdRecord | None
    screening: ScreeningStatus
    #: the screening itself, copied into the plan for the governor's own screening rule
    screening_record: Screening | None = None
    #: how the patient's virtual limbs look (not a safety input: carried into the plan's scene)
    appearance: Appearance | None = None
    #: the patient's last stored midline (point, normal), for ``tracking.midline = "stored"``
    midline: tuple[float, ...] | None = None


def governor_inputs(
    store: ClinicStore, patient_id: str, day: dt.date | None = None
) -> GovernorInputs:
    """Read the governor's inputs for ``patient_id`` on ``day`` (default today)."""
    day = day or dt.date.today()
    patient = store.patient(patient_id)
    record = store.latest_screening(patient_id)
    return GovernorInputs(
        patient=patient,
        day=day,
        pulses_today=store.pulses_today(patient_id, day),
        threshold=store.latest_threshold(patient_id),
        screening=screening_status(record, day),
        screening_record=record,
        midline=store.latest_midline(patient_id),
        appearance=get_appearance(store, patient_id),
    )


def plan_for_patient(plan: SessionPlan, inputs: GovernorInputs) -> SessionPlan:
    """``plan`` with the patient's reference and latest motor threshold from the store.

    The plan file's own patient and threshold are replaced: the store is where a clinic keeps
    them. A stimulating plan for a patient without a threshold on record is refused here.
    """
    data = plan.model_dump(mode="json", exclude_none=True)
    p = inputs.patient
    # the plan says which limb its exercises are for; a level of the other limb reads "other"
    limb = plan.patient.limb
    levels = UPPER_LEVELS if limb == "upper" else LOWER_LEVELS
    data["patient"] = {
        "id": p.id,
        "amputation_side": p.amputation_side,
        "limb": limb,
        "amputation_level": p.amputation_level if p.amputation_level in levels else "other",
    }
    tracking = data.get("tracking", {})
    if tracking.get("midline") == "stored" and inputs.midline is not None:
        tracking["midline_plane"] = list(inputs.midline)  # the store's plane wins
        data["tracking"] = tracking
    stim = data.setdefault("stimulation", {})
    if "threshold_estimate" in stim:
        # measured at the start of this session: a threshold on record is not used for dosing
        stim.pop("motor_threshold", None)
    elif inputs.threshold is not None:
        stim["motor_threshold"] = {
            "rmt_pct_mso": inputs.threshold.rmt_pct_mso,
            "measured_on": inputs.threshold.date.isoformat(),
            "method": inputs.threshold.method,
        }
    elif stim.get("mode", "none") != "none":
        raise PlanError(
            [
                Problem(
                    "motor_threshold",
                    f"no motor threshold on record for {p.id}: measure and record it first",
                )
            ]
        )
    if inputs.appearance is not None:
        data["scene"] = {**data.get("scene", {}), **inputs.appearance.scene_overrides()}
    s = inputs.screening_record
    if s is not None:
        # the governor checks the plan's screening too (date, every "yes" signed off)
        data["screening"] = {
            "questionnaire": "mirrorvr clinic screening",
            "completed_on": s.date.isoformat(),
            "completed_by": s.cleared_by or "clinic store",
            "positives": [
                {"item": k, "decision": "weighed and cleared", "cleared_by": s.cleared_by}
                for k in s.yes_items
            ],
        }
    return plan_from_dict(data, "plan")


def readiness_problems(plan: SessionPlan, inputs: GovernorInputs) -> list[Problem]:
    """Every reason ``plan`` may not start for this patient today (empty = it may)."""
    problems: list[Problem] = []
    timeline = compile_timeline(plan)
    stimulating = plan.stimulation.mode != "none" and timeline.total_pulses > 0
    if stimulating:
        if not inputs.screening.cleared:
            problems.append(Problem("screening", inputs.screening.reason))
        if plan.stimulation.threshold_estimate is not None:
            pass  # measured from EMG at the start of this session (docs/motor-threshold.md)
        elif inputs.threshold is None:
            problems.append(Problem("motor_threshold", "no motor threshold on record: measure it"))
        elif inputs.threshold.method == "visual":
            problems.append(
                Problem(
                    "motor_threshold.method",
                    "a visually judged threshold averages 11 % above the EMG threshold the "
                    "safety limits assume (Westin 2014): measure it with EMG",
                )
            )
    problems += governor.check_plan(
        plan, timeline, today=inputs.day, pulses_today=inputs.pulses_today
    )
    return problems


def fit_and_check(
    plan: SessionPlan, store: ClinicStore, patient_id: str, day: dt.date | None = None
) -> tuple[SessionPlan, GovernorInputs]:
    """The plan fitted to the patient, or a PlanError listing every reason it may not run."""
    inputs = governor_inputs(store, patient_id, day)
    fitted = plan_for_patient(plan, inputs)
    problems = readiness_problems(fitted, inputs)
    if problems:
        raise PlanError(problems)
    return fitted, inputs

"""TMS screening before a course: questionnaire items and whether a patient is cleared.

The items paraphrase the topics of commonly used TMS safety screens (Rossi et al. 2009/2011,
VERIFY-style checklists). Their exact wording is not verified in our references
(``tms-safety.md`` §4): a clinic must check them against its own approved form. A "yes" is not
an absolute contraindication: a physician weighs it and their name is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.records import Screening

#: item key -> question shown to the therapist
ITEMS: dict[str, str] = {
    "epilepsy": "Epilepsy, or ever had a seizure or convulsion?",
    "fainting": "Ever fainted or had syncope? If so, was a cause found?",
    "head_injury": "Serious head injury with loss of consciousness?",
    "hearing": "Hearing problems or ringing in the ears?",
    "pregnant": "Pregnant, or could be pregnant?",
    "metal_head": "Metal in the brain, skull or spine (not dental fillings)?",
    "implants": "Cochlear implant, pacemaker, deep-brain or other implanted stimulator?",
    "medication": "Taking medication that acts on the brain (e.g. antidepressants)?",
    "previous_tms": "Any problem with TMS before?",
    "previous_mri": "Any problem with MRI before?",
    "neurosurgery": "Brain surgery, a shunt or a skull defect?",
    "headache": "Frequent or severe headaches?",
    "other_neuro": "Any other brain-related condition (stroke, tumour, infection)?",
}

#: A screening stays valid this many days unless a clinic sets otherwise (rescreen per course).
DEFAULT_VALIDITY_DAYS = 90


def check_answers(answers: Mapping[str, bool]) -> None:
    """Every item answered with yes/no, and no unknown items."""
    unknown = set(answers) - set(ITEMS)
    if unknown:
        raise StoreError(f"unknown screening items: {', '.join(sorted(unknown))}")
    missing = [k for k in ITEMS if k not in answers]
    if missing:
        raise StoreError(f"screening incomplete: answer {', '.join(missing)}")
    bad = [k for k, v in answers.items() if not isinstance(v, bool)]
    if bad:
        raise StoreError(f"screening answers must be yes/no: {', '.join(bad)}")


@dataclass(frozen=True)
class ScreeningStatus:
    """Whether stimulation may be offered on a date, and why not."""

    cleared: bool
    reason: str


def screening_status(
    s: Screening | None, today: dt.date, validity_days: int = DEFAULT_VALIDITY_DAYS
) -> ScreeningStatus:
    """Cleared if screened within ``validity_days`` and every "yes" was weighed by a physician."""
    if s is None:
        return ScreeningStatus(False, "no TMS screening on record: record one first")
    age = (today - s.date).days
    if age < 0:
        return ScreeningStatus(False, f"the screening is dated {s.date}, in the future")
    if age > validity_days:
        return ScreeningStatus(
            False, f"the screening of {s.date} is {age} days old (valid {validity_days}): rescreen"
        )
    if s.yes_items and not s.cleared_by.strip():
        return ScreeningStatus(
            False,
            f"'yes' to {', '.join(s.yes_items)}: a physician must weigh it and be named as "
            "clearing the patient",
        )
    who = f", cleared by {s.cleared_by}" if s.cleared_by else ""
    return ScreeningStatus(True, f"screened {s.date}{who}")

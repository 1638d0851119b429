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


#: how an answer is written: yes, no, or not asked (``None``); nothing else counts as answered
ANSWER_WORDS = {"yes": True, "no": False, "not asked": None, "not_asked": None}


def check_answers(answers: Mapping[str, bool | None]) -> dict[str, bool | None]:
    """Every item as yes (True), no (False) or not asked (None); refuses an empty form.

    An item missing from ``answers`` was not asked. A form may be recorded with items not asked
    (the patient is then not cleared, and the status names them), but not with none answered.
    """
    unknown = set(answers) - set(ITEMS)
    if unknown:
        raise StoreError(f"unknown screening items: {', '.join(sorted(unknown))}")
    bad = [k for k, v in answers.items() if v is not None and not isinstance(v, bool)]
    if bad:
        raise StoreError(f"screening answers must be yes, no or not asked: {', '.join(bad)}")
    full = {k: answers.get(k) for k in ITEMS}
    if all(v is None for v in full.values()):
        raise StoreError(
            "an empty screening form: no question was answered. Ask every question and record "
            "yes or no for each (a form of 'not asked' cannot clear a patient)"
        )
    return full


def not_asked(answers: Mapping[str, bool | None]) -> list[str]:
    """Items without a yes/no answer (missing or ``None``)."""
    return [k for k in ITEMS if answers.get(k) is None]


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
    missing = not_asked(s.answers)
    if missing:
        return ScreeningStatus(
            False,
            f"not asked: {', '.join(missing)} ({len(missing)} of {len(ITEMS)} questions): "
            "every question needs a yes or no answer",
        )
    if s.yes_items and not s.cleared_by.strip():
        return ScreeningStatus(
            False,
            f"'yes' to {', '.join(s.yes_items)}: a physician must weigh it and be named as "
            "clearing the patient",
        )
    who = f", cleared by {s.cleared_by}" if s.cleared_by else ""
    return ScreeningStatus(True, f"screened {s.date}{who}")

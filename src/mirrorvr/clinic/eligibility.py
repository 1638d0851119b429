"""Eligibility for a course of rTMS + mirror therapy: the items, their answers, and the verdict.

Each item has three kinds of answer: ``yes``, ``no`` and ``not_asked``. An item nobody answered
is *not asked*, never *no*: the verdict lists it as unknown, and a clinic that made the item
blocking cannot start a course until it is answered. Which items block is the clinic's choice
(:func:`evaluate` takes the set); without one, :data:`DEFAULT_BLOCKING` applies.

The items follow the issue's clinical picture (first-line drugs tried before rTMS, time since
amputation, seizure history, hardware near the head, depression, prosthesis use, residual-limb
sensitivity). The month thresholds (flag under 3, warn under 6) and the PHQ-9 bands are the
clinic defaults this module ships; they are not taken from a verified guideline (PHQ-9 bands
5/10/15/20 are the commonly printed ones — UNVERIFIED in our references).

Pure: no I/O. The store keeps answers (``mirrorvr.clinic.course_store``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mirrorvr.errors import MirrorVRError

Answer = Literal["yes", "no", "not_asked"]
ANSWERS: tuple[str, ...] = ("yes", "no", "not_asked")


class EligibilityError(MirrorVRError):
    """An eligibility answer is malformed, or a course may not start because of one."""


#: item key -> (question, extra fields it may carry)
ITEMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gabapentinoid_tried": (
        "Gabapentin or pregabalin tried? If so, why stopped (no effect, side effects, ongoing)?",
        ("why_stopped",),
    ),
    "tricyclic_tried": (
        "A tricyclic antidepressant (e.g. amitriptyline) tried? Why stopped?",
        ("why_stopped",),
    ),
    "snri_tried": ("An SNRI (e.g. duloxetine) tried? Why stopped?", ("why_stopped",)),
    "seizure_history": ("Any seizure or epilepsy, ever?", ("details",)),
    "head_hardware": (
        "Implanted ferromagnetic or electronic hardware in or near the head (clips, cochlear "
        "implant, stimulator, shunt, fragments)?",
        ("details",),
    ),
    "depression_screened": ("PHQ-9 depression screen done? (give the score)", ("phq9",)),
    "depression_treated": ("If depressed: is the depression being treated?", ()),
    "prosthesis_use": ("Uses a prosthesis? (hours a day)", ("hours_per_day",)),
    "residual_limb_sensitivity": (
        "Residual-limb sensitivity or neuromas? (noted for targeting and mirror set-up)",
        ("details",),
    ),
}

#: Items that block a course unless a clinic decides otherwise: an unanswered or "yes" answer to
#: these stops the course until a physician has weighed it.
DEFAULT_BLOCKING: frozenset[str] = frozenset({"seizure_history", "head_hardware"})

#: Months since amputation below which a course is flagged / warned about (clinic defaults).
FLAG_MONTHS = 3
WARN_MONTHS = 6
#: PHQ-9 score from which depression counts as severe (commonly printed band 20-27; UNVERIFIED).
PHQ9_SEVERE = 20
PHQ9_MODERATE = 10


@dataclass(frozen=True)
class ItemAnswer:
    """One item's answer; ``detail`` holds the item's extra fields (why stopped, score...)."""

    answer: Answer
    detail: dict[str, Any] = field(default_factory=dict)


def check_answers(raw: Mapping[str, Any]) -> dict[str, ItemAnswer]:
    """Parse ``{item: "yes"|"no"|"not_asked"|{"answer": ..., field: ...}}``; unknown = error.

    Items missing from ``raw`` become ``not_asked``.
    """
    out: dict[str, ItemAnswer] = {}
    for key, value in raw.items():
        if key not in ITEMS:
            raise EligibilityError(
                f"eligibility item '{key}' is unknown: use one of {', '.join(ITEMS)}"
            )
        if isinstance(value, str):
            answer, detail = value, {}
        elif isinstance(value, Mapping):
            detail = {k: v for k, v in value.items() if k != "answer"}
            answer = str(value.get("answer", "not_asked"))
            extra = set(detail) - set(ITEMS[key][1])
            if extra:
                raise EligibilityError(
                    f"eligibility item '{key}': unknown field(s) {', '.join(sorted(extra))}"
                    + (f" (it takes {', '.join(ITEMS[key][1])})" if ITEMS[key][1] else "")
                )
        else:
            raise EligibilityError(
                f"eligibility item '{key}': answer yes, no or not_asked (got {value!r})"
            )
        if answer not in ANSWERS:
            raise EligibilityError(
                f"eligibility item '{key}': answer yes, no or not_asked (got {answer!r})"
            )
        if key == "depression_screened" and "phq9" in detail:
            score = detail["phq9"]
            if not isinstance(score, int | float) or not 0 <= score <= 27:
                raise EligibilityError(
                    f"eligibility item 'depression_screened': PHQ-9 is 0-27, got {score!r}"
                )
        out[key] = ItemAnswer(answer, dict(detail))  # type: ignore[arg-type]
    for key in ITEMS:
        out.setdefault(key, ItemAnswer("not_asked"))
    return out


@dataclass(frozen=True)
class Finding:
    """One thing the verdict says about an item: ``level`` block, flag, warn, note or unknown."""

    item: str
    level: Literal["block", "flag", "warn", "note", "unknown"]
    message: str


@dataclass(frozen=True)
class Verdict:
    """Whether a course may start, and every finding behind that."""

    findings: list[Finding]

    @property
    def may_start(self) -> bool:
        """No blocking finding."""
        return not any(f.level == "block" for f in self.findings)

    @property
    def blocking(self) -> list[Finding]:
        """The findings that stop a course."""
        return [f for f in self.findings if f.level == "block"]


def months_between(a: dt.date, b: dt.date) -> float:
    """Whole-and-fractional months from ``a`` to ``b`` (30.44-day months)."""
    return (b - a).days / 30.44


def evaluate(
    answers: Mapping[str, ItemAnswer],
    *,
    amputation_date: dt.date | None,
    today: dt.date,
    blocking: frozenset[str] = DEFAULT_BLOCKING,
) -> Verdict:
    """The verdict for a course starting ``today``.

    A blocking item answered ``yes`` or ``not_asked`` blocks; other items give flags, warnings
    or notes. Time since amputation comes from the patient record; a missing date is unknown.
    """
    unknown_items = set(blocking) - set(ITEMS) - {"time_since_amputation"}
    if unknown_items:
        raise EligibilityError(
            f"blocking item(s) {', '.join(sorted(unknown_items))} unknown: use "
            f"{', '.join(ITEMS)} or time_since_amputation"
        )
    f: list[Finding] = []

    def a(key: str) -> ItemAnswer:
        return answers.get(key, ItemAnswer("not_asked"))

    # time since amputation
    if amputation_date is None:
        lvl: Any = "block" if "time_since_amputation" in blocking else "unknown"
        f.append(Finding("time_since_amputation", lvl, "amputation date not on record"))
    else:
        m = months_between(amputation_date, today)
        if m < FLAG_MONTHS:
            lvl = "block" if "time_since_amputation" in blocking else "flag"
            f.append(
                Finding(
                    "time_since_amputation",
                    lvl,
                    f"{m:.1f} months since amputation (< {FLAG_MONTHS}): pain may still be "
                    "post-surgical",
                )
            )
        elif m < WARN_MONTHS:
            f.append(
                Finding(
                    "time_since_amputation",
                    "warn",
                    f"{m:.1f} months since amputation (< {WARN_MONTHS})",
                )
            )
        else:
            f.append(Finding("time_since_amputation", "note", f"{m:.0f} months since amputation"))

    for key in ITEMS:
        ans = a(key)
        if ans.answer == "not_asked":
            lvl = "block" if key in blocking else "unknown"
            f.append(Finding(key, lvl, "not asked"))
            continue
        yes = ans.answer == "yes"
        if key in ("seizure_history", "head_hardware"):
            if yes:
                lvl = "block" if key in blocking else "flag"
                d = ans.detail.get("details", "")
                f.append(
                    Finding(key, lvl, "yes" + (f" ({d})" if d else "") + ": physician must weigh")
                )
        elif key.endswith("_tried"):
            why = ans.detail.get("why_stopped")
            f.append(
                Finding(
                    key,
                    "note",
                    ("tried" + (f", stopped: {why}" if why else "")) if yes else "not tried",
                )
            )
        elif key == "depression_screened":
            score = ans.detail.get("phq9")
            if not yes or score is None:
                lvl = "block" if key in blocking else "unknown"
                f.append(Finding(key, lvl, "PHQ-9 score not recorded"))
            elif score >= PHQ9_SEVERE:
                treated = a("depression_treated").answer
                if treated == "yes":
                    f.append(Finding(key, "warn", f"PHQ-9 {score:g} (severe), being treated"))
                else:
                    f.append(
                        Finding(
                            key,
                            "block" if key in blocking else "flag",
                            f"PHQ-9 {score:g} (severe) and treatment "
                            f"{'not asked' if treated == 'not_asked' else 'none'}: refer for "
                            "treatment in parallel",
                        )
                    )
            elif score >= PHQ9_MODERATE:
                f.append(Finding(key, "warn", f"PHQ-9 {score:g} (moderate or worse)"))
            else:
                f.append(Finding(key, "note", f"PHQ-9 {score:g}"))
        elif key == "prosthesis_use":
            h = ans.detail.get("hours_per_day")
            f.append(
                Finding(
                    key,
                    "note",
                    (f"uses a prosthesis{f' {h} h/day' if h is not None else ''}")
                    if yes
                    else "no prosthesis",
                )
            )
        elif key == "residual_limb_sensitivity" and yes:
            d = ans.detail.get("details", "")
            f.append(
                Finding(
                    key,
                    "note",
                    "sensitive residual limb / neuroma"
                    + (f": {d}" if d else "")
                    + " (for targeting)",
                )
            )
        elif yes and key in blocking:
            f.append(Finding(key, "block", "yes"))
    # first-line drugs: none of the three classes tried is worth a flag
    tried = [a(k).answer for k in ("gabapentinoid_tried", "tricyclic_tried", "snri_tried")]
    if all(t == "no" for t in tried):
        f.append(Finding("first_line", "warn", "no first-line medication tried"))
    return Verdict(f)


def answers_to_json(answers: Mapping[str, ItemAnswer]) -> dict[str, Any]:
    """Plain JSON form of parsed answers (what the store keeps)."""
    return {k: {"answer": v.answer, **v.detail} for k, v in answers.items()}

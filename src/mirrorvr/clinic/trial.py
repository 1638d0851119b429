"""A trial file (TOML): arms, how sham is delivered, randomisation, who is blinded.

Arms pair a stimulation condition (``active`` or ``sham``) with a course file (the exercises
and schedule). Sham is delivered by a **sham coil** that an unblinded operator mounts — the plan,
the session, the headset, the logs and every number the software shows are the same as for
active stimulation; only the operator's view names the coil. A device's own placebo mode is
accepted only as ``device-placebo`` with ``device_placebo_reference`` naming where the device
documents it; our protocol references document none, so such a trial is marked UNVERIFIED.

Blinded roles must not be able to tell arms apart: if two arms' courses give different session
plans (e.g. mirror vs imagery-only in a 2×2), the patient and the therapist see the difference,
and only the outcome assessor (and the statistician) can be blinded; :func:`load_trial` refuses
a file that claims otherwise.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mirrorvr.clinic.course import Course, load_course
from mirrorvr.clinic.randomise import RandomisationError
from mirrorvr.config.loader import plan_to_toml, problems_from_validation
from mirrorvr.errors import MirrorVRError, PlanError, Problem

#: Everyone who may see something of a trial.
ROLES = ("patient", "therapist", "assessor", "operator", "statistician", "safety-officer")
#: Strata a trial may use, computed from the store at randomisation.
STRATA = ("baseline_pain_band", "amputation_side", "time_since_amputation_band")

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TrialError(MirrorVRError):
    """A trial action that is not allowed (unknown arm, sealed allocation, missing reason)."""


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_M):
    """One arm: stimulation condition and the course it follows."""

    id: str
    label: str = ""
    stimulation: Literal["active", "sham"]
    #: course file, relative to the trial file (default: the trial's course)
    course: str | None = None
    ratio: Annotated[int, Field(ge=1, le=10)] = 1


class Sham(_M):
    """How sham stimulation is delivered."""

    method: Literal["sham-coil", "device-placebo"] = "sham-coil"
    #: for device-placebo: where the device's manual documents the mode (else UNVERIFIED)
    device_placebo_reference: str = ""


class Randomisation(_M):
    """Seeded permuted blocks, optionally within strata."""

    #: leave out for a real trial (a random seed is drawn and not stored); a seed in the file
    #: lets anyone holding the file re-derive the allocation
    seed: int | None = None
    block_sizes: list[Annotated[int, Field(ge=2)]] = Field(default_factory=lambda: [4])
    strata: list[str] = Field(default_factory=list)
    #: sealed slots generated per stratum
    slots_per_stratum: Annotated[int, Field(ge=2, le=10000)] = 200

    @model_validator(mode="after")
    def _strata(self) -> Randomisation:
        bad = [s for s in self.strata if s not in STRATA]
        if bad:
            raise ValueError(f"unknown stratum {', '.join(bad)}: use {', '.join(STRATA)}")
        return self


class Blinding(_M):
    """Who is blinded (everyone else listed in ``unblinded`` sees the arm)."""

    blinded: list[str] = Field(
        default_factory=lambda: ["patient", "therapist", "assessor", "statistician"]
    )
    unblinded: list[str] = Field(default_factory=lambda: ["operator"])

    @model_validator(mode="after")
    def _roles(self) -> Blinding:
        bad = [r for r in (*self.blinded, *self.unblinded) if r not in ROLES]
        if bad:
            raise ValueError(f"unknown role(s) {', '.join(bad)}: use {', '.join(ROLES)}")
        both = set(self.blinded) & set(self.unblinded)
        if both:
            raise ValueError(f"role(s) {', '.join(sorted(both))} both blinded and unblinded")
        return self


class TrialInfo(_M):
    """Identity and the default course."""

    id: str
    title: str = ""
    course: str
    #: randomise only patients whose baseline NRS is at least this
    min_baseline_nrs: Annotated[float, Field(ge=0, le=10)] = 4.0
    #: the visit whose pain change is the primary outcome (a follow-up label, or "end")
    primary_visit: str = "15d"
    sources: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _id(self) -> TrialInfo:
        if not _ID.match(self.id):
            raise ValueError(f"trial id '{self.id}': use 1-64 letters, digits, '.', '_' or '-'")
        return self


class TrialSpec(_M):
    """A trial file."""

    trial: TrialInfo
    arms: list[Arm] = Field(min_length=2)
    sham: Sham = Field(default_factory=Sham)
    randomisation: Randomisation = Field(default_factory=Randomisation)
    blinding: Blinding = Field(default_factory=Blinding)

    @model_validator(mode="after")
    def _arms(self) -> TrialSpec:
        ids = [a.id for a in self.arms]
        if len(set(ids)) != len(ids):
            raise ValueError("arm ids must differ")
        unit = sum(a.ratio for a in self.arms)
        bad = [b for b in self.randomisation.block_sizes if b % unit]
        if bad:
            raise ValueError(
                f"randomisation.block_sizes {bad}: each must be a multiple of {unit} (the arms' "
                "ratio total)"
            )
        return self

    def arm(self, arm_id: str) -> Arm:
        """An arm by id (TrialError naming the arms if unknown)."""
        for a in self.arms:
            if a.id == arm_id:
                return a
        raise TrialError(
            f"arm '{arm_id}' is not an arm of trial {self.trial.id}: arms are "
            f"{', '.join(a.id for a in self.arms)}"
        )

    @property
    def verified_sham(self) -> bool:
        """False for a device placebo mode without a documented reference (UNVERIFIED)."""
        return self.sham.method == "sham-coil" or bool(self.sham.device_placebo_reference.strip())


@dataclass(frozen=True)
class Trial:
    """A validated trial with each arm's course loaded."""

    spec: TrialSpec
    source: str
    toml: str
    courses: dict[str, Course]  # arm id -> course

    @property
    def id(self) -> str:
        """The trial id."""
        return self.spec.trial.id


def parse_trial(text: str, source: str, base: Path | None) -> Trial:
    """Validate a trial given as TOML text (courses relative to ``base``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PlanError([Problem(source, f"not valid TOML: {e}")]) from None
    try:
        spec = TrialSpec.model_validate(data)
    except ValidationError as e:
        raise PlanError(problems_from_validation(e, source)) from None
    courses: dict[str, Course] = {}
    for i, arm in enumerate(spec.arms):
        ref = arm.course or spec.trial.course
        p = (base / ref) if base is not None and not Path(ref).is_absolute() else Path(ref)
        where = f"{source}:arms[{i}].course" if arm.course else f"{source}:trial.course"
        if not p.exists():
            raise PlanError([Problem(where, f"course file {p} not found")])
        courses[arm.id] = load_course(p)
    problems = blinding_problems(spec, courses, source)
    if problems:
        raise PlanError(problems)
    return Trial(spec, source, text, courses)


def load_trial(path: str | Path) -> Trial:
    """Load and validate a trial file (``configs/trials/*.toml``)."""
    p = Path(path)
    if not p.exists():
        raise PlanError([Problem(str(p), "trial file not found")])
    return parse_trial(p.read_text(encoding="utf-8"), str(p), p.parent)


def blinding_problems(spec: TrialSpec, courses: dict[str, Course], source: str) -> list[Problem]:
    """Where blinded roles could tell arms apart from what the software shows them (pure)."""
    out: list[Problem] = []

    def visible(c: Course) -> tuple[object, ...]:
        plans = tuple(plan_to_toml(c.plans[p.plan]) for p in c.spec.phases)
        return (c.spec.model_dump_json(), plans)

    first = spec.arms[0]
    # a role listed nowhere is blinded too (only unblinded roles ever read an arm)
    sees = {"patient", "therapist"} - set(spec.blinding.unblinded)
    for arm in spec.arms[1:]:
        if visible(courses[arm.id]) != visible(courses[first.id]) and sees:
            out.append(
                Problem(
                    f"{source}:blinding.blinded",
                    f"arms '{first.id}' and '{arm.id}' follow different courses or plans, which "
                    f"the {' and the '.join(sorted(sees))} see: list them in blinding.unblinded "
                    "(only the assessor and the statistician can be blinded to that difference)",
                )
            )
    return out


def check_randomisable(spec: TrialSpec) -> None:
    """Refuse a randomisation section that cannot produce blocks (before anything is stored)."""
    from mirrorvr.clinic.randomise import permuted_blocks

    try:
        permuted_blocks(
            [a.id for a in spec.arms],
            [a.ratio for a in spec.arms],
            spec.randomisation.block_sizes,
            1,
            0,
        )
    except RandomisationError as e:
        raise TrialError(f"trial {spec.trial.id}: {e}") from None


def strata_of(
    factors: list[str],
    *,
    baseline_nrs: float,
    amputation_side: str,
    amputation_date: dt.date | None,
    day: dt.date,
) -> str:
    """The stratum name of a patient (``""`` without strata)."""
    parts = []
    for f in factors:
        if f == "baseline_pain_band":
            parts.append("pain<7" if baseline_nrs < 7 else "pain>=7")
        elif f == "amputation_side":
            parts.append(f"side={amputation_side}")
        elif f == "time_since_amputation_band":
            if amputation_date is None:
                parts.append("since=unknown")
            else:
                parts.append("since<1y" if (day - amputation_date).days < 365 else "since>=1y")
    return "|".join(parts)


def all_strata(factors: list[str]) -> list[str]:
    """Every stratum a patient can fall in."""
    levels = {
        "baseline_pain_band": ["pain<7", "pain>=7"],
        "amputation_side": ["side=left", "side=right"],
        "time_since_amputation_band": ["since<1y", "since>=1y", "since=unknown"],
    }
    out = [""]
    for f in factors:
        out = [f"{o}|{lv}" if o else lv for o in out for lv in levels[f]]
    return out

"""The exercise library: graded motor imagery (GMI) stages as configurable exercises.

GMI runs laterality recognition → explicit motor imagery → mirror movements → functional tasks,
and a therapist moves "forwards, backwards and sideways" between stages (clinical-workflow
reference §1). Each stage here is a small validated model with the knobs the sources name; it
turns into plan blocks the timeline compiler already knows, so every exercise runs through the
same runner, event log and safety governor as any plan. Pure code: no I/O.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mirrorvr.config.loader import plan_from_dict
from mirrorvr.config.plan import (
    Block,
    ImageryBlock,
    LateralityBlock,
    MirrorBlock,
    Movement,
    SessionPlan,
)
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.events import Event

Stage = Literal["laterality", "imagery", "mirror", "functional"]
#: The GMI order (Moseley 2004/2006; functional stage: Lotze & Moseley 2022).
STAGES: tuple[Stage, ...] = ("laterality", "imagery", "mirror", "functional")

#: Assessment trials always use this seed, so every assessment shows the same sequence and
#: scores are comparable across weeks; training sequences vary with the session seed.
ASSESSMENT_SEED = 1_000_003


class _Exercise(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LateralityExercise(_Exercise):
    """Stage 1: left/right judgement of pictured hands at rotations and views."""

    stage: Literal["laterality"] = "laterality"
    #: assessment and training draw from separate image folders (practice effects, §1.3):
    #: ``assets/laterality/<image_set>/<purpose>/``
    image_set: str = Field(default="hands-photo", pattern=r"^[a-z0-9-]+$")
    purpose: Literal["assessment", "training"] = "training"
    angles_deg: list[Annotated[int, Field(ge=0, lt=360)]] = Field(
        default_factory=lambda: [0, 90, 180, 270], min_length=1
    )
    views: list[Literal["palm", "back"]] = Field(
        default_factory=lambda: ["back", "palm"],  # type: ignore[arg-type]
        min_length=1,
    )
    #: how long the image stays up; None = until answered or the time limit
    display_s: Annotated[float, Field(gt=0, le=60)] | None = None
    time_limit_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    trials: Annotated[int, Field(ge=1, le=500)] = 40
    inter_trial_s: Annotated[float, Field(ge=0, le=60)] = 1.0

    def to_blocks(self) -> list[Block]:
        """One laterality block (display time above the time limit is pointless: refused)."""
        if self.display_s is not None and self.display_s > self.time_limit_s:
            raise MirrorVRError(
                f"laterality display time {self.display_s} s exceeds the time limit "
                f"{self.time_limit_s} s: shorten it or raise the limit"
            )
        shown = f", shown {self.display_s:g} s" if self.display_s else ""
        return [
            LateralityBlock(
                kind="laterality",
                label=f"laterality {self.purpose} ({self.image_set}{shown})",
                trials=self.trials,
                angles_deg=list(self.angles_deg),
                views=list(self.views),
                time_limit_s=self.time_limit_s,
                inter_trial_s=self.inter_trial_s,
                seed=ASSESSMENT_SEED if self.purpose == "assessment" else None,
            )
        ]


class ImageryExercise(_Exercise):
    """Stage 2: explicit motor imagery of the missing hand."""

    stage: Literal["imagery"] = "imagery"
    movements: list[Movement] = Field(
        default_factory=lambda: ["fist", "finger_flexion", "wrist_flexion"],  # type: ignore[arg-type]
        min_length=1,
    )
    perspective: Literal["first-person", "third-person"] = "first-person"
    eyes: Literal["open", "closed"] = "closed"
    posture: Literal["sitting", "standing", "lying"] = "sitting"
    imagery_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    repetitions: Annotated[int, Field(ge=1, le=500)] = 15
    rest_s: Annotated[float, Field(ge=0, le=120)] = 5.0

    def to_blocks(self) -> list[Block]:
        """One imagery block; perspective, eyes and posture travel in its label for the cue."""
        return [
            ImageryBlock(
                kind="imagery",
                label=f"imagery {self.perspective}, eyes {self.eyes}, {self.posture}",
                movements=list(self.movements),
                repetitions=self.repetitions,
                imagery_s=self.imagery_s,
                rest_s=self.rest_s,
                randomise=True,
            )
        ]


class MirrorExercise(_Exercise):
    """Stage 3: mirror movements: the intact hand moves and is seen on the missing side."""

    stage: Literal["mirror"] = "mirror"
    movements: list[Movement] = Field(
        default_factory=lambda: ["fist", "thumb_opposition", "pronation", "supination"],  # type: ignore[arg-type]
        min_length=1,
    )
    #: movements per minute within a movement window (paced by the cue's metronome)
    tempo_per_min: Annotated[float, Field(gt=0, le=120)] = 30.0
    movement_s: Annotated[float, Field(gt=0, le=120)] = 8.0
    repetitions: Annotated[int, Field(ge=1, le=500)] = 20
    rest_s: Annotated[float, Field(ge=0, le=120)] = 4.0
    #: progression: the patient also moves the phantom, behind the mirror
    phantom_moves: bool = False

    def to_blocks(self) -> list[Block]:
        """One mirror block."""
        both = ", phantom moves too" if self.phantom_moves else ""
        return [
            MirrorBlock(
                kind="mirror",
                label=f"mirror {self.tempo_per_min:g}/min{both}",
                movements=list(self.movements),
                repetitions=self.repetitions,
                movement_s=self.movement_s,
                rest_s=self.rest_s,
                randomise=True,
            )
        ]


class FunctionalExercise(_Exercise):
    """Stage 4: functional tasks (reach, grasp, hand-over) with the mirrored limb."""

    stage: Literal["functional"] = "functional"
    tasks: list[Movement] = Field(
        default_factory=lambda: ["reach", "open_hand", "fist"],  # type: ignore[arg-type]
        min_length=1,
    )
    props: bool = False
    task_s: Annotated[float, Field(gt=0, le=120)] = 12.0
    repetitions: Annotated[int, Field(ge=1, le=500)] = 10
    rest_s: Annotated[float, Field(ge=0, le=120)] = 6.0

    def to_blocks(self) -> list[Block]:
        """A mirror block of task movements."""
        return [
            MirrorBlock(
                kind="mirror",
                label="functional" + (" with props" if self.props else ""),
                movements=list(self.tasks),
                repetitions=self.repetitions,
                movement_s=self.task_s,
                rest_s=self.rest_s,
            )
        ]


Exercise = Annotated[
    LateralityExercise | ImageryExercise | MirrorExercise | FunctionalExercise,
    Field(discriminator="stage"),
]

#: What each stage runs unless the therapist changes it.
DEFAULT_EXERCISES: dict[Stage, list[Any]] = {
    "laterality": [
        LateralityExercise(purpose="assessment", trials=20),
        LateralityExercise(purpose="training", trials=40),
    ],
    "imagery": [ImageryExercise()],
    "mirror": [MirrorExercise()],
    "functional": [FunctionalExercise()],
}


def move_stage(current: Stage | None, change: str) -> Stage:
    """The stage after ``change`` (start, progress, regress, repeat) from ``current``."""
    if current is None or change == "start":
        return STAGES[0]
    i = STAGES.index(current)
    if change == "progress":
        if i == len(STAGES) - 1:
            raise MirrorVRError(f"'{current}' is the last GMI stage: repeat it instead")
        return STAGES[i + 1]
    if change == "regress":
        if i == 0:
            raise MirrorVRError(f"'{current}' is the first GMI stage: repeat it instead")
        return STAGES[i - 1]
    if change == "repeat":
        return current
    raise MirrorVRError(f"GMI change '{change}': use start, progress, regress or repeat")


def plan_with_exercises(base: SessionPlan, exercises: list[Any]) -> SessionPlan:
    """``base`` with its exercise blocks replaced by ``exercises`` (pre/post ratings kept).

    Stimulation, devices and safety stay as in ``base``; the result is validated again, so a
    concurrent protocol without rests or a cue-locked one without cues is refused.
    """
    blocks = [b for ex in exercises for b in ex.to_blocks()]
    if not blocks:
        raise MirrorVRError("choose at least one exercise")
    ratings = [b for b in base.blocks if b.kind == "rating"]
    pre = [b for b in ratings if b.timepoint == "pre"]
    post = [b for b in ratings if b.timepoint == "post"]
    data = base.model_dump(mode="json", exclude_none=True)
    data["blocks"] = [b.model_dump(mode="json", exclude_none=True) for b in (*pre, *blocks, *post)]
    return plan_from_dict(data, "plan")


# ---- scoring laterality ---------------------------------------------------------------------


@dataclass(frozen=True)
class LateralityNorms:
    """Normal ranges a score is compared with (clinic-configurable).

    Accuracy ≥ 80 % (noigroup; 80 % pass mark of common quizzes); response time 1.6 ± 0.5 s for
    hands is the commonly quoted figure but UNVERIFIED in our references.
    """

    min_accuracy_pct: float = 80.0
    mean_rt_s: float = 1.6
    sd_rt_s: float = 0.5


@dataclass(frozen=True)
class CellScore:
    """Score of one group of trials (a side, an angle, or both)."""

    trials: int
    correct: int
    accuracy_pct: float
    median_rt_s: float | None
    accuracy_ok: bool
    speed_ok: bool | None


def _score(rows: list[tuple[bool, float | None]], norms: LateralityNorms) -> CellScore:
    n = len(rows)
    correct = sum(1 for ok, _ in rows if ok)
    rts = [rt for ok, rt in rows if ok and rt is not None]
    med = statistics.median(rts) if rts else None
    acc = 100.0 * correct / n if n else 0.0
    return CellScore(
        trials=n,
        correct=correct,
        accuracy_pct=round(acc, 1),
        median_rt_s=round(med, 3) if med is not None else None,
        accuracy_ok=acc >= norms.min_accuracy_pct,
        speed_ok=(med <= norms.mean_rt_s + norms.sd_rt_s) if med is not None else None,
    )


def score_laterality(
    events: list[Event], norms: LateralityNorms | None = None, *, block: int | None = None
) -> dict[str, Any]:
    """Accuracy and median response time overall, per side and per side × angle, vs norms.

    Median RT counts correct answers only; a timeout counts as wrong. ``block`` limits the
    score to one block (e.g. the assessment set).
    """
    norms = norms or LateralityNorms()
    shown: dict[tuple[int, int], dict[str, Any]] = {}
    rows: list[tuple[str, int, bool, float | None]] = []
    for e in events:
        if block is not None and e.get("block") != block:
            continue
        if e.kind == "laterality_trial":
            shown[(e["block"], e["trial"])] = e.data
        elif e.kind == "laterality_response":
            s = shown.get((e["block"], e["trial"]))
            if s is not None:
                rows.append((s["side"], int(s["angle_deg"]), bool(e["correct"]), e.get("rt_s")))
    by_side: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
    by_cell: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
    for side, angle, ok, rt in rows:
        by_side[side].append((ok, rt))
        by_cell[f"{side}/{angle}"].append((ok, rt))
    overall = _score([(ok, rt) for _, _, ok, rt in rows], norms)
    return {
        "norms": norms.__dict__,
        "overall": overall.__dict__,
        "by_side": {k: _score(v, norms).__dict__ for k, v in sorted(by_side.items())},
        "by_side_angle": {k: _score(v, norms).__dict__ for k, v in sorted(by_cell.items())},
    }


def laterality_suggestion(score: dict[str, Any]) -> str:
    """Progress when both sides meet the norms, else keep training (a suggestion, not a rule)."""
    sides = score["by_side"]
    if len(sides) < 2:
        return "repeat: too few trials on both sides to judge"
    lagging = [s for s, v in sides.items() if not v["accuracy_ok"] or v["speed_ok"] is False]
    if lagging:
        return f"repeat: {', '.join(lagging)} below the norms"
    return "progress: both sides within the norms"

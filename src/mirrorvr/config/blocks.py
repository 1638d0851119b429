"""Exercise blocks of a plan: ratings, rests, imagery, mirror, laterality, phantom motor execution.

Also the movements each limb can be cued with and the motions phantom motor execution trains.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from mirrorvr.config.base import PositiveSeconds, Seconds, _Model

HandMovement = Literal[
    "fist",
    "finger_flexion",
    "thumb_opposition",
    "wrist_flexion",
    "wrist_extension",
    "pronation",
    "supination",
    "reach",
    "open_hand",
]
#: lower-limb movements (seated): see mirrorvr.tracking.leg_motion
LegMovement = Literal[
    "ankle_dorsiflexion",
    "ankle_plantarflexion",
    "toe_flexion",
    "knee_extension",
    "foot_circles",
]
Movement = Literal[HandMovement, LegMovement]
HAND_MOVEMENTS: tuple[str, ...] = get_args(HandMovement)
LEG_MOVEMENTS: tuple[str, ...] = get_args(LegMovement)


class _BlockBase(_Model):
    label: str = ""


class RatingBlock(_BlockBase):
    """A pain rating (0–10 numeric rating scale) answered in the headset."""

    kind: Literal["rating"]
    timepoint: Literal["pre", "post", "during"] = "pre"
    prompt: str = (
        "How strong is your phantom limb pain right now? (0 = none, 10 = worst imaginable)"
    )
    #: planned slot; an early answer waits out the slot, a late one shifts what follows later
    duration_s: PositiveSeconds = 10.0
    timeout_s: PositiveSeconds = 30.0


class RestBlock(_BlockBase):
    """A plain rest period."""

    kind: Literal["rest"]
    duration_s: PositiveSeconds


class _RepeatedBlock(_BlockBase):
    movements: list[Movement] = Field(default_factory=lambda: ["fist"], min_length=1)  # type: ignore[arg-type]
    repetitions: int = Field(ge=1, le=1000)
    cue_s: PositiveSeconds = 2.0
    rest_s: Seconds = 5.0
    randomise: bool = False
    seed: int | None = None  # None: derived from the session seed and block index
    #: sound the cue tone with this block's cues (``None``: as ``[scene.cue_tone] enabled``)
    cue_tone: bool | None = None


class ImageryBlock(_RepeatedBlock):
    """Explicit motor imagery (GMI stage 2): cue, imagine the movement, rest."""

    kind: Literal["imagery"]
    imagery_s: PositiveSeconds = 5.0


class MirrorBlock(_RepeatedBlock):
    """Mirror movements (GMI stage 3): the tracked intact hand moves, seen mirrored."""

    kind: Literal["mirror"]
    movement_s: PositiveSeconds = 8.0
    #: after the block, ask the embodiment questionnaire in the headset (ownership, agency,
    #: location; session/embodiment.py)
    embodiment: bool = False


class LateralityBlock(_BlockBase):
    """Laterality recognition (GMI stage 1): left or right hand shown at a rotation."""

    kind: Literal["laterality"]
    trials: int = Field(ge=1, le=500)
    angles_deg: list[int] = Field(default_factory=lambda: [0, 90, 180, 270], min_length=1)
    views: list[Literal["palm", "back"]] = Field(default_factory=lambda: ["back", "palm"])  # type: ignore[arg-type]
    time_limit_s: PositiveSeconds = 5.0
    inter_trial_s: Seconds = 1.0
    seed: int | None = None


#: motion classes a phantom motor execution block can train (upper limb); ``rest`` is always one
PmeMotion = Literal[
    "rest",
    "hand_close",
    "hand_open",
    "wrist_flexion",
    "wrist_extension",
    "pronation",
    "supination",
]
#: stable numeric codes of the motions (the ``mirrorvr-pme`` stream's class channels)
PME_MOTION_CODES: dict[str, int] = {m: i for i, m in enumerate(get_args(PmeMotion))}
PmeFeature = Literal["MAV", "WL", "ZC", "SSC"]


class PmeDecoding(_Model):
    """How EMG is decoded: windows, time-domain features, smoothing (docs/phantom-motor-execution.md)."""

    window_ms: Annotated[float, Field(ge=50, le=400)] = 200.0
    increment_ms: Annotated[float, Field(ge=10, le=100)] = 50.0
    features: list[PmeFeature] = Field(
        default_factory=lambda: ["MAV", "WL", "ZC", "SSC"],  # type: ignore[arg-type]
        min_length=1,
    )
    #: µV: zero crossings and slope sign changes count only changes at least this big
    count_threshold_uv: Annotated[float, Field(ge=0, le=100)] = 2.0
    #: majority vote over this many successive decisions (1 = none)
    vote: Annotated[int, Field(ge=1, le=15)] = 3
    #: LDA covariance shrinkage towards a scaled identity
    shrinkage: Annotated[float, Field(ge=0, le=1)] = 0.05

    @model_validator(mode="after")
    def _increment_fits(self) -> PmeDecoding:
        if self.increment_ms > self.window_ms:
            raise ValueError("increment_ms must not exceed window_ms (windows would leave gaps)")
        return self


class PhantomMotorExecutionBlock(_BlockBase):
    """Phantom motor execution: EMG of the residual limb, decoded, moves the virtual phantom.

    Calibration cues every motion ``calibration_repetitions`` times (contract, then rest: the
    rests are the rest class), a model is fitted, then ``tasks`` target tasks follow: reach the
    shown posture with the phantom and hold it (docs/phantom-motor-execution.md).
    """

    kind: Literal["phantom_motor_execution"]
    limb: Literal["upper"] = "upper"
    #: the active motions to train (rest is always recorded and decoded)
    motions: list[PmeMotion] = Field(
        default_factory=lambda: ["hand_close", "hand_open", "wrist_flexion", "wrist_extension"],  # type: ignore[arg-type]
        min_length=1,
    )
    calibration_repetitions: Annotated[int, Field(ge=1, le=20)] = 3
    cue_s: PositiveSeconds = 1.5
    contraction_s: Annotated[float, Field(ge=1.0, le=20.0)] = 3.0
    rest_s: Annotated[float, Field(ge=1.0, le=60.0)] = 3.0
    #: discard this much at the start of each contraction and rest (the transition)
    settle_s: Annotated[float, Field(ge=0.0, le=5.0)] = 0.5
    #: time given to fitting the model (the patient rests)
    fit_s: Annotated[float, Field(ge=0.5, le=60.0)] = 2.0
    tasks: Annotated[int, Field(ge=0, le=200)] = 6
    task_limit_s: Annotated[float, Field(ge=2.0, le=60.0)] = 10.0
    task_hold_s: Annotated[float, Field(ge=0.1, le=10.0)] = 1.0
    task_tolerance: Annotated[float, Field(gt=0.0, le=0.5)] = 0.2
    #: how far along its degree of freedom a target lies (1 = the end of the range)
    task_level: Annotated[float, Field(gt=0.2, le=1.0)] = 0.7
    task_rest_s: Annotated[float, Field(ge=0.5, le=60.0)] = 3.0
    #: LSL name of the amplifier's EMG stream (real time; simulation publishes its own)
    emg_stream: str = Field(default="EMG", min_length=1)
    emg_channels: Annotated[int, Field(ge=2, le=64)] = 8
    #: concurrent stimulation may place trains in the calibration's rests (off by default:
    #: TMS artefacts and MEPs in the residual limb's EMG would be learned as the rest class)
    calibration_stimulation: bool = False
    decoding: PmeDecoding = Field(default_factory=PmeDecoding)
    randomise: bool = True
    seed: int | None = None

    @model_validator(mode="after")
    def _active_motions(self) -> PhantomMotorExecutionBlock:
        active = [m for m in self.motions if m != "rest"]
        if not active:
            raise ValueError("motions needs at least one motion besides rest")
        if len(set(active)) != len(active):
            raise ValueError("motions lists a motion twice")
        if self.settle_s >= min(self.contraction_s, self.rest_s):
            raise ValueError("settle_s must be shorter than contraction_s and rest_s")
        return self

    @property
    def active_motions(self) -> list[str]:
        """The motions besides rest, in the plan's order."""
        return [m for m in self.motions if m != "rest"]

    @property
    def classes(self) -> list[str]:
        """Every decoded class: rest first, then the active motions."""
        return ["rest", *self.active_motions]


#: block kinds whose cues carry pulses in cue-locked stimulation
CUE_BLOCK_KINDS = ("imagery", "mirror", "phantom_motor_execution")

Block = Annotated[
    RatingBlock
    | RestBlock
    | ImageryBlock
    | MirrorBlock
    | LateralityBlock
    | PhantomMotorExecutionBlock,
    Field(discriminator="kind"),
]

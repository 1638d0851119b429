"""Pydantic models of a session plan.

A plan is what a therapist configures: who the patient is (pseudonymously), which exercise
blocks run in which order, how stimulation is timed relative to them, which devices are used and
which safety profile applies. Models are strict (unknown fields are errors) and immutable, so a
validated plan can be handed to the pure timeline compiler as plain data.

Stimulation timing uses the NIBS-BIDS v2 vocabulary (intervals and durations, no frequencies or
counts): a pulse repetition interval, then nested levels each with a duration and a repetition
interval (train, train repeat, repeat2, ...). Counts are derived, so 10/20 Hz trains, iTBS and
cTBS are all expressible.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Relative tolerance when a level's duration must be a whole multiple of the level below.
_COUNT_TOLERANCE = 1e-6


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class SessionInfo(_Model):
    """Name and randomisation seed of the session."""

    name: str = "mirrorvr session"
    seed: int = 0
    description: str = ""
    #: when the display or the runner falls behind the timeline (a stall): ``shift`` the rest
    #: of the timeline later so no dose is lost (trains stay inside their rests, gaps hold), or
    #: ``refuse`` — late trains keep their planned times and late pulses are logged missed
    on_stall: Literal["shift", "refuse"] = "shift"
    #: a step this much later than planned counts as a stall
    stall_tolerance_s: Annotated[float, Field(gt=0, le=5)] = 0.1
    #: a stall longer than this pauses the session (logged reason, governor re-check) before
    #: it goes on
    max_stall_shift_s: Annotated[float, Field(gt=0, le=600)] = 2.0


#: amputation levels of the upper limb, proximal last
UpperLevel = Literal["hand", "wrist", "transradial", "elbow", "transhumeral", "shoulder"]
#: amputation levels of the lower limb: partial foot, ankle (Syme), below the knee, knee
#: disarticulation, above the knee, hip disarticulation
LowerLevel = Literal["partial_foot", "ankle", "transtibial", "knee", "transfemoral", "hip"]
UPPER_LEVELS: tuple[str, ...] = get_args(UpperLevel)
LOWER_LEVELS: tuple[str, ...] = get_args(LowerLevel)


class PatientRef(_Model):
    """Pseudonymous patient reference: never a name."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    amputation_side: Literal["left", "right"]
    #: the amputated limb: ``upper`` (arm/hand) or ``lower`` (leg/foot); decides what is mirrored
    limb: Literal["upper", "lower"] = "upper"
    #: default: ``transradial`` for an upper limb, ``transtibial`` for a lower limb
    amputation_level: Literal[UpperLevel, LowerLevel, "other"] = "transradial"

    @model_validator(mode="before")
    @classmethod
    def _default_level(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("limb") == "lower":
            data = {"amputation_level": "transtibial", **data}
        return data

    @model_validator(mode="after")
    def _level_fits_limb(self) -> PatientRef:
        levels = UPPER_LEVELS if self.limb == "upper" else LOWER_LEVELS
        if self.amputation_level not in (*levels, "other"):
            raise ValueError(
                f"amputation_level '{self.amputation_level}' is not a level of the {self.limb} "
                f"limb (use one of {', '.join(levels)}, other)"
            )
        return self

    @property
    def intact_side(self) -> Literal["left", "right"]:
        """The side whose tracked limb is mirrored."""
        return "right" if self.amputation_side == "left" else "left"


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


class ProtocolLevel(_Model):
    """One nesting level above the pulse (train, train repeat, repeat2, ...).

    ``duration_s`` covers all repetitions of the level below, trailing interval included;
    ``repetition_interval_s`` is onset to onset of this level's repetitions (``None`` on the
    outermost level).
    """

    duration_s: PositiveSeconds
    repetition_interval_s: PositiveSeconds | None = None


class PulseProtocol(_Model):
    """rTMS timing in the NIBS-BIDS v2 vocabulary."""

    name: str = ""
    pulse_repetition_interval_s: PositiveSeconds
    levels: list[ProtocolLevel] = Field(default_factory=list, max_length=4)
    #: Paired-pulse protocols: interval between the two pulses of a pair (ms); None = single.
    paired_pulse_interval_ms: Annotated[float, Field(gt=0, le=1000)] | None = None

    @model_validator(mode="after")
    def _levels_divide(self) -> PulseProtocol:
        inner = self.pulse_repetition_interval_s
        for i, level in enumerate(self.levels):
            ratio = level.duration_s / inner
            if ratio < 1 - _COUNT_TOLERANCE or abs(ratio - round(ratio)) > _COUNT_TOLERANCE * max(
                1.0, ratio
            ):
                raise ValueError(
                    f"levels[{i}].duration_s ({level.duration_s} s) must be a whole multiple of "
                    f"the repetition interval below it ({inner} s)"
                )
            is_last = i == len(self.levels) - 1
            if not is_last and level.repetition_interval_s is None:
                raise ValueError(
                    f"levels[{i}].repetition_interval_s is required below the top level"
                )
            if level.repetition_interval_s is not None:
                # the span of the level's events must fit in its repetition interval
                last_onset = (round(ratio) - 1) * inner
                if last_onset >= level.repetition_interval_s:
                    raise ValueError(
                        f"levels[{i}]: repetitions of {level.duration_s} s do not fit in a "
                        f"repetition interval of {level.repetition_interval_s} s"
                    )
                inner = level.repetition_interval_s
        return self

    def counts(self) -> list[int]:
        """Repetitions at each level, innermost first (pulses per train, trains, ...)."""
        out: list[int] = []
        inner = self.pulse_repetition_interval_s
        for level in self.levels:
            out.append(round(level.duration_s / inner))
            inner = level.repetition_interval_s or inner
        return out

    @property
    def total_pulses(self) -> int:
        """Pulses the whole protocol delivers (pairs count as two)."""
        n = math.prod(self.counts()) if self.levels else 1
        return n * (2 if self.paired_pulse_interval_ms else 1)

    @property
    def pulses_per_train(self) -> int:
        """Pulses in one train (the first level), or 1 for single pulses."""
        n = self.counts()[0] if self.levels else 1
        return n * (2 if self.paired_pulse_interval_ms else 1)

    @property
    def train_duration_s(self) -> float:
        """Time from the first to the last pulse of one train, plus one pulse interval."""
        return self.levels[0].duration_s if self.levels else self.pulse_repetition_interval_s

    @property
    def frequency_hz(self) -> float:
        """Pulse repetition frequency within a train (derived, for display and safety tables)."""
        return 1.0 / self.pulse_repetition_interval_s

    @property
    def pattern(self) -> Literal["single", "paired", "rtms", "tbs"]:
        """What kind of stimulation this is, for the safety rules that apply to it.

        ``tbs``: bursts (level 1) of at most 5 pulses faster than 25 Hz, repeated by a higher
        level; ``paired``: paired pulses; ``single``: one pulse per train; otherwise ``rtms``.
        """
        if self.paired_pulse_interval_ms:
            return "paired"
        counts = self.counts()
        if not counts or counts[0] == 1:
            return "single"
        if len(self.levels) >= 2 and counts[0] <= 5 and self.frequency_hz > 25.0:
            return "tbs"
        return "rtms"

    def train_pulse_offsets(self) -> list[float]:
        """Offsets (s) of every pulse of one train from the train's onset, in order."""
        n = self.counts()[0] if self.levels else 1
        offsets = [k * self.pulse_repetition_interval_s for k in range(n)]
        if self.paired_pulse_interval_ms:
            pp = self.paired_pulse_interval_ms / 1000.0
            offsets = [x for o in offsets for x in (o, o + pp)]
        return offsets

    def train_onsets(self) -> list[float]:
        """Onsets (s) of every train (level-1 unit) from the protocol's start."""
        if not self.levels:
            return [0.0]
        onsets = [0.0]
        inner = self.levels[0].repetition_interval_s
        for level in self.levels[1:]:
            assert inner is not None
            n = round(level.duration_s / inner)
            onsets = [k * inner + o for k in range(n) for o in onsets]
            inner = level.repetition_interval_s
        return sorted(onsets)


class MotorThreshold(_Model):
    """Resting motor threshold on record, in % of maximum stimulator output (MSO)."""

    rmt_pct_mso: Annotated[float, Field(gt=0, le=100)]
    measured_on: dt.date
    method: Literal["5-10", "ml-pest", "two-threshold", "visual", "other"] = "5-10"


class ThresholdEstimation(_Model):
    """Measure the resting motor threshold at the start of the session, from EMG.

    The estimate replaces any ``motor_threshold`` on record for this session's % RMT dosing
    (see docs/motor-threshold.md). Single pulses, 4–6 s apart by default.
    """

    method: Literal["ml-pest", "5-10"] = "ml-pest"
    #: first pulse (ML-PEST) or first level (5/10); e.g. the hotspot intensity
    start_pct_mso: Annotated[float, Field(ge=1, le=100)] = 60.0
    #: ML-PEST: stop after this many accepted trials
    max_trials: Annotated[int, Field(ge=1, le=200)] = 20
    #: ML-PEST: stop earlier once the 95 % interval half-width is at most this (% MSO)
    ci_half_width_pct: Annotated[float, Field(gt=0, le=50)] | None = None
    min_trials: Annotated[int, Field(ge=1, le=200)] = 8
    #: pulses the hunt may use in all, rejected trials included
    max_pulses: Annotated[int, Field(ge=1, le=500)] = 100
    isi_s: tuple[PositiveSeconds, PositiveSeconds] = (4.0, 6.0)
    criterion_uv: Annotated[float, Field(gt=0, le=5000)] = 50.0
    window_ms: tuple[Seconds, Seconds] = (15.0, 50.0)
    max_baseline_rms_uv: Annotated[float, Field(gt=0)] | None = 10.0
    #: LSL name of the EMG stream (real time); simulation uses the simulated patient
    emg_stream: str = "EMG"
    site: str = "hotspot"

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdEstimation:
        if self.isi_s[0] > self.isi_s[1] or self.isi_s[0] < 0.25:
            raise ValueError("isi_s must be [min, max] with 0.25 <= min <= max")
        if self.window_ms[0] >= self.window_ms[1]:
            raise ValueError("window_ms must be [start, end] with start < end")
        return self


class CueLocked(_Model):
    """Pulses locked to imagery/mirror cue onsets (display time + delay)."""

    delay_ms: Annotated[float, Field(ge=0, le=10_000)] = 300.0
    jitter_ms: Annotated[float, Field(ge=0, le=1000)] = 0.0


class Stimulation(_Model):
    """When and how stimulation is delivered relative to the exercises."""

    mode: Literal["none", "priming", "concurrent", "post", "cue-locked"] = "none"
    intensity_pct_rmt: Annotated[float, Field(gt=0, le=150)] = 90.0
    motor_threshold: MotorThreshold | None = None
    #: measure the motor threshold at session start (the result sets the % RMT dosing)
    threshold_estimate: ThresholdEstimation | None = None
    protocol: PulseProtocol | None = None
    cue_locked: CueLocked | None = None
    #: concurrent mode: a train starts this long after a rest begins
    rest_lead_s: Seconds = 0.5
    #: gap between a priming block's last train and the exercises, or exercises and post block
    gap_s: Seconds = 10.0
    #: EMG channel label of the target muscle (e.g. "FDI"): the headline MEP figure of the
    #: analysis (every EMG channel is measured; without this, the first channel leads)
    mep_channel: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Stimulation:
        if self.mode == "none":
            return self
        if self.motor_threshold is None and self.threshold_estimate is None:
            raise ValueError(
                "motor_threshold is required when stimulation is used (intensity is % of RMT), "
                "or a [stimulation.threshold_estimate] table to measure it at session start"
            )
        if self.mode == "cue-locked":
            if self.cue_locked is None:
                raise ValueError("mode 'cue-locked' needs a [stimulation.cue_locked] table")
        elif self.protocol is None:
            raise ValueError(f"mode '{self.mode}' needs a [stimulation.protocol] table")
        return self

    @property
    def intensity_pct_mso(self) -> float:
        """Intensity in % of maximum stimulator output, from % RMT and the RMT on record."""
        if self.motor_threshold is None:
            return 0.0
        return round(self.intensity_pct_rmt * self.motor_threshold.rmt_pct_mso / 100.0, 2)


StimulatorKind = Literal[
    "ttl-box", "magstim-200", "magstim-bistim", "magstim-rapid", "magventure", "none"
]


class StimulatorDevice(_Model):
    """Which stimulator, on which serial port (``None`` = emulated in simulation)."""

    kind: StimulatorKind = "ttl-box"
    port: str | None = None
    trigger_code: Annotated[int, Field(ge=1, le=255)] = 1
    pulse_width_ms: Annotated[float, Field(gt=0, le=100)] = 1.0
    #: Rapid² firmware ≥ V9 only: the code Magstim issued (``XXXX-XXXXXXXX-CC``, no checksum)
    unlock_code: str | None = Field(default=None, pattern=r"^[ -~]{4}-[ -~]{8}-[0-9A-Fa-f]{2}$")
    #: Rapid²: mains voltage and system type (0 Rapid², 1 Super Rapid², 2 Super Rapid² Plus),
    #: which set the maximum frequency per power (magstim-serial.md §11)
    rapid_voltage: Literal[115, 240] = 240
    rapid_type: Literal[0, 1, 2] = 0


class Devices(_Model):
    """Devices a session uses."""

    stimulator: StimulatorDevice = Field(default_factory=StimulatorDevice)
    display: Literal["offscreen", "window", "openxr", "none"] = "none"
    tracking: Literal["synthetic", "openxr", "lsl", "replay"] = "synthetic"


#: Profile limits a clinic may loosen only through an explicit, logged override.
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


class LslSettings(_Model):
    """Lab Streaming Layer network settings (multi-machine sessions); CLI options override."""

    #: hosts (names or addresses) to query directly, e.g. nodes on another subnet
    known_peers: list[str] = Field(default_factory=list)
    #: liblsl [lab] SessionID: only nodes with the same id see each other's streams
    session_id: str | None = None
    #: liblsl [multicast] ResolveScope: machine, link, site, organization or global
    resolve_scope: Literal["machine", "link", "site", "organization", "global"] | None = None


class CueTone(_Model):
    """A short soft tone sounded with each imagery/mirror cue (see docs/scene.md).

    Raised-cosine ramps at both ends keep it free of clicks. It starts in the frame that first
    shows the cue (real-time displays only); each cue event logs whether it played.
    """

    #: sound it with every imagery and mirror cue (a block's ``cue_tone`` overrides this)
    enabled: bool = False
    frequency_hz: Annotated[float, Field(ge=100, le=4000, allow_inf_nan=False)] = 660.0
    duration_ms: Annotated[float, Field(ge=20, le=2000, allow_inf_nan=False)] = 150.0
    #: peak level in dB below digital full scale (−20 dBFS = a tenth of full amplitude); the
    #: loudness the patient hears also depends on the PC's volume
    level_dbfs: Annotated[float, Field(ge=-60, le=-3, allow_inf_nan=False)] = -20.0
    #: length of each raised-cosine fade (in and out)
    ramp_ms: Annotated[float, Field(ge=1, le=500, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _ramps_fit(self) -> CueTone:
        if 2 * self.ramp_ms > self.duration_ms:
            raise ValueError(
                f"ramp_ms ({self.ramp_ms:g}) must be at most half of duration_ms "
                f"({self.duration_ms:g}): the fade-in and fade-out must fit in the tone"
            )
        return self

    def params(self) -> dict[str, float]:
        """The tone's sound parameters (what a cue step carries and its event logs)."""
        return {
            "frequency_hz": self.frequency_hz,
            "duration_ms": self.duration_ms,
            "level_dbfs": self.level_dbfs,
            "ramp_ms": self.ramp_ms,
        }


def _hex_rgb(text: str) -> tuple[float, float, float]:
    h = text.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return r, g, b


class SceneSettings(_Model):
    """How the patient's virtual limbs look and move (per patient; see docs/scene.md)."""

    #: skin tone of both hands, as a #rrggbb colour
    skin: str = Field(default="#dcb294", pattern=r"^#[0-9a-fA-F]{6}$")
    #: thickness of the drawn fingers, palm and forearm relative to the tracked joint radii
    #: (bone lengths always follow the tracked hand)
    hand_scale: Annotated[float, Field(ge=0.6, le=1.6)] = 1.0
    #: colour of the sleeve over both forearms, as a #rrggbb colour
    sleeve: str = Field(default="#6b7890", pattern=r"^#[0-9a-fA-F]{6}$")
    #: the patient's hand length (wrist crease to middle fingertip, cm): sizes the simulated,
    #: demonstration and laterality hands (a tracked hand brings its own size); None = 19 cm
    hand_length_cm: Annotated[float, Field(ge=12.0, le=26.0)] | None = None
    #: "room": the calm room with soft shadows; "plain": the table alone before a plain
    #: background, no shadows (for patients who find the room distracting)
    style: Literal["room", "plain"] = "room"
    #: draw the tracked intact hand too (the mirrored hand is always drawn)
    show_real_side: bool = True
    #: draw the residual limb (stump) on the amputated side
    show_residual: bool = False
    #: therapist's visual gain of the mirrored hand's movement (1 = faithful)
    mirror_gain: Annotated[float, Field(ge=0.25, le=4.0)] = 1.0
    #: offset of the mirrored hand (metres, x right, y forward, z up)
    mirror_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: One Euro smoothing of the tracked hand before mirroring
    smoothing: bool = True
    #: audio tone with imagery/mirror cues (off unless enabled here or per block)
    cue_tone: CueTone = Field(default_factory=CueTone)

    @property
    def skin_rgb(self) -> tuple[float, float, float]:
        """The skin colour as 0–1 floats."""
        return _hex_rgb(self.skin)

    @property
    def sleeve_rgb(self) -> tuple[float, float, float]:
        """The sleeve colour as 0–1 floats."""
        return _hex_rgb(self.sleeve)

    @property
    def hand_length_scale(self) -> float:
        """The patient's hand length relative to the model's adult hand (19 cm)."""
        return 1.0 if self.hand_length_cm is None else self.hand_length_cm / 19.0


class TrackingSettings(_Model):
    """Where the intact limb's pose comes from and what losing it does (docs/scene.md).

    The source itself is ``devices.tracking``: ``synthetic`` (simulation), ``lsl`` (a pose
    stream: a hand tracker, motion capture, another program), ``replay`` (a ``*.poses.jsonl``
    recording) or ``openxr`` (the headset's hand tracking / controllers / trackers).
    """

    #: ``lsl``: the stream's name
    lsl_stream: str = Field(default="mirrorvr-pose-input", min_length=1, max_length=200)
    #: ``lsl``: channel layout — ``mirrorvr`` (both limbs, our layout) or ``pos-quat``
    #: (one limb, joints × x y z + quaternion, as motion-capture systems send rigid bodies)
    lsl_layout: Literal["mirrorvr", "pos-quat"] = "mirrorvr"
    #: ``pos-quat``: the side the stream carries (default: the intact side)
    lsl_side: Literal["left", "right"] | None = None
    #: ``pos-quat``: quaternion component order
    lsl_quat_order: Literal["xyzw", "wxyz"] = "xyzw"
    #: ``pos-quat``: axes of the stream — ``z-up`` (mirrorvr's world) or ``y-up`` (OpenXR stage,
    #: most game engines: x right, y up, z towards the viewer)
    lsl_axes: Literal["z-up", "y-up"] = "z-up"
    lsl_units: Literal["m", "mm"] = "m"
    #: seconds to wait for the stream to appear when the session starts
    lsl_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    #: ``replay``: the recording (a path relative to the working directory, or absolute)
    replay_file: str | None = None
    replay_loop: bool = True
    #: what losing the intact limb does: pause the session (default), emergency-stop it
    #: (disarm at once, then pause), or nothing (the mirrored limb just disappears)
    on_lost: Literal["pause", "estop", "ignore"] = "pause"
    #: the limb counts as lost after this long without a tracked pose
    lost_after_s: Annotated[float, Field(gt=0, le=30)] = 0.5
    #: the body midline the limb is mirrored across: ``calibrate`` (a hold at the session's
    #: start: the plane through the head, or the therapist's mark without a head pose),
    #: ``marked`` (the plane x = ``midline_x_m``), ``stored`` (``midline_plane``: with
    #: ``--patient`` the clinic store's last one; calibrates when there is none yet)
    midline: Literal["calibrate", "marked", "stored"] = "calibrate"
    #: the therapist's mark: the midline's x in the world frame (metres, + = patient's right)
    midline_x_m: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    #: how long the patient holds still for the calibration
    midline_hold_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    #: a stored plane: point x y z, normal x y z (metres; world frame)
    midline_plane: tuple[float, float, float, float, float, float] | None = None
    #: headset controllers: held in the ``hands`` (a hand posed from the grip), or strapped to
    #: the ``feet`` (a lower-limb session: each controller's grip poses that foot, see
    #: mirrorvr.tracking.controller_leg; foot trackers win where both are present)
    controllers: Literal["hands", "feet"] = "hands"


class SessionPlan(_Model):
    """A whole, validated session plan."""

    session: SessionInfo = Field(default_factory=SessionInfo)
    patient: PatientRef
    blocks: list[Block] = Field(min_length=1)
    stimulation: Stimulation = Field(default_factory=Stimulation)
    devices: Devices = Field(default_factory=Devices)
    safety: SafetyProfile = Field(default_factory=SafetyProfile)
    lsl: LslSettings = Field(default_factory=LslSettings)
    #: required before any stimulation (the governor refuses without it)
    screening: Screening | None = None
    scene: SceneSettings = Field(default_factory=SceneSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)

    @model_validator(mode="after")
    def _replay_needs_a_file(self) -> SessionPlan:
        if self.devices.tracking == "replay" and not self.tracking.replay_file:
            raise ValueError(
                'devices.tracking = "replay" needs [tracking] replay_file (a *.poses.jsonl '
                "recording)"
            )
        return self

    @model_validator(mode="after")
    def _movements_fit_limb(self) -> SessionPlan:
        allowed = HAND_MOVEMENTS if self.patient.limb == "upper" else LEG_MOVEMENTS
        for i, b in enumerate(self.blocks):
            for m in getattr(b, "movements", ()):
                if m not in allowed:
                    raise ValueError(
                        f"blocks[{i}]: movement '{m}' is not a {self.patient.limb}-limb "
                        f"movement (use {', '.join(allowed)})"
                    )
            if b.kind == "phantom_motor_execution" and b.limb != self.patient.limb:
                raise ValueError(
                    f"blocks[{i}]: phantom motor execution is built for the upper limb so far; "
                    f"this patient's amputated limb is the {self.patient.limb} one"
                )
        return self

    @model_validator(mode="after")
    def _cue_locked_needs_cues(self) -> SessionPlan:
        if self.stimulation.mode == "cue-locked" and not any(
            b.kind in CUE_BLOCK_KINDS for b in self.blocks
        ):
            raise ValueError(
                "cue-locked stimulation needs at least one imagery, mirror or "
                "phantom_motor_execution block"
            )
        if self.stimulation.mode == "concurrent" and not any(
            (b.kind in CUE_BLOCK_KINDS and getattr(b, "rest_s", 0) > 0) or b.kind == "rest"
            for b in self.blocks
        ):
            raise ValueError("concurrent stimulation needs rests to place trains in")
        return self

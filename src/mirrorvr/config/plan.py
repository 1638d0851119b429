"""Pydantic models of a session plan.

A plan is what a therapist configures: who the patient is (pseudonymously), which exercise
blocks run in which order, how stimulation is timed relative to them, which devices are used and
which safety profile applies. Models are strict (unknown fields are errors) and immutable, so a
validated plan can be handed to the pure timeline compiler as plain data.

Stimulation timing uses the NIBS-BIDS v2 vocabulary (intervals and durations, no frequencies or
counts): a pulse repetition interval, then nested levels each with a duration and a repetition
interval (train, train repeat, repeat2, ...). Counts are derived, so 10/20 Hz trains, iTBS and
cTBS are all expressible.

The models live in modules named after what they hold (patient, blocks, stimulation, devices,
safety, scene); this module holds the session itself and re-exports every public name, so
``from mirrorvr.config.plan import X`` works for all of them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mirrorvr.config.base import (
    PositiveSeconds,
    Seconds,
    _Model,
)
from mirrorvr.config.blocks import (
    CUE_BLOCK_KINDS,
    HAND_MOVEMENTS,
    LEG_MOVEMENTS,
    PME_MOTION_CODES,
    Block,
    HandMovement,
    ImageryBlock,
    LateralityBlock,
    LegMovement,
    MirrorBlock,
    Movement,
    PhantomMotorExecutionBlock,
    PmeDecoding,
    PmeFeature,
    PmeMotion,
    RatingBlock,
    RestBlock,
)
from mirrorvr.config.devices import (
    Devices,
    LslSettings,
    StimulatorDevice,
    StimulatorKind,
    TrackingSettings,
)
from mirrorvr.config.patient import (
    LOWER_LEVELS,
    UPPER_LEVELS,
    LowerLevel,
    PatientRef,
    UpperLevel,
)
from mirrorvr.config.safety import (
    LoosenableLimit,
    SafetyOverride,
    SafetyProfile,
    Screening,
    ScreeningPositive,
)
from mirrorvr.config.scene import (
    CueTone,
    SceneSettings,
)
from mirrorvr.config.stimulation import (
    CueLocked,
    MotorThreshold,
    ProtocolLevel,
    PulseProtocol,
    Stimulation,
    ThresholdEstimation,
)

__all__ = [
    "CUE_BLOCK_KINDS",
    "HAND_MOVEMENTS",
    "LEG_MOVEMENTS",
    "LOWER_LEVELS",
    "PME_MOTION_CODES",
    "UPPER_LEVELS",
    "Block",
    "CueLocked",
    "CueTone",
    "Devices",
    "HandMovement",
    "ImageryBlock",
    "LateralityBlock",
    "LegMovement",
    "LoosenableLimit",
    "LowerLevel",
    "LslSettings",
    "MirrorBlock",
    "MotorThreshold",
    "Movement",
    "PatientRef",
    "PhantomMotorExecutionBlock",
    "PmeDecoding",
    "PmeFeature",
    "PmeMotion",
    "PositiveSeconds",
    "ProtocolLevel",
    "PulseProtocol",
    "RatingBlock",
    "RestBlock",
    "SafetyOverride",
    "SafetyProfile",
    "SceneSettings",
    "Screening",
    "ScreeningPositive",
    "Seconds",
    "SessionInfo",
    "SessionPlan",
    "Stimulation",
    "StimulatorDevice",
    "StimulatorKind",
    "ThresholdEstimation",
    "TrackingSettings",
    "UpperLevel",
]


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

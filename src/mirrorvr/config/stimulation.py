"""Stimulation of a plan: pulse protocol timing, motor threshold, threshold estimation, mode.

Stimulation timing uses the NIBS-BIDS v2 vocabulary (intervals and durations, no frequencies or
counts): a pulse repetition interval, then nested levels each with a duration and a repetition
interval (train, train repeat, repeat2, ...). Counts are derived, so 10/20 Hz trains, iTBS and
cTBS are all expressible.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from mirrorvr.config.base import PositiveSeconds, Seconds, _Model

#: Relative tolerance when a level's duration must be a whole multiple of the level below.
_COUNT_TOLERANCE = 1e-6


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
    #: what a device fault (lost link, keep-alive failure, error bits) does: ``estop`` (the
    #: safe default: disarm, and the session waits for an operator's resume or ends) or
    #: ``pause`` (disarm too, then wait up to ``device_fault_wait_s`` for the stimulator to
    #: answer again; stimulation goes on only after an operator's resume, a governor re-check
    #: and re-arming; a device that does not come back ends the session). docs/safety.md
    on_device_fault: Literal["estop", "pause"] = "estop"
    #: ``on_device_fault = "pause"``: how long the paused session waits for the stimulator to
    #: come back before it ends (aborted, disarmed, the missed pulses not delivered)
    device_fault_wait_s: Annotated[float, Field(gt=0, le=3600)] = 120.0

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

    # ---- paired pulses: power B (the second pulse of a device-timed pair) ------------------
    #: power B of a paired pulse in % of resting motor threshold, like ``intensity_pct_rmt``
    #: (power A); ``None``: the same as power A. Only for a protocol with
    #: ``paired_pulse_interval_ms`` (docs/stimulators.md, "BiStim² paired pulses").
    intensity_b_pct_rmt: Annotated[float, Field(gt=0, le=150)] | None = None

    @model_validator(mode="after")
    def _power_b_needs_pairs(self) -> Stimulation:
        paired = self.protocol is not None and self.protocol.paired_pulse_interval_ms
        if self.intensity_b_pct_rmt is not None and not paired:
            raise ValueError(
                "intensity_b_pct_rmt (power B) applies only to paired pulses: set "
                "stimulation.protocol.paired_pulse_interval_ms or remove it"
            )
        return self

    @property
    def power_b_pct_rmt(self) -> float:
        """Power B in % RMT as it will be given (power A's when not set)."""
        b = self.intensity_b_pct_rmt
        return self.intensity_pct_rmt if b is None else b

    @property
    def power_b_pct_mso(self) -> float:
        """Power B in % of maximum stimulator output, from % RMT and the RMT on record."""
        if self.motor_threshold is None:
            return 0.0
        return round(self.power_b_pct_rmt * self.motor_threshold.rmt_pct_mso / 100.0, 2)

"""Timeline compiler: a validated plan → an ordered list of timed steps. Pure, no I/O.

Times are seconds from the session start. At run time the runner only ever shifts the rest of
the timeline *later* (a pause, a slow rating), never earlier, so every interval the compiler
guarantees here (inter-train gaps, trains inside rests) still holds when the session runs.

Stimulation modes relative to the exercises:

``priming``     all trains first, then a gap, then the exercise blocks
``concurrent``  one train at the start (+ lead) of a rest, only if it fits in the rest and the
                protocol's train repeat interval has passed since the last train
``post``        exercise blocks, a gap, then all trains
``cue-locked``  one pulse (or one train of the protocol) a fixed delay after each imagery or
                mirror cue's display time
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from mirrorvr.config.plan import (
    ImageryBlock,
    LateralityBlock,
    MirrorBlock,
    PhantomMotorExecutionBlock,
    PulseProtocol,
    RatingBlock,
    RestBlock,
    SessionPlan,
    Stimulation,
)
from mirrorvr.errors import PlanError, Problem
from mirrorvr.session.embodiment import EMBODIMENT_ITEMS, prompt_for
from mirrorvr.session.embodiment import ITEM_S as EMBODIMENT_ITEM_S
from mirrorvr.session.embodiment import TIMEOUT_S as EMBODIMENT_TIMEOUT_S
from mirrorvr.stim.safety.counts import count_problems
from mirrorvr.stim.safety.limits import effective_limits

#: Step kinds, in the order they may appear within a repetition.
STEP_KINDS = (
    "block_start",
    "cue",
    "window",
    "rest",
    "rating",
    "embodiment",
    "laterality_trial",
    "train",
    "cue_pulse",
    "block_end",
    "end",
)


def _frozen(d: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(d)


@dataclass(frozen=True)
class Step:
    """One timed step of a session."""

    index: int
    t: float  # planned onset, seconds from session start
    duration: float
    kind: str
    block: int | None
    data: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))

    @property
    def end(self) -> float:
        """Planned end."""
        return self.t + self.duration

    @property
    def n_pulses(self) -> int:
        """Pulses this step delivers (0 for non-stimulation steps)."""
        return len(self.data.get("offsets", ())) if self.kind in ("train", "cue_pulse") else 0


@dataclass(frozen=True)
class Timeline:
    """The compiled session: steps ordered by planned time."""

    steps: tuple[Step, ...]
    duration: float
    seed: int

    @property
    def total_pulses(self) -> int:
        """Pulses the timeline delivers if nothing is refused or missed."""
        return sum(s.n_pulses for s in self.steps)

    @property
    def stim_steps(self) -> list[Step]:
        """Trains and cue-locked pulses, in order."""
        return [s for s in self.steps if s.n_pulses]

    def pulse_times(self) -> list[float]:
        """Planned time of every pulse (cue-locked pulses at cue planned time + delay)."""
        return sorted(s.t + o for s in self.steps for o in s.data.get("offsets", ()))


@dataclass
class _Builder:
    steps: list[dict[str, Any]] = field(default_factory=list)

    def add(self, t: float, duration: float, kind: str, block: int | None, **data: Any) -> None:
        self.steps.append(
            {"t": t, "duration": duration, "kind": kind, "block": block, "data": data}
        )


def _movement_order(block: ImageryBlock | MirrorBlock, rng: random.Random) -> list[str]:
    seq: list[str] = [block.movements[i % len(block.movements)] for i in range(block.repetitions)]
    if block.randomise:
        rng.shuffle(seq)
    return seq


def safety_group(protocol: PulseProtocol | None, n: int) -> int:
    """Which safety train the ``n``-th stimulation step belongs to.

    For rTMS every step is one train. For theta burst a step is one burst, and the safety train
    is the run of bursts of level 2 (an iTBS 2-s train of 10 bursts), or the whole protocol when
    there is no level above the bursts (cTBS). Inter-train intervals are measured between
    groups; the train-duration limits apply to a group's span.
    """
    if protocol is None or protocol.pattern != "tbs":
        return n
    counts = protocol.counts()
    return n // counts[1] if len(counts) >= 3 else 0


def _train_payload(
    plan: SessionPlan, protocol: PulseProtocol, phase: str, n: int
) -> dict[str, Any]:
    return {
        "train": n,
        "group": safety_group(protocol, n),
        "pattern": protocol.pattern,
        "phase": phase,
        "protocol": protocol.name,
        "offsets": tuple(protocol.train_pulse_offsets()),
        "intensity_pct_mso": plan.stimulation.intensity_pct_mso,
        "intensity_pct_rmt": plan.stimulation.intensity_pct_rmt,
        "frequency_hz": protocol.frequency_hz,
        # offsets alternate first/second pulse of each pair: the safety checker needs to know
        "paired": bool(protocol.paired_pulse_interval_ms),
        **_power_b(plan.stimulation, protocol),
    }


def _power_b(stim: Stimulation, protocol: PulseProtocol | None) -> dict[str, Any]:
    """A paired step's power B (second pulse) and interval; nothing for other steps."""
    if protocol is None or not protocol.paired_pulse_interval_ms:
        return {}
    return {
        "paired_interval_ms": protocol.paired_pulse_interval_ms,
        "intensity_b_pct_mso": stim.power_b_pct_mso,
        "intensity_b_pct_rmt": stim.power_b_pct_rmt,
    }


def _add_train_block(b: _Builder, plan: SessionPlan, t0: float, phase: str, n0: int) -> float:
    protocol = plan.stimulation.protocol
    assert protocol is not None
    onsets = protocol.train_onsets()
    for i, onset in enumerate(onsets):
        b.add(
            t0 + onset,
            protocol.train_duration_s,
            "train",
            None,
            **_train_payload(plan, protocol, phase, n0 + i),
        )
    return t0 + onsets[-1] + protocol.train_duration_s


def compile_timeline(plan: SessionPlan) -> Timeline:
    """Compile a plan into its timeline; raises ``PlanError`` if the plan cannot be scheduled.

    Pulses are counted arithmetically first: a plan over its per-session limit is refused before
    anything is expanded (a 10^6-pulse protocol costs microseconds, not gigabytes).
    """
    over = count_problems(plan)
    if over:
        raise PlanError(over)
    stim = plan.stimulation
    b = _Builder()
    t = 0.0
    n_train = 0
    if stim.mode == "priming":
        end = _add_train_block(b, plan, t, "priming", 0)
        n_train = len(b.steps)
        t = end + stim.gap_s

    for bi, block in enumerate(plan.blocks):
        rng = random.Random(block_seed(plan, bi))
        b.add(t, 0.0, "block_start", bi, block_kind=block.kind, label=block.label)
        if isinstance(block, RatingBlock):
            b.add(
                t,
                block.duration_s,
                "rating",
                bi,
                timepoint=block.timepoint,
                prompt=block.prompt,
                timeout_s=block.timeout_s,
            )
            t += block.duration_s
        elif isinstance(block, RestBlock):
            b.add(t, block.duration_s, "rest", bi)
            t += block.duration_s
        elif isinstance(block, LateralityBlock):
            slot = block.time_limit_s + block.inter_trial_s
            for trial in range(block.trials):
                b.add(
                    t,
                    slot,
                    "laterality_trial",
                    bi,
                    trial=trial,
                    side=rng.choice(["left", "right"]),
                    angle_deg=rng.choice(block.angles_deg),
                    view=rng.choice(block.views),
                    time_limit_s=block.time_limit_s,
                )
                t += slot
        elif isinstance(block, PhantomMotorExecutionBlock):
            t, n_train = _add_pme_block(b, plan, block, bi, t, rng, n_train)
        else:
            window = block.imagery_s if isinstance(block, ImageryBlock) else block.movement_s
            # the cue tone's parameters ride on the cue step: presenters play what it carries
            tone_on = plan.scene.cue_tone.enabled if block.cue_tone is None else block.cue_tone
            tone = plan.scene.cue_tone.params() if tone_on else None
            for rep, movement in enumerate(_movement_order(block, rng)):
                cue_index = len(b.steps)
                b.add(
                    t,
                    block.cue_s,
                    "cue",
                    bi,
                    repetition=rep,
                    movement=movement,
                    exercise=block.kind,
                    **({"tone": dict(tone)} if tone else {}),
                )
                if stim.mode == "cue-locked":
                    _add_cue_pulse(b, plan, rng, t, cue_index, bi, n_train)
                    n_train += 1
                t += block.cue_s
                b.add(
                    t, window, "window", bi, repetition=rep, movement=movement, exercise=block.kind
                )
                t += window
                if block.rest_s > 0:
                    b.add(t, block.rest_s, "rest", bi, repetition=rep)
                    t += block.rest_s
            if isinstance(block, MirrorBlock) and block.embodiment:
                # the questionnaire closes the block: one slider per statement
                limb = "foot" if plan.patient.limb == "lower" else "hand"
                for item in EMBODIMENT_ITEMS:
                    b.add(
                        t,
                        EMBODIMENT_ITEM_S,
                        "embodiment",
                        bi,
                        item=item.id,
                        prompt=prompt_for(item.id, limb),
                        timeout_s=EMBODIMENT_TIMEOUT_S,
                    )
                    t += EMBODIMENT_ITEM_S
        b.add(t, 0.0, "block_end", bi, block_kind=block.kind)

    if stim.mode == "concurrent":
        _place_concurrent(b, plan)
    if stim.mode == "cue-locked":
        _check_cue_locked_spacing(b)
    if stim.mode == "post":
        t = _add_train_block(b, plan, t + stim.gap_s, "post", 0)
    b.add(t, 0.0, "end", None)

    # stable sort: same-time steps keep insertion order (block_start before its first step)
    order = sorted(range(len(b.steps)), key=lambda i: (b.steps[i]["t"], i))
    remap = {old: new for new, old in enumerate(order)}
    steps = []
    for new, old in enumerate(order):
        s = b.steps[old]
        data = dict(s["data"])
        if "cue_step" in data:
            data["cue_step"] = remap[data["cue_step"]]
        steps.append(Step(new, s["t"], s["duration"], s["kind"], s["block"], _frozen(data)))
    duration = max(s.end for s in steps)
    return Timeline(tuple(steps), duration, plan.session.seed)


def _add_cue_pulse(
    b: _Builder, plan: SessionPlan, rng: random.Random, t: float, cue_index: int, bi: int, n: int
) -> None:
    """A cue-locked pulse (or train) for the cue step ``cue_index`` planned at ``t``."""
    stim = plan.stimulation
    assert stim.cue_locked is not None
    jitter = stim.cue_locked.jitter_ms
    delay = (stim.cue_locked.delay_ms + rng.uniform(-jitter, jitter)) / 1000.0
    offsets = tuple(stim.protocol.train_pulse_offsets()) if stim.protocol else (0.0,)
    b.add(
        t + delay,
        offsets[-1],
        "cue_pulse",
        bi,
        cue_step=cue_index,
        delay_s=delay,
        offsets=offsets,
        train=n,
        group=n,
        pattern=stim.protocol.pattern if stim.protocol else "single",
        frequency_hz=stim.protocol.frequency_hz if stim.protocol else 0.0,
        paired=bool(stim.protocol and stim.protocol.paired_pulse_interval_ms),
        phase="cue-locked",
        intensity_pct_mso=stim.intensity_pct_mso,
        intensity_pct_rmt=stim.intensity_pct_rmt,
        **_power_b(stim, stim.protocol),
    )


#: PME task targets: each motion's degree of freedom and direction (as tracking.phantom has it)
_PME_TARGET_SIGN = {
    "hand_close": 1,
    "hand_open": -1,
    "wrist_flexion": 1,
    "wrist_extension": -1,
    "supination": 1,
    "pronation": -1,
}


def _add_pme_block(
    b: _Builder,
    plan: SessionPlan,
    block: PhantomMotorExecutionBlock,
    bi: int,
    t: float,
    rng: random.Random,
    n_train: int,
) -> tuple[float, int]:
    """Calibration (cue, contract, rest per motion and repetition), fitting, then target tasks.

    Every step carries ``exercise="pme"`` and a ``phase`` (calibration, fit, task), so the
    PME engine knows what to record or score; cues take cue-locked pulses like imagery cues,
    and the rests take concurrent trains like any rest. Returns (end time, trains so far).
    """
    cue_locked = plan.stimulation.mode == "cue-locked"
    active = block.active_motions
    pme = {"exercise": "pme", "limb": block.limb}

    def cue(t: float, **data: Any) -> None:
        nonlocal n_train
        index = len(b.steps)
        b.add(t, block.cue_s, "cue", bi, **pme, **data)
        if cue_locked:
            _add_cue_pulse(b, plan, rng, t, index, bi, n_train)
            n_train += 1

    for rep in range(block.calibration_repetitions):
        order = list(active)
        if block.randomise:
            rng.shuffle(order)
        for motion in order:
            data = {"phase": "calibration", "movement": motion, "repetition": rep}
            cue(t, **data)
            t += block.cue_s
            b.add(t, block.contraction_s, "window", bi, **pme, **data)
            t += block.contraction_s
            # concurrent trains stay out of calibration rests unless the plan allows them:
            # their artefacts and MEPs would be learned as the rest class
            quiet = {} if block.calibration_stimulation else {"no_trains": True}
            b.add(t, block.rest_s, "rest", bi, **pme, phase="calibration", repetition=rep, **quiet)
            t += block.rest_s
    b.add(t, block.fit_s, "rest", bi, **pme, phase="fit", no_trains=True)
    t += block.fit_s
    targets: list[str] = []
    for task in range(block.tasks):
        if not targets:
            targets = list(active)
            if block.randomise:
                rng.shuffle(targets)
        motion = targets.pop(0)
        sign = _PME_TARGET_SIGN[motion]
        data = {
            "phase": "task",
            "movement": motion,
            "task": task,
            "target_value": sign * block.task_level,
            "tolerance": block.task_tolerance,
            "hold_s": block.task_hold_s,
        }
        cue(t, **data)
        t += block.cue_s
        b.add(t, block.task_limit_s, "window", bi, **pme, **data)
        t += block.task_limit_s
        b.add(t, block.task_rest_s, "rest", bi, **pme, phase="task", task=task)
        t += block.task_rest_s
    return t, n_train


def block_seed(plan: SessionPlan, index: int) -> int:
    """Seed of a block's randomisation: its own, or derived from the session seed."""
    block = plan.blocks[index]
    own = getattr(block, "seed", None)
    return own if own is not None else plan.session.seed * 1000 + index


def _place_concurrent(b: _Builder, plan: SessionPlan) -> None:
    stim = plan.stimulation
    protocol = stim.protocol
    assert protocol is not None
    n_trains = len(protocol.train_onsets())
    spacing = protocol.levels[0].repetition_interval_s if protocol.levels else 0.0
    # the governor's minimum gap runs from a train's last pulse to the next train's first
    min_gap = effective_limits(plan.safety).profile.min_intertrain_interval_s
    last_offset = protocol.train_pulse_offsets()[-1]
    spacing = max(spacing or 0.0, last_offset + min_gap)
    need = stim.rest_lead_s + protocol.train_duration_s
    placed = 0
    last: float | None = None
    for s in list(b.steps):
        if placed == n_trains:
            break
        if s["kind"] != "rest" or s["duration"] + 1e-9 < need or s["data"].get("no_trains"):
            continue
        onset = s["t"] + stim.rest_lead_s
        if last is not None and onset - last < spacing - 1e-9:
            continue
        b.add(
            onset,
            protocol.train_duration_s,
            "train",
            s["block"],
            **_train_payload(plan, protocol, "concurrent", placed),
        )
        placed += 1
        last = onset
    if placed < n_trains:
        raise PlanError(
            [
                Problem(
                    "stimulation.protocol",
                    f"only {placed} of {n_trains} trains fit into the rests (each train needs a "
                    f"rest of at least {need:g} s and {spacing:g} s since the previous train); "
                    "add repetitions, lengthen rest_s, or shorten the protocol",
                )
            ]
        )


def _check_cue_locked_spacing(b: _Builder) -> None:
    pulses = sorted((s for s in b.steps if s["kind"] == "cue_pulse"), key=lambda s: s["t"])
    for prev, nxt in pairwise(pulses):
        last = prev["t"] + prev["data"]["offsets"][-1]
        if nxt["t"] <= last:
            raise PlanError(
                [
                    Problem(
                        "stimulation.protocol",
                        f"a cue-locked train lasts {prev['data']['offsets'][-1]:g} s but the next "
                        f"cue comes {nxt['t'] - prev['t']:g} s later; shorten the train or "
                        "lengthen the cue cycle (cue_s + imagery_s/movement_s + rest_s)",
                    )
                ]
            )

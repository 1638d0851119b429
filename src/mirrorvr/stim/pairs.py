"""Device-timed paired pulses: which pulses of a step go out on one trigger. Pure, tiny.

A paired step's offsets alternate the first and the second pulse of each pair (the timeline
compiler writes them so). On a stimulator that times the pair itself (BiStim², its interval and
power B set and read back) one trigger gives both pulses: the second follows the first by the
interval the device confirmed. Used by the session's executor and by the stimulation process,
so both fire a pair as one trigger and count it as two pulses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Trigger(NamedTuple):
    """One trigger of a step: the index and offset of its (first) pulse, and whether the device
    adds a second pulse (a pair) after it."""

    i: int
    offset: float
    paired: bool


def triggers(offsets: Sequence[float], paired: bool) -> list[Trigger]:
    """The triggers that give a step's pulses: one per pulse, or one per pair when ``paired``."""
    if not paired:
        return [Trigger(i, float(o), False) for i, o in enumerate(offsets)]
    if len(offsets) % 2:
        raise ValueError(f"a paired step has an even number of pulses, got {len(offsets)}")
    return [Trigger(i, float(offsets[i]), True) for i in range(0, len(offsets), 2)]


def pulses_of(trigger: Trigger) -> int:
    """Pulses one trigger gives (a pair counts as two, as docs/safety.md counts it)."""
    return 2 if trigger.paired else 1

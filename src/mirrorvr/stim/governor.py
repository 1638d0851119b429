"""The safety governor: the one gate every pulse passes. Pure decisions over plain data.

``check_plan`` looks at a whole plan before a session starts (and again on every resume);
``authorize`` looks at each train or pulse again at run time against the live session state.
Neither clips: a request is allowed as it is, or refused with a reason a therapist understands.

The rules live in :mod:`mirrorvr.stim.safety` (train-duration table, baseline and overrides,
run-time gate, plan check); this module is their public face. Rules and sources:
docs/safety.md.
"""

from __future__ import annotations

from mirrorvr.stim.safety.limits import (
    BASELINE,
    Limits,
    at_least_as_strict,
    effective_limits,
    loosening_problems,
)
from mirrorvr.stim.safety.plan_check import (
    check_plan,
    request_from_step,
    safety_notices,
    session_budget,
    walk_timeline,
)
from mirrorvr.stim.safety.pulse_stream import PairedDevice
from mirrorvr.stim.safety.runtime import (
    Decision,
    DeviceLimits,
    GroupState,
    Ledger,
    RuntimeState,
    StimRequest,
    authorize,
    release,
    reserve,
    train_limit_s,
)
from mirrorvr.stim.safety.train_table import TrainTable, default_table, lookup

__all__ = [
    "BASELINE",
    "Decision",
    "DeviceLimits",
    "GroupState",
    "Ledger",
    "Limits",
    "PairedDevice",
    "RuntimeState",
    "StimRequest",
    "TrainTable",
    "at_least_as_strict",
    "authorize",
    "check_plan",
    "default_table",
    "effective_limits",
    "lookup",
    "loosening_problems",
    "release",
    "request_from_step",
    "reserve",
    "safety_notices",
    "session_budget",
    "train_limit_s",
    "walk_timeline",
]

"""Plans for stimulation tests, built as dicts (what a TOML file parses to)."""

from __future__ import annotations

import copy
from typing import Any

DAY = "2026-03-02"

BASE: dict[str, Any] = {
    "session": {"seed": 11},
    "patient": {"id": "T-9", "amputation_side": "right"},
    "blocks": [
        {"kind": "rating", "timepoint": "pre", "duration_s": 1.0},
        {"kind": "rest", "duration_s": 5.0},
        {"kind": "rating", "timepoint": "post", "duration_s": 1.0},
    ],
    "stimulation": {
        "mode": "priming",
        "intensity_pct_rmt": 90,
        "gap_s": 2.0,
        "motor_threshold": {"rmt_pct_mso": 50, "measured_on": DAY},
    },
    "screening": {"completed_on": DAY, "completed_by": "nurse A"},
}


def plan_dict(protocol: dict[str, Any] | None = None, **stim: Any) -> dict[str, Any]:
    """A priming plan running ``protocol`` (with stimulation fields replaced by ``stim``)."""
    d = copy.deepcopy(BASE)
    if protocol is not None:
        d["stimulation"]["protocol"] = protocol
    d["stimulation"].update(stim)
    return d


def rtms(frequency_hz: float, pulses: int, trains: int, period_s: float) -> dict[str, Any]:
    """Conventional rTMS in the NIBS-BIDS vocabulary: ``trains`` trains every ``period_s``."""
    ipi = 1.0 / frequency_hz
    return {
        "pulse_repetition_interval_s": ipi,
        "levels": [
            {"duration_s": round(pulses * ipi, 9), "repetition_interval_s": period_s},
            {"duration_s": trains * period_s},
        ],
    }


ITBS = {
    "name": "iTBS",
    "pulse_repetition_interval_s": 0.02,
    "levels": [
        {"duration_s": 0.06, "repetition_interval_s": 0.2},
        {"duration_s": 2.0, "repetition_interval_s": 10.0},
        {"duration_s": 200.0},
    ],
}

CTBS = {
    "name": "cTBS",
    "pulse_repetition_interval_s": 0.02,
    "levels": [{"duration_s": 0.06, "repetition_interval_s": 0.2}, {"duration_s": 40.0}],
}

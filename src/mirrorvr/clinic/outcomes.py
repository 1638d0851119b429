"""Outcome measures: rating scales, timepoint labels, questionnaire items and derived scores.

Raw scores are stored with an explicit timepoint; everything else (BPI severity, change from
baseline, responder status) is derived here, never stored (clinical-workflow reference §3-4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mirrorvr.errors import MirrorVRError

#: Pain scales: NRS 0-10 (IMMPACT core measure) and the 100-mm VAS.
SCALES = {"nrs": 10.0, "vas": 100.0}

_TIMEPOINT = re.compile(r"^(pre|post|during|end-of-treatment|follow-up-[0-9]+[dwm]?)$")

#: BPI short form: four severity items and seven interference items, each 0-10.
BPI_SEVERITY = ("worst", "least", "average", "now")
BPI_INTERFERENCE = (
    "general_activity",
    "mood",
    "walking",
    "normal_work",
    "relations",
    "sleep",
    "enjoyment",
)

#: SF-MPQ-2 descriptors (Dworkin 2009), each 0-10, by subscale (22 items as commonly
#: printed; the count is unverified in our reference, so check against the licensed form).
SFMPQ2_SUBSCALES: dict[str, tuple[str, ...]] = {
    "continuous": ("throbbing", "cramping", "gnawing", "aching", "heavy", "tender"),
    "intermittent": ("shooting", "stabbing", "sharp", "splitting", "electric_shock", "piercing"),
    "neuropathic": (
        "hot_burning",
        "cold_freezing",
        "pain_caused_by_light_touch",
        "itching",
        "tingling",
        "numbness",
    ),
    "affective": ("tiring_exhausting", "sickening", "fearful", "punishing_cruel"),
}

ITEMS: frozenset[str] = frozenset(
    [f"bpi.{k}" for k in (*BPI_SEVERITY, *BPI_INTERFERENCE)]
    + [f"sfmpq2.{k}" for items in SFMPQ2_SUBSCALES.values() for k in items]
)


class RatingError(MirrorVRError):
    """A rating, timepoint or questionnaire item is out of range or unknown."""


def check_rating(value: float, scale: str, timepoint: str) -> None:
    """Refuse a value outside its scale or an unknown timepoint label."""
    if scale not in SCALES:
        raise RatingError(f"scale '{scale}' is unknown: use one of {', '.join(SCALES)}")
    top = SCALES[scale]
    if not 0 <= value <= top:
        raise RatingError(f"a {scale.upper()} rating must be 0-{top:g}, got {value:g}")
    if not _TIMEPOINT.match(timepoint):
        raise RatingError(
            f"timepoint '{timepoint}' is unknown: use pre, post, during, end-of-treatment or "
            "follow-up-N (e.g. follow-up-3m)"
        )


def check_items(items: Mapping[str, float]) -> None:
    """Refuse unknown questionnaire items and scores outside 0-10."""
    for key, v in items.items():
        if key not in ITEMS:
            raise RatingError(
                f"questionnaire item '{key}' is unknown (items are bpi.<item> or sfmpq2.<item>; "
                "see docs/clinic.md)"
            )
        if not 0 <= float(v) <= 10:
            raise RatingError(f"questionnaire item '{key}' must be 0-10, got {v}")


def bpi_severity(items: Mapping[str, float]) -> float | None:
    """BPI pain severity: mean of worst, least, average and now (all four needed)."""
    vals = [items.get(f"bpi.{k}") for k in BPI_SEVERITY]
    if any(v is None for v in vals):
        return None
    return sum(float(v) for v in vals if v is not None) / 4.0


def bpi_interference(items: Mapping[str, float]) -> float | None:
    """BPI interference: mean of the answered items, valid when at least 4 of 7 are answered."""
    vals = [float(items[f"bpi.{k}"]) for k in BPI_INTERFERENCE if f"bpi.{k}" in items]
    return sum(vals) / len(vals) if len(vals) >= 4 else None


def sfmpq2_subscales(items: Mapping[str, float]) -> dict[str, float]:
    """Mean score of each SF-MPQ-2 subscale whose items are all answered."""
    out = {}
    for name, keys in SFMPQ2_SUBSCALES.items():
        vals = [items.get(f"sfmpq2.{k}") for k in keys]
        if all(v is not None for v in vals):
            out[name] = sum(float(v) for v in vals if v is not None) / len(vals)
    return out


def percent_change(baseline: float, value: float) -> float | None:
    """Change from baseline in percent (None when the baseline is 0)."""
    return None if baseline == 0 else 100.0 * (value - baseline) / baseline


#: Responder rule, versioned: ≥ 30 % decrease from baseline (IMMPACT "moderately important";
#: Malavera 2016 used > 30 %). Derived on demand, never stored as a flag.
RESPONDER_RULE = ("immpact-30pct-v1", -30.0)


def is_responder(baseline: float, value: float) -> bool | None:
    """Whether ``value`` is a ≥ 30 % decrease from ``baseline`` (rule RESPONDER_RULE)."""
    pc = percent_change(baseline, value)
    return None if pc is None else pc <= RESPONDER_RULE[1]

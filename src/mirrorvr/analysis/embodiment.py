"""Embodiment outcomes of a session: the questionnaire's answers per item (0–10 agreement)."""

from __future__ import annotations

from typing import Any

from mirrorvr.analysis.recording import Recording
from mirrorvr.session.embodiment import EMBODIMENT_ITEMS, embodiment_scores

ITEMS = tuple(it.id for it in EMBODIMENT_ITEMS)


def embodiment_outcomes(rec: Recording) -> dict[str, Any]:
    """Mean agreement per item, how many statements were asked and answered."""
    answers = rec.of_kind("embodiment")
    events = [{"kind": "embodiment", **row} for row in answers["data"]]
    scores = embodiment_scores(events)
    asked = len(rec.of_kind("embodiment_prompt"))
    answered = sum(1 for e in events if e.get("value") is not None)
    return {
        "available": asked > 0,
        "asked": asked,
        "answered": answered,
        "items": {k: scores.get(k) for k in ITEMS},
        # the three components together: the mean of the item means answered
        "mean": sum(scores.values()) / len(scores) if scores else None,
    }


def embodiment_row(outcome: dict[str, Any]) -> dict[str, Any]:
    """The pooled table's embodiment columns (None where a session asked nothing)."""
    items = outcome.get("items") or {}
    return {
        **{f"embodiment_{k}": items.get(k) for k in ITEMS},
        "embodiment_mean": outcome.get("mean"),
    }

"""The embodiment questionnaire: does the mirrored limb feel like the patient's own?

Asked in the headset after a mirror block whose plan says ``embodiment = true``, on the same
in-scene 0–10 slider as the pain rating (0 = strongly disagree, 10 = strongly agree), one
statement at a time. Three items, one per component of embodiment that VR studies separate
(after Longo et al. 2008, Cognition 107:978, and Peck & Gonzalez-Franco 2021, Front. Virtual
Real. 1:575943): **ownership** (the limb is mine), **agency** (I move it), **location** (it is
where my limb is). The wording is ours, in plain language — not a validated translation of
either questionnaire; the item ids are what analysis keys on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmbodimentItem:
    """One statement the patient rates."""

    id: str
    prompt: str


EMBODIMENT_ITEMS: tuple[EmbodimentItem, ...] = (
    EmbodimentItem("ownership", "The hand I just saw felt like my own hand."),
    EmbodimentItem("agency", "I felt that I was moving the hand I just saw."),
    EmbodimentItem("location", "The hand I just saw was where my missing hand should be."),
)
#: the slider's end labels for agreement (the pain rating has "no pain" / "worst pain")
AGREEMENT_ENDS = ("strongly disagree", "strongly agree")
#: planned time per item and how long an answer is waited for
ITEM_S = 8.0
TIMEOUT_S = 30.0


def prompt_for(item: str, limb_word: str = "hand") -> str:
    """The statement of ``item``, worded for the limb (``hand`` / ``foot``)."""
    for it in EMBODIMENT_ITEMS:
        if it.id == item:
            return it.prompt.replace("hand", limb_word)
    raise KeyError(item)


def embodiment_scores(events: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Mean answer per item over a session's ``embodiment`` events (unanswered ones skipped)."""
    sums: dict[str, list[float]] = {}
    for e in events:
        if e.get("kind") == "embodiment" and e.get("value") is not None:
            sums.setdefault(str(e["item"]), []).append(float(e["value"]))
    return {k: sum(v) / len(v) for k, v in sums.items()}

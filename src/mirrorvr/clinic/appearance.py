"""How a patient's virtual limbs look: skin tone, sleeve colour, hand length and width.

Measured on the intact hand and kept in the clinic store (table ``patient_appearance``); a
session planned for the patient carries them into the plan's ``[scene]``
(:func:`mirrorvr.clinic.readiness.plan_for_patient`), so the mirrored limb — the intact limb's
mirror image — looks like the patient's own. The therapist sets them in the console with a live
preview.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from typing import Any

from mirrorvr.clinic.db import StoreError
from mirrorvr.clinic.store import ClinicStore

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
#: the model's adult hand: wrist crease to middle fingertip, and breadth across the knuckles
MODEL_LENGTH_CM = 19.0
MODEL_WIDTH_CM = 8.5


@dataclass(frozen=True)
class Appearance:
    """One patient's limb appearance (lengths in cm, measured on the intact hand)."""

    skin: str = "#dcb294"
    sleeve: str = "#6b7890"
    hand_length_cm: float | None = None
    hand_width_cm: float | None = None

    def problems(self) -> list[str]:
        """What is wrong with these values (empty when they can be stored)."""
        out = []
        for name in ("skin", "sleeve"):
            if not _HEX.match(getattr(self, name)):
                out.append(f"{name}: '{getattr(self, name)}' is not a #rrggbb colour")
        if self.hand_length_cm is not None and not 12.0 <= self.hand_length_cm <= 26.0:
            out.append(f"hand_length_cm: {self.hand_length_cm} is outside 12–26 cm")
        if self.hand_width_cm is not None and not 5.0 <= self.hand_width_cm <= 13.0:
            out.append(f"hand_width_cm: {self.hand_width_cm} is outside 5–13 cm")
        return out

    def scene_overrides(self) -> dict[str, Any]:
        """The plan's ``[scene]`` values these settings decide."""
        out: dict[str, Any] = {"skin": self.skin.lower(), "sleeve": self.sleeve.lower()}
        if self.hand_length_cm is not None:
            out["hand_length_cm"] = self.hand_length_cm
        if self.hand_width_cm is not None:
            # thickness relative to a hand of the patient's length with the model's proportions
            length = self.hand_length_cm or MODEL_LENGTH_CM
            expected = MODEL_WIDTH_CM * length / MODEL_LENGTH_CM
            out["hand_scale"] = round(min(1.6, max(0.6, self.hand_width_cm / expected)), 3)
        return out


def get_appearance(store: ClinicStore, patient_id: str) -> Appearance | None:
    """The patient's stored appearance (``None`` if never set)."""
    rows = store._rows(
        "SELECT skin, sleeve, hand_length_cm, hand_width_cm FROM patient_appearance "
        "WHERE patient_id = ?",
        patient_id,
    )
    if not rows:
        return None
    r = rows[0]
    return Appearance(r["skin"], r["sleeve"], r["hand_length_cm"], r["hand_width_cm"])


def set_appearance(store: ClinicStore, patient_id: str, a: Appearance) -> Appearance:
    """Store (replace) the patient's appearance; refuses bad values with what is wrong."""
    store.patient(patient_id)  # an unknown patient is refused with its own message
    problems = a.problems()
    if problems:
        raise StoreError(f"appearance of {patient_id}: " + "; ".join(problems))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with store._write() as c:
        c.execute(
            "INSERT INTO patient_appearance (patient_id, skin, sleeve, hand_length_cm, "
            "hand_width_cm, updated) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(patient_id) DO "
            "UPDATE SET skin = excluded.skin, sleeve = excluded.sleeve, hand_length_cm = "
            "excluded.hand_length_cm, hand_width_cm = excluded.hand_width_cm, "
            "updated = excluded.updated",
            (patient_id, a.skin.lower(), a.sleeve.lower(), a.hand_length_cm, a.hand_width_cm, now),
        )
    return a


def as_dict(a: Appearance | None) -> dict[str, Any]:
    """JSON form (defaults where nothing is stored)."""
    return asdict(a or Appearance())

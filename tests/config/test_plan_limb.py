"""The plan names the limb; levels and movements must fit it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mirrorvr.config.plan import SessionPlan


def _plan(patient: dict[str, object], movements: list[str]) -> SessionPlan:
    return SessionPlan.model_validate(
        {
            "patient": patient,
            "blocks": [{"kind": "mirror", "movements": movements, "repetitions": 1}],
        }
    )


def test_lower_limb_defaults_to_transtibial() -> None:
    p = _plan({"id": "P1", "amputation_side": "left", "limb": "lower"}, ["foot_circles"])
    assert p.patient.limb == "lower" and p.patient.amputation_level == "transtibial"
    assert _plan({"id": "P1", "amputation_side": "left"}, ["fist"]).patient.limb == "upper"


@pytest.mark.parametrize(
    ("patient", "movements", "says"),
    [
        ({"limb": "lower", "amputation_level": "transradial"}, ["toe_flexion"], "lower limb"),
        ({"limb": "upper", "amputation_level": "transtibial"}, ["fist"], "upper limb"),
        ({"limb": "lower"}, ["fist"], "not a lower-limb movement"),
        ({}, ["knee_extension"], "not a upper-limb movement"),
    ],
)
def test_mismatches_are_refused(
    patient: dict[str, object], movements: list[str], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        _plan({"id": "P1", "amputation_side": "right", **patient}, movements)

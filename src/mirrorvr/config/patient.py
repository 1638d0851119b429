"""The pseudonymous patient reference and the amputation levels of each limb."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from mirrorvr.config.base import _Model

#: amputation levels of the upper limb, proximal last
UpperLevel = Literal["hand", "wrist", "transradial", "elbow", "transhumeral", "shoulder"]
#: amputation levels of the lower limb: partial foot, ankle (Syme), below the knee, knee
#: disarticulation, above the knee, hip disarticulation
LowerLevel = Literal["partial_foot", "ankle", "transtibial", "knee", "transfemoral", "hip"]
UPPER_LEVELS: tuple[str, ...] = get_args(UpperLevel)
LOWER_LEVELS: tuple[str, ...] = get_args(LowerLevel)


class PatientRef(_Model):
    """Pseudonymous patient reference: never a name."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    amputation_side: Literal["left", "right"]
    #: the amputated limb: ``upper`` (arm/hand) or ``lower`` (leg/foot); decides what is mirrored
    limb: Literal["upper", "lower"] = "upper"
    #: default: ``transradial`` for an upper limb, ``transtibial`` for a lower limb
    amputation_level: Literal[UpperLevel, LowerLevel, "other"] = "transradial"

    @model_validator(mode="before")
    @classmethod
    def _default_level(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("limb") == "lower":
            data = {"amputation_level": "transtibial", **data}
        return data

    @model_validator(mode="after")
    def _level_fits_limb(self) -> PatientRef:
        levels = UPPER_LEVELS if self.limb == "upper" else LOWER_LEVELS
        if self.amputation_level not in (*levels, "other"):
            raise ValueError(
                f"amputation_level '{self.amputation_level}' is not a level of the {self.limb} "
                f"limb (use one of {', '.join(levels)}, other)"
            )
        return self

    @property
    def intact_side(self) -> Literal["left", "right"]:
        """The side whose tracked limb is mirrored."""
        return "right" if self.amputation_side == "left" else "left"

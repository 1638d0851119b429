"""How the patient's virtual limbs look and move, and the cue tone."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mirrorvr.config.base import _Model


class CueTone(_Model):
    """A short soft tone sounded with each imagery/mirror cue (see docs/scene.md).

    Raised-cosine ramps at both ends keep it free of clicks. It starts in the frame that first
    shows the cue (real-time displays only); each cue event logs whether it played.
    """

    #: sound it with every imagery and mirror cue (a block's ``cue_tone`` overrides this)
    enabled: bool = False
    frequency_hz: Annotated[float, Field(ge=100, le=4000, allow_inf_nan=False)] = 660.0
    duration_ms: Annotated[float, Field(ge=20, le=2000, allow_inf_nan=False)] = 150.0
    #: peak level in dB below digital full scale (−20 dBFS = a tenth of full amplitude); the
    #: loudness the patient hears also depends on the PC's volume
    level_dbfs: Annotated[float, Field(ge=-60, le=-3, allow_inf_nan=False)] = -20.0
    #: length of each raised-cosine fade (in and out)
    ramp_ms: Annotated[float, Field(ge=1, le=500, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _ramps_fit(self) -> CueTone:
        if 2 * self.ramp_ms > self.duration_ms:
            raise ValueError(
                f"ramp_ms ({self.ramp_ms:g}) must be at most half of duration_ms "
                f"({self.duration_ms:g}): the fade-in and fade-out must fit in the tone"
            )
        return self

    def params(self) -> dict[str, float]:
        """The tone's sound parameters (what a cue step carries and its event logs)."""
        return {
            "frequency_hz": self.frequency_hz,
            "duration_ms": self.duration_ms,
            "level_dbfs": self.level_dbfs,
            "ramp_ms": self.ramp_ms,
        }


def _hex_rgb(text: str) -> tuple[float, float, float]:
    h = text.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    return r, g, b


class SceneSettings(_Model):
    """How the patient's virtual limbs look and move (per patient; see docs/scene.md)."""

    #: skin tone of both hands, as a #rrggbb colour
    skin: str = Field(default="#dcb294", pattern=r"^#[0-9a-fA-F]{6}$")
    #: thickness of the drawn fingers, palm and forearm relative to the tracked joint radii
    #: (bone lengths always follow the tracked hand)
    hand_scale: Annotated[float, Field(ge=0.6, le=1.6)] = 1.0
    #: colour of the sleeve over both forearms, as a #rrggbb colour
    sleeve: str = Field(default="#6b7890", pattern=r"^#[0-9a-fA-F]{6}$")
    #: the patient's hand length (wrist crease to middle fingertip, cm): sizes the simulated,
    #: demonstration and laterality hands (a tracked hand brings its own size); None = 19 cm
    hand_length_cm: Annotated[float, Field(ge=12.0, le=26.0)] | None = None
    #: "room": the calm room with soft shadows; "plain": the table alone before a plain
    #: background, no shadows (for patients who find the room distracting)
    style: Literal["room", "plain"] = "room"
    #: draw the tracked intact hand too (the mirrored hand is always drawn)
    show_real_side: bool = True
    #: draw the residual limb (stump) on the amputated side
    show_residual: bool = False
    #: therapist's visual gain of the mirrored hand's movement (1 = faithful)
    mirror_gain: Annotated[float, Field(ge=0.25, le=4.0)] = 1.0
    #: offset of the mirrored hand (metres, x right, y forward, z up)
    mirror_offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: One Euro smoothing of the tracked hand before mirroring
    smoothing: bool = True
    #: audio tone with imagery/mirror cues (off unless enabled here or per block)
    cue_tone: CueTone = Field(default_factory=CueTone)

    @property
    def skin_rgb(self) -> tuple[float, float, float]:
        """The skin colour as 0–1 floats."""
        return _hex_rgb(self.skin)

    @property
    def sleeve_rgb(self) -> tuple[float, float, float]:
        """The sleeve colour as 0–1 floats."""
        return _hex_rgb(self.sleeve)

    @property
    def hand_length_scale(self) -> float:
        """The patient's hand length relative to the model's adult hand (19 cm)."""
        return 1.0 if self.hand_length_cm is None else self.hand_length_cm / 19.0

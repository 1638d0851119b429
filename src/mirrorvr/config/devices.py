"""Devices of a plan: the stimulator, display and tracking source, LSL network and tracking settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mirrorvr.config.base import _Model

StimulatorKind = Literal[
    "ttl-box", "magstim-200", "magstim-bistim", "magstim-rapid", "magventure", "none"
]


class StimulatorDevice(_Model):
    """Which stimulator, on which serial port (``None`` = emulated in simulation)."""

    kind: StimulatorKind = "ttl-box"
    port: str | None = None
    trigger_code: Annotated[int, Field(ge=1, le=255)] = 1
    pulse_width_ms: Annotated[float, Field(gt=0, le=100)] = 1.0
    #: Rapid² firmware ≥ V9 only: the code Magstim issued (``XXXX-XXXXXXXX-CC``, no checksum)
    unlock_code: str | None = Field(default=None, pattern=r"^[ -~]{4}-[ -~]{8}-[0-9A-Fa-f]{2}$")
    #: Rapid²: mains voltage and system type (0 Rapid², 1 Super Rapid², 2 Super Rapid² Plus),
    #: which set the maximum frequency per power (magstim-serial.md §11)
    rapid_voltage: Literal[115, 240] = 240
    rapid_type: Literal[0, 1, 2] = 0


class Devices(_Model):
    """Devices a session uses."""

    stimulator: StimulatorDevice = Field(default_factory=StimulatorDevice)
    display: Literal["offscreen", "window", "openxr", "none"] = "none"
    tracking: Literal["synthetic", "openxr", "lsl", "replay"] = "synthetic"


class LslSettings(_Model):
    """Lab Streaming Layer network settings (multi-machine sessions); CLI options override."""

    #: hosts (names or addresses) to query directly, e.g. nodes on another subnet
    known_peers: list[str] = Field(default_factory=list)
    #: liblsl [lab] SessionID: only nodes with the same id see each other's streams
    session_id: str | None = None
    #: liblsl [multicast] ResolveScope: machine, link, site, organization or global
    resolve_scope: Literal["machine", "link", "site", "organization", "global"] | None = None


class TrackingSettings(_Model):
    """Where the intact limb's pose comes from and what losing it does (docs/scene.md).

    The source itself is ``devices.tracking``: ``synthetic`` (simulation), ``lsl`` (a pose
    stream: a hand tracker, motion capture, another program), ``replay`` (a ``*.poses.jsonl``
    recording) or ``openxr`` (the headset's hand tracking / controllers / trackers).
    """

    #: ``lsl``: the stream's name
    lsl_stream: str = Field(default="mirrorvr-pose-input", min_length=1, max_length=200)
    #: ``lsl``: channel layout — ``mirrorvr`` (both limbs, our layout) or ``pos-quat``
    #: (one limb, joints × x y z + quaternion, as motion-capture systems send rigid bodies)
    lsl_layout: Literal["mirrorvr", "pos-quat"] = "mirrorvr"
    #: ``pos-quat``: the side the stream carries (default: the intact side)
    lsl_side: Literal["left", "right"] | None = None
    #: ``pos-quat``: quaternion component order
    lsl_quat_order: Literal["xyzw", "wxyz"] = "xyzw"
    #: ``pos-quat``: axes of the stream — ``z-up`` (mirrorvr's world) or ``y-up`` (OpenXR stage,
    #: most game engines: x right, y up, z towards the viewer)
    lsl_axes: Literal["z-up", "y-up"] = "z-up"
    lsl_units: Literal["m", "mm"] = "m"
    #: seconds to wait for the stream to appear when the session starts
    lsl_timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    #: ``replay``: the recording (a path relative to the working directory, or absolute)
    replay_file: str | None = None
    replay_loop: bool = True
    #: what losing the intact limb does: pause the session (default), emergency-stop it
    #: (disarm at once, then pause), or nothing (the mirrored limb just disappears)
    on_lost: Literal["pause", "estop", "ignore"] = "pause"
    #: the limb counts as lost after this long without a tracked pose
    lost_after_s: Annotated[float, Field(gt=0, le=30)] = 0.5
    #: the body midline the limb is mirrored across: ``calibrate`` (a hold at the session's
    #: start: the plane through the head, or the therapist's mark without a head pose),
    #: ``marked`` (the plane x = ``midline_x_m``), ``stored`` (``midline_plane``: with
    #: ``--patient`` the clinic store's last one; calibrates when there is none yet)
    midline: Literal["calibrate", "marked", "stored"] = "calibrate"
    #: the therapist's mark: the midline's x in the world frame (metres, + = patient's right)
    midline_x_m: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    #: how long the patient holds still for the calibration
    midline_hold_s: Annotated[float, Field(gt=0, le=30)] = 2.0
    #: a stored plane: point x y z, normal x y z (metres; world frame)
    midline_plane: tuple[float, float, float, float, float, float] | None = None
    #: headset controllers: held in the ``hands`` (a hand posed from the grip), or strapped to
    #: the ``feet`` (a lower-limb session: each controller's grip poses that foot, see
    #: mirrorvr.tracking.controller_leg; foot trackers win where both are present)
    controllers: Literal["hands", "feet"] = "hands"

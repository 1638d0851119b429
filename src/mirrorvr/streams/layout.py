"""Every stream mirrorvr publishes: names, types, channels, units and how events map to samples.

One source of truth: the LSL outlets (:mod:`mirrorvr.streams.outlets`), the XDF written
straight from an event log (:mod:`mirrorvr.streams.from_events`) and ``docs/streams.md`` all
follow these specs. Stream names are ``mirrorvr-<kind>``; source ids are
``mirrorvr-<session>-<kind>`` so an inlet re-attaches when the same session's outlet returns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from mirrorvr.config.plan import PME_MOTION_CODES
from mirrorvr.session.events import UNMARKED_KINDS, Event
from mirrorvr.stim.pulse_outlet import pulse_values

#: XDF / LSL channel format names, in LSL's numbering (cf_float32 = 1 ... cf_int64 = 7)
CHANNEL_FORMATS = ("float32", "double64", "string", "int32", "int16", "int8", "int64")
IRREGULAR_RATE = 0.0


@dataclass(frozen=True)
class Channel:
    """One channel: label, unit and type, as written to ``desc/channels/channel``."""

    label: str
    unit: str
    type: str
    #: one line for docs/streams.md
    doc: str = ""


@dataclass(frozen=True)
class StreamSpec:
    """What an LSL stream is: enough to build a ``pylsl.StreamInfo`` or an XDF stream header."""

    kind: str  # mirrorvr-<kind>
    type: str  # LSL content type (Markers, MoCap, ...)
    channel_format: str
    channels: tuple[Channel, ...]
    nominal_srate: float = IRREGULAR_RATE
    can_drop_samples: bool = False
    #: extra ``desc`` children: {name: text or nested dict}
    extra: dict[str, Any] = field(default_factory=dict)
    doc: str = ""

    @property
    def name(self) -> str:
        """LSL stream name."""
        return f"mirrorvr-{self.kind}"

    def source_id(self, session: str) -> str:
        """Stable per session: an inlet recovers when this session's outlet comes back."""
        return f"mirrorvr-{session}-{self.kind}"

    @property
    def channel_count(self) -> int:
        """Number of channels."""
        return len(self.channels)

    def desc_tree(self) -> dict[str, Any]:
        """The ``desc`` element as nested dicts (lists for repeated children)."""
        return {
            "channels": {
                "channel": [
                    {"label": c.label, "unit": c.unit, "type": c.type} for c in self.channels
                ]
            },
            "synchronization": {
                # events are stamped on this machine's local_clock at the moment they describe
                "offset_mean": "0",
                "can_drop_samples": "true" if self.can_drop_samples else "false",
            },
            "acquisition": {"manufacturer": "mirrorvr", "model": f"mirrorvr-{self.kind}"},
            **self.extra,
        }

    def header_xml(self, session: str, *, hostname: str = "", created_at: float = 0.0) -> str:
        """An XDF StreamHeader ``<info>`` document (same layout as ``StreamInfo.as_xml()``)."""
        parts = [
            '<?xml version="1.0"?><info>',
            f"<name>{escape(self.name)}</name>",
            f"<type>{escape(self.type)}</type>",
            f"<channel_count>{self.channel_count}</channel_count>",
            f"<channel_format>{self.channel_format}</channel_format>",
            f"<source_id>{escape(self.source_id(session))}</source_id>",
            f"<nominal_srate>{self.nominal_srate:.15f}</nominal_srate>",
            "<version>1.100000000000000</version>",
            f"<created_at>{created_at:.15f}</created_at>",
            f"<hostname>{escape(hostname)}</hostname>",
            "<desc>",
            _xml(self.desc_tree()),
            "</desc></info>",
        ]
        return "".join(parts)

    def stream_info(self, session: str) -> Any:
        """A ``pylsl.StreamInfo`` with this spec's metadata (needs liblsl)."""
        import pylsl

        info = pylsl.StreamInfo(
            self.name,
            self.type,
            self.channel_count,
            self.nominal_srate,
            self.channel_format,
            self.source_id(session),
        )
        _fill_desc(info.desc(), self.desc_tree())
        return info


def _xml(tree: dict[str, Any]) -> str:
    out = []
    for k, v in tree.items():
        items = v if isinstance(v, list) else [v]
        for item in items:
            inner = _xml(item) if isinstance(item, dict) else escape(str(item))
            out.append(f"<{k}>{inner}</{k}>")
    return "".join(out)


def _fill_desc(elem: Any, tree: dict[str, Any]) -> None:
    for k, v in tree.items():
        items = v if isinstance(v, list) else [v]
        for item in items:
            if isinstance(item, dict):
                _fill_desc(elem.append_child(k), item)
            else:
                elem.append_child_value(k, str(item))


# --------------------------------------------------------------------------------------------
# The streams

MARKERS = StreamSpec(
    kind="markers",
    type="Markers",
    channel_format="string",
    channels=(
        Channel(
            "event",
            "json",
            "Marker",
            "one session event as a JSON object: seq, t, kind and the kind's payload "
            "(docs/event-log.md); stamped with the event's time (a cue: its display time)",
        ),
    ),
    doc="Every session event (cues, blocks, ratings, state changes, pulses), as JSON.",
)

#: codes of the stim stream's ``event`` channel
STIM_CODES = {
    "pulse": 1,
    "train_intent": 2,
    "train_outcome": 3,
    "pulse_missed": 4,
    "stim_refused": 5,
    "stim_skipped": 6,
    "estop": 7,
}

STIM = StreamSpec(
    kind="stim",
    type="Stimulation",
    channel_format="double64",
    channels=(
        Channel(
            "event",
            "code",
            "EventCode",
            "1 pulse, 2 train start (intent), 3 train end "
            "(outcome), 4 pulse missed, 5 refused by the safety governor, 6 skipped, "
            "7 emergency stop",
        ),
        Channel(
            "planned_time",
            "s",
            "Timestamp",
            "planned LSL time of the pulse / train onset; NaN where not applicable",
        ),
        Channel(
            "actual_time",
            "s",
            "Timestamp",
            "LSL time the trigger left for the device "
            "(= the sample's timestamp); NaN where not applicable",
        ),
        Channel("intensity", "percent_mso", "Intensity", "stimulator output, % of maximum"),
        Channel(
            "intensity_rmt",
            "percent_rmt",
            "Intensity",
            "output as % of resting motor threshold (train start only)",
        ),
        Channel("train", "index", "Index", "train number in the plan; NaN if none"),
        Channel("pulse", "index", "Index", "pulse number within its train; NaN if none"),
        Channel(
            "count",
            "pulses",
            "Count",
            "train start: pulses planned; train end: pulses delivered; else NaN",
        ),
        Channel("late", "s", "Latency", "pulse missed: how late its deadline had passed"),
    ),
    extra={"event_codes": {k: str(v) for k, v in STIM_CODES.items()}},
    doc="Stimulation: every pulse with planned and actual time and intensity; train start and "
    "end; misses, refusals, emergency stops. The device is in desc/device.",
)

PULSES = StreamSpec(
    kind="pulses",
    # not "Stimulation": a tool that picks the stimulation stream by type must find one stream
    type="StimulationPulses",
    channel_format="double64",
    channels=(
        Channel("train", "index", "Index", "train number in the plan"),
        Channel("pulse", "index", "Index", "pulse number within its train"),
        Channel("planned_time", "s", "Timestamp", "planned LSL time of the pulse"),
        Channel("intensity", "percent_mso", "Intensity", "stimulator output, % of maximum"),
        Channel(
            "device_timed",
            "flag",
            "Flag",
            "1: the stimulator timed the train, the stamp is the pulse's expected time; "
            "0: one trigger per pulse, the stamp is its emission",
        ),
    ),
    extra={
        "duplicates": "the same pulses as mirrorvr-stim event 1 and the pulse events of "
        "mirrorvr-markers, with the same timestamps: count pulses from one stream only"
    },
    doc="Every delivered pulse, pushed by the stimulation process itself right after the "
    "pulse's stamp (the session's event streams get the same pulses a pipe hop later). "
    "Real-time sessions and TMS nodes whose stimulator runs in the stimulation process.",
)


def pulses_spec(device: str = "", prefix: str = "") -> StreamSpec:
    """The pulse stream, with the stimulator in ``desc/device`` (``prefix``: e.g. ``tms-``)."""
    return dataclasses.replace(
        PULSES,
        kind=prefix + PULSES.kind,
        extra={**PULSES.extra, "device": {"kind": device or "none"}},
    )


def pulse_sample(record: dict[str, Any]) -> list[float]:
    """The pulse stream's values for one ``pulse`` record (the event log's fields; pure): what
    the stimulation process pushes (:func:`mirrorvr.stim.pulse_outlet.pulse_values`)."""
    return pulse_values(record)


#: OpenXR XR_EXT_hand_tracking joint order (26 joints)
HAND_JOINTS = (
    "palm", "wrist",
    "thumb_metacarpal", "thumb_proximal", "thumb_distal", "thumb_tip",
    "index_metacarpal", "index_proximal", "index_intermediate", "index_distal", "index_tip",
    "middle_metacarpal", "middle_proximal", "middle_intermediate", "middle_distal", "middle_tip",
    "ring_metacarpal", "ring_proximal", "ring_intermediate", "ring_distal", "ring_tip",
    "little_metacarpal", "little_proximal", "little_intermediate", "little_distal", "little_tip",
)  # fmt: skip

POSE_FIELDS = (
    ("px", "m", "PositionX"),
    ("py", "m", "PositionY"),
    ("pz", "m", "PositionZ"),
    ("qw", "normalized", "OrientationW"),
    ("qx", "normalized", "OrientationX"),
    ("qy", "normalized", "OrientationY"),
    ("qz", "normalized", "OrientationZ"),
)


def pose_spec(
    which: str, joints: Sequence[str] = HAND_JOINTS, side: str = "", source: str = ""
) -> StreamSpec:
    """Tracked or mirrored hand pose: per joint position (m) and orientation quaternion.

    ``source`` (``desc/setup/source``) says what fed it, e.g. ``openxr_hand_tracking`` (26
    joints) or ``openxr_controller_grip`` (one ``grip`` joint); see docs/streams.md.
    """
    if which not in ("tracked", "mirrored"):
        raise ValueError(f"pose stream must be 'tracked' or 'mirrored', not {which!r}")
    chans = tuple(Channel(f"{j}_{f}", unit, typ) for j in joints for f, unit, typ in POSE_FIELDS)
    return StreamSpec(
        kind=f"pose-{which}",
        type="MoCap",
        channel_format="float32",
        channels=chans,
        can_drop_samples=True,
        extra={
            "setup": {
                "hand": side or "unknown",
                "source": source or "unknown",
                "joints": {"joint": list(joints)},
                "coordinates": "OpenXR stage space: x right, y up, -z forward; metres; "
                "quaternion (w, x, y, z) rotates joint-local to stage",
            }
        },
        doc=f"{which.capitalize()} hand pose, one sample per rendered frame: 7 channels per "
        "joint (position x y z in m, orientation quaternion w x y z). Irregular rate; frames "
        "may be dropped.",
    )


FRAMES = StreamSpec(
    kind="frames",
    type="FrameTiming",
    channel_format="double64",
    channels=(
        Channel("frame", "index", "Index", "frame number since the display started"),
        Channel(
            "display_time",
            "s",
            "Timestamp",
            "predicted display time (LSL) = the sample's timestamp",
        ),
        Channel("frame_duration", "s", "Duration", "time since the previous frame's display"),
        Channel("missed_frames", "frames", "Count", "refresh intervals skipped before this frame"),
        Channel("render_cpu", "s", "Duration", "CPU time spent building this frame"),
    ),
    can_drop_samples=True,
    doc="One sample per displayed frame.",
)

STATE = StreamSpec(
    kind="state",
    type="SessionState",
    channel_format="string",
    channels=(
        Channel(
            "state",
            "name",
            "State",
            "runner state entered: idle, checks, running, paused, completed, aborted",
        ),
        Channel("reason", "text", "Text", "why (pause / abort / estop cause); may be empty"),
    ),
    doc="Session runner state changes.",
)


PME = StreamSpec(
    kind="pme",
    type="Control",
    channel_format="double64",
    channels=(
        Channel("motion", "code", "Class", "decoded motion after rest threshold and vote"),
        Channel("confidence", "probability", "Probability", "LDA posterior of that motion"),
        Channel("speed", "normalized", "Speed", "proportional speed (1 = calibration effort)"),
        Channel("hand", "normalized", "Position", "phantom hand: −1 open … +1 closed"),
        Channel("wrist", "normalized", "Position", "phantom wrist: −1 extended … +1 flexed"),
        Channel(
            "rotation", "normalized", "Position", "phantom forearm: −1 pronated … +1 supinated"
        ),
        Channel("raw", "code", "Class", "the classifier's own choice before threshold and vote"),
        Channel("activity", "microvolts", "Amplitude", "mean absolute value over channels"),
        Channel(
            "latency",
            "s",
            "Latency",
            "decoded at minus the window's last sample time (0 on a simulated clock)",
        ),
    ),
    extra={"motion_codes": {k: str(v) for k, v in PME_MOTION_CODES.items()}},
    doc="Phantom motor execution: one sample per EMG window increment, stamped with the "
    "window's last sample time. Only sessions with a phantom_motor_execution block.",
)

#: the streams a session always publishes (pose and frames come from the display/scene)
SESSION_STREAMS = (MARKERS, STIM, STATE)


def session_stream_specs(plan: Any = None, events: Any = ()) -> tuple[StreamSpec, ...]:
    """The session's event streams: the usual three, plus ``pme`` when the plan has a
    phantom_motor_execution block (or the events hold decisions)."""
    blocks = getattr(plan, "blocks", ()) if plan is not None else ()
    has_pme = any(getattr(b, "kind", "") == "phantom_motor_execution" for b in blocks)
    has_pme = has_pme or any(getattr(e, "kind", "") == "pme" for e in events)
    return (*SESSION_STREAMS, PME) if has_pme else SESSION_STREAMS


def _num(x: Any) -> float:
    if isinstance(x, bool) or x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def event_samples(event: Event) -> list[tuple[str, list[Any]]]:
    """The samples one session event becomes: ``[(stream kind, values), ...]`` (pure).

    Every event goes to ``markers``; stimulation events also to ``stim``; state changes also
    to ``state``; PME decisions (``pme``, one per EMG window) only to ``pme``. The timestamp of each sample is the event's ``t``.
    """
    if event.kind in UNMARKED_KINDS:  # pme: one per EMG window, its own stream only
        d = event.data
        return [
            (
                "pme",
                [
                    _num(d.get("code")),
                    _num(d.get("confidence")),
                    _num(d.get("speed")),
                    _num(d.get("hand")),
                    _num(d.get("wrist")),
                    _num(d.get("rotation")),
                    _num(PME_MOTION_CODES.get(str(d.get("raw")))),
                    _num(d.get("activity_uv")),
                    _num(d.get("latency_s")),
                ],
            )
        ]
    out: list[tuple[str, list[Any]]] = [("markers", [event.to_json()])]
    code = STIM_CODES.get(event.kind)
    if code is not None:
        d = event.data
        planned = d.get("planned", d.get("planned_onset"))
        actual = event.t if event.kind == "pulse" else math.nan
        count = d.get("n_pulses") if event.kind == "train_intent" else d.get("delivered")
        out.append(
            (
                "stim",
                [
                    float(code),
                    _num(planned),
                    actual,
                    _num(d.get("intensity_pct_mso")),
                    _num(d.get("intensity_pct_rmt")),
                    _num(d.get("train")),
                    _num(d.get("i")),
                    _num(count),
                    _num(d.get("late_s")),
                ],
            )
        )
    if event.kind == "state":
        out.append(("state", [str(event.get("to", "")), str(event.get("reason", "") or "")]))
    return out

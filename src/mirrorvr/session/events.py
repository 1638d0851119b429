"""Event types: what a session records.

An event is one JSON object per line in ``events.jsonl``: ``seq`` (0, 1, 2, ... without gaps),
``t`` (LSL seconds), ``kind`` and the kind's payload. The schema of every kind is documented in
``docs/event-log.md``; :data:`KINDS` lists them so sinks and analysis agree on names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

#: Every event kind mirrorvr writes. Payload fields are documented in docs/event-log.md.
KINDS = frozenset(
    {
        "session_start",  # plan name, seed, mode, clock, session date
        "state",  # runner state change: from, to, reason
        "block_start",
        "block_end",
        "cue",  # a cue shown: step, movement, onset = display time of its frame
        "window",  # imagery / movement window begins
        "rest",
        "rating_prompt",
        "rating",  # value 0-10 or null on timeout, timepoint
        "embodiment_prompt",  # an embodiment statement shown: item
        "embodiment",  # durable: item, value 0-10 (agreement) or null on timeout, rt_s
        "laterality_trial",  # stimulus shown: side, angle, view
        "laterality_response",  # answer, correct, rt_s
        "train_intent",  # durable BEFORE any pulse of a train: n_pulses, intensity, timing
        "pulse",  # one trigger left for the device: planned, t = emission time
        "pulse_missed",  # deadline passed by more than the tolerance: not fired
        "train_outcome",  # durable AFTER the train: delivered, missed, status
        "stim_refused",  # the safety governor refused: reason
        "stim_skipped",  # not delivered because budget/resume rules forbid it
        "estop",  # emergency stop: cause
        "device",  # device connected / armed / disarmed / fault
        "display",  # headset (OpenXR): what = state | tracking_lost | tracking_regained | input | estop_button
        "resume",  # session resumed after a crash: delivered so far, remaining budget
        "session_end",  # final state and totals
        "stream",  # an LSL inlet connected / lost / restored / stalled / resumed: stream, gap_s
        "clock_offset",  # measured offset of a remote node's clock: stream, host, offset
        "remote_marker",  # a remote node's marker acted on: remote_seq, marker, step, remote_t, latency_s
        # motor-threshold hunting and hotspot search (docs/motor-threshold.md)
        # phantom motor execution (docs/phantom-motor-execution.md)
        "pme_start",  # a PME block's EMG: classes, channels, fs, stream
        "pme_model",  # durable: decoder fitted; cross-validated accuracy, confusion, files
        "pme",  # one EMG window's decision: motion, confidence, speed, phantom posture
        "pme_task",  # durable: a target task scored: completed, completion_s
        "pme_stream",  # durable: the EMG stream lost / restored
        "threshold_start",  # method, site, device, inter-pulse interval, MEP window/criterion
        "threshold_intent",  # durable BEFORE each single pulse: i, intensity_pct_mso, site
        "threshold_pulse",  # the pulse left for the device: t = emission time, planned
        "mep",  # one pulse's MEP: pp_uv, latency_ms, baseline_rms_uv, accepted, positive, reason
        "threshold_result",  # durable: method, mt_pct_mso, ci, trials, pulses, stop_reason
        "hotspot_site",  # one coil position done: site label, pulses, median MEP
        "motor_threshold",  # the session's dosing now uses this threshold: rmt, method, source
        "safety_override",  # a limit loosened by a clinic override in force: rule, value, who
        "safety_notice",  # e.g. the train-duration table is UNVERIFIED
        "scheduler",  # pulse scheduler started: real-time priority or the warning why not
        "sink_error",  # an event sink (display, stream, console) raised and was dropped: sink, error
        # the stimulation process (docs/stimulators.md): started, its guard, its pulses
        "stim_process",  # started: pid, real-time priority, memory locked, guard limits
        "guard_refused",  # durable: the stimulation process's own guard refused a pulse: reason
        # stalls (docs/architecture.md): the display or runner fell behind the timeline
        "timeline_shift",  # durable: the rest of the timeline moved later: source, late_s, shift_s
        "stall",  # a stall not shifted (the plan's session.on_stall = "refuse"): source, late_s
    }
)

#: kinds that go to a stream of their own and not to ``mirrorvr-markers`` (one PME decision per
#: EMG window would drown the markers): an XDF's markers lack them by design
UNMARKED_KINDS = frozenset({"pme"})


@dataclass(frozen=True)
class Event:
    """One logged event."""

    seq: int
    t: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One JSON line (no trailing newline)."""
        obj: dict[str, Any] = {"seq": self.seq, "t": round(self.t, 7), "kind": self.kind}
        obj.update(self.data)
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> Event:
        """Parse one line; raises ``ValueError`` if it is not a complete event."""
        obj = json.loads(line)
        if not isinstance(obj, dict) or not {"seq", "t", "kind"} <= obj.keys():
            raise ValueError("not an event object (needs seq, t, kind)")
        seq, t, kind = obj.pop("seq"), obj.pop("t"), obj.pop("kind")
        if not isinstance(seq, int) or not isinstance(t, int | float) or not isinstance(kind, str):
            raise ValueError("seq must be an integer, t a number and kind a string")
        return cls(seq=seq, t=float(t), kind=kind, data=obj)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Payload field ``key``, or ``default``."""
        return self.data.get(key, default)

"""The stimulation process's own LSL outlet: each pulse, pushed right after its stamp.

A pulse reaches the session's event streams (``mirrorvr-markers``, ``mirrorvr-stim``) only
after a pipe hop to the session process and its event log: a few hundred µs, more under load.
The stimulation process therefore publishes every pulse itself, on ``mirrorvr-pulses``
(docs/streams.md), with the same stamp the event log gets. liblsl's push is C++ and its threads
are native ones (no Python thread, no GIL), so the pulse thread stays the only Python thread
that works here.

The stream's name, type, source id and ``desc`` come from the session process
(:func:`mirrorvr.streams.layout.pulses_spec`), so the layout has one owner; this module only
knows which fields of a pulse record fill the channels (:data:`PULSE_FIELDS`).

Warm-up: on the VM of docs/performance.md the first push after a wait of tens of ms found
liblsl's code and data cold — 40–560 µs (median, by host state) against 10–16 µs for a push
made a few hundred µs after another. So :meth:`PulseOutlet.warm` pushes the prepared sample to
a second, private outlet (``<name>-warmup``, type ``Warmup``, source id ``warmup-…``: the
session recorder, which follows ``mirrorvr-<session>-…`` source ids, never records it) just
before the deadline. Nobody is meant to consume it (its samples are not pulses); the real push then runs
on warm code. The stream is visible to other LSL tools: docs/streams.md says to ignore it.
"""

from __future__ import annotations

import ctypes
import math
import time
from typing import Any

#: how long before a pulse's deadline :meth:`PulseOutlet.warm` runs (inside the final spin)
WARM_S = 0.0003

#: the pulse record's fields, in channel order (train, pulse, planned_time, intensity,
#: device_timed): the stream's layout (:data:`mirrorvr.streams.layout.PULSES`) follows it
PULSE_FIELDS = ("train", "i", "planned", "intensity_pct_mso", "expected")


def pulse_values(record: dict[str, Any]) -> list[float]:
    """The pulse stream's values for one ``pulse`` record (pure). A missing or non-numeric
    field is NaN, except ``expected`` (device-timed), which is 1.0 or 0.0."""
    out = []
    for f in PULSE_FIELDS:
        v = record.get(f)
        if f == "expected":
            out.append(1.0 if v else 0.0)
        elif isinstance(v, bool) or not isinstance(v, int | float):
            out.append(math.nan)
        else:
            out.append(float(v))
    return out


def _fill_desc(elem: Any, tree: dict[str, Any]) -> None:
    for k, v in tree.items():
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, dict):
                _fill_desc(elem.append_child(k), item)
            else:
                elem.append_child_value(k, str(item))


class PulseOutlet:
    """One LSL outlet for the pulses of this stimulation process.

    ``stream``: ``name``, ``type``, ``channel_format``, ``channel_count``, ``source_id``,
    ``desc`` (a tree of dicts) and ``lsl_config`` (the INI text the session process applied, or
    ``None``: liblsl reads ``LSLAPICFG`` as usual). Build it before this process asks for
    real-time priority: the threads liblsl starts inherit the creating thread's policy, and they
    must not compete with the pulses.
    """

    def __init__(self, stream: dict[str, Any]) -> None:
        import pylsl
        from pylsl.util import handle_error

        if stream.get("lsl_config"):
            # the same liblsl configuration as the session process (session id, known peers,
            # ports), or the session's recorder would not find this stream
            pylsl.set_config_content(str(stream["lsl_config"]))
        info = pylsl.StreamInfo(
            str(stream["name"]),
            str(stream["type"]),
            int(stream["channel_count"]),
            pylsl.IRREGULAR_RATE,
            str(stream["channel_format"]),
            str(stream["source_id"]),
        )
        _fill_desc(info.desc(), dict(stream.get("desc", {})))
        self.name = str(stream["name"])
        # chunk_size 1: every pulse leaves at once
        self._outlet: Any = pylsl.StreamOutlet(info, chunk_size=1, max_buffered=360)
        # pylsl's own typed push for this format, called with a sample built before the pulse:
        # after a trigger only the timestamp is new (building the sample from a list then
        # doubled the push's median on this VM)
        self._push = self._outlet.do_push_sample
        self._handle_error = handle_error
        self._sample: Any = None
        self.pushed = 0
        self._warm_outlet: Any = None
        if stream.get("warm", True):
            # same format and channels as the real outlet: its push runs the same code
            winfo = pylsl.StreamInfo(
                f"{self.name}-warmup",
                "Warmup",
                int(stream["channel_count"]),
                pylsl.IRREGULAR_RATE,
                str(stream["channel_format"]),
                f"warmup-{stream['source_id']}",
            )
            winfo.desc().append_child_value(
                "purpose", "internal warm-up of the pulse stream's push: not pulses, never count it"
            )
            self._warm_outlet = pylsl.StreamOutlet(winfo, chunk_size=1, max_buffered=1)

    def prepare(self, record: dict[str, Any]) -> None:
        """Build the next pulse's sample ahead of time (before the wait for its deadline)."""
        self._sample = self._outlet.sample_type(*pulse_values(record))

    def warm(self, t: float) -> None:
        """Push the prepared sample, stamped ``t``, to the private warm-up outlet (not the
        pulse stream), so the pulse's own push a moment later runs on warm code."""
        w = self._warm_outlet
        if w is not None and self._sample is not None:
            self._push(w.obj, self._sample, ctypes.c_double(t), 1)

    def push_prepared(self, t: float) -> float:
        """Push the prepared sample stamped ``t``; returns how long after ``t`` the push
        returned (s)."""
        self._handle_error(self._push(self._outlet.obj, self._sample, ctypes.c_double(t), 1))
        done = time.monotonic()  # CLOCK_MONOTONIC = LSL local_clock() on Linux
        self.pushed += 1
        return done - t

    def push(self, record: dict[str, Any], t: float) -> float:
        """Push one pulse stamped ``t`` (prepared now); how long after ``t`` the push returned."""
        self.prepare(record)
        return self.push_prepared(t)

    def have_consumers(self) -> bool:
        """Whether an inlet (e.g. the session's recorder) is connected."""
        return bool(self._outlet.have_consumers())

    def close(self) -> None:
        """Destroy the outlet (the stream disappears from the network)."""
        self._outlet = None
        self._warm_outlet = None

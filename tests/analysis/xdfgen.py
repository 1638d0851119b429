"""Write XDF test files the way other producers do (LabRecorder layout, foreign conventions):
stream headers with any name, type, channel metadata and ``can_drop_samples`` flag, samples
with explicit timestamps, clock offsets of another machine, boundaries and footers."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from mirrorvr.streams.xdf_writer import XdfWriter


def header_xml(
    name: str,
    type_: str,
    channel_count: int,
    channel_format: str,
    nominal_srate: float = 0.0,
    *,
    labels: list[str] | None = None,
    units: list[str] | None = None,
    can_drop_samples: bool | None = None,
    source_id: str = "",
) -> str:
    """A stream header ``<info>`` like pylsl's ``StreamInfo.as_xml()``."""
    desc = ""
    if labels:
        us = units or [""] * len(labels)
        desc += (
            "<channels>"
            + "".join(
                f"<channel><label>{escape(lab)}</label><unit>{escape(u)}</unit></channel>"
                for lab, u in zip(labels, us, strict=True)
            )
            + "</channels>"
        )
    if can_drop_samples is not None:
        desc += (
            "<synchronization><can_drop_samples>"
            f"{'true' if can_drop_samples else 'false'}</can_drop_samples></synchronization>"
        )
    return (
        f'<?xml version="1.0"?><info><name>{escape(name)}</name><type>{escape(type_)}</type>'
        f"<channel_count>{channel_count}</channel_count>"
        f"<channel_format>{channel_format}</channel_format><source_id>{escape(source_id)}"
        f"</source_id><nominal_srate>{nominal_srate:.15f}</nominal_srate>"
        f"<version>1.100000000000000</version><desc>{desc}</desc></info>"
    )


class XdfFile:
    """Streams are added first; samples, offsets and boundaries are appended in any order.

    Written with mirrorvr's XDF writer (:mod:`mirrorvr.streams.xdf_writer`); what makes these
    files foreign is their stream headers and data conventions.
    """

    def __init__(self, path: Path, headers: list[str]) -> None:
        self._w = XdfWriter(path, headers, fsync_every_s=None)

    def samples(self, sid: int, timestamps: Any, values: Any, chunk: int = 4096) -> None:
        """Append samples with explicit timestamps, ``chunk`` per Samples chunk."""
        ts = np.asarray(timestamps, dtype=float).ravel()
        for a in range(0, len(ts), chunk):
            self._w.write_samples(sid, ts[a : a + chunk], values[a : a + chunk])

    def clock_offset(self, sid: int, collection_time: float, value: float) -> None:
        """A ClockOffset chunk (LabRecorder convention: time in the stream's own clock)."""
        self._w.write_clock_offset(sid, collection_time, value)

    def boundary(self) -> None:
        """A Boundary chunk."""
        self._w.write_boundary()

    def close(self) -> None:
        """Write the footers and close."""
        self._w.close()

    def __enter__(self) -> XdfFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

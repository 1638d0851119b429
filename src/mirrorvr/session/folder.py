"""The session folder: the one place that names its files and reads and writes them.

A session folder holds everything needed to understand (and resume) a session::

    plan.toml         the exact plan that ran (seed included; rewritten with a measured threshold)
    session.json      how it ran: clock, devices, date, mirrorvr version
    events.jsonl      the append-only event log (authoritative)
    stim-journal.jsonl  the stimulation process's own record of intents, pulses and outcomes
                      (real time; resume folds what the event log lacks into it)
    summary.json      totals, written when the session ends
    emulator-*.jsonl  what an emulated device received, when (simulation only)
    stimulator.pty    link to the emulated stimulator's pseudo-terminal (simulation only)
    panel.txt         the emulated stimulator panel's intensity (real-time threshold hunts)
    threshold.json    a motor-threshold hunt's result (and hotspot.json for a hotspot search)
    pme-model-<b>.json        phantom motor execution: the decoder fitted in block <b>
    pme-calibration-<b>.npz   its calibration windows (features, labels, repetitions)
    session.xdf       the session's LSL streams (recorded live, or written from the log
                      for simulated-clock runs); docs/streams.md
    lsl.log           liblsl's own log, and lsl_api.cfg the LSL configuration it ran with
                      (sessions that publish on LSL)

A TMS node's folder and a stand-alone threshold hunt's folder use the same names.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mirrorvr.errors import SessionError

PLAN = "plan.toml"
META = "session.json"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
XDF = "session.xdf"
STIMULATOR_PTY = "stimulator.pty"
PANEL = "panel.txt"
THRESHOLD = "threshold.json"
HOTSPOT = "hotspot.json"
LSL_LOG = "lsl.log"
STIM_JOURNAL = "stim-journal.jsonl"


def pme_model_name(block: int) -> str:
    """Name of the decoder fitted in PME block ``block``."""
    return f"pme-model-{block}.json"


def pme_calibration_name(block: int) -> str:
    """Name of PME block ``block``'s calibration windows."""
    return f"pme-calibration-{block}.npz"


def emulator_log_name(kind: str) -> str:
    """File name of what the emulated ``kind`` device received."""
    return f"emulator-{kind}.jsonl"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON; a crash leaves the old or the new file, never half."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def new_session_folder(name: str, parent: str | Path = "sessions") -> Path:
    """A new, empty ``<parent>/<name>-<YYYYmmdd-HHMMSS>`` folder, created here.

    Creating it is what reserves the name: a second session started in the same second (by
    this or another process) gets ``…-2``, ``…-3`` and so on, never the same folder.
    """
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{name}-{stamp}" if name else stamp
    root = Path(parent)
    root.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class SessionFolder:
    """Paths and reads/writes of one session folder (see the module docstring)."""

    path: Path

    @property
    def plan(self) -> Path:
        """``plan.toml``."""
        return self.path / PLAN

    @property
    def meta(self) -> Path:
        """``session.json``."""
        return self.path / META

    @property
    def events(self) -> Path:
        """``events.jsonl``."""
        return self.path / EVENTS

    @property
    def summary(self) -> Path:
        """``summary.json``."""
        return self.path / SUMMARY

    @property
    def xdf(self) -> Path:
        """``session.xdf``."""
        return self.path / XDF

    @property
    def stim_journal(self) -> Path:
        """The stimulation process's crash-safe journal (``mirrorvr.stim.journal``)."""
        return self.path / STIM_JOURNAL

    @property
    def stimulator_pty(self) -> Path:
        """``stimulator.pty`` (a link to the emulated stimulator's pty)."""
        return self.path / STIMULATOR_PTY

    @property
    def panel(self) -> Path:
        """``panel.txt`` (the emulated stimulator panel's intensity)."""
        return self.path / PANEL

    @property
    def threshold(self) -> Path:
        """``threshold.json``."""
        return self.path / THRESHOLD

    @property
    def hotspot(self) -> Path:
        """``hotspot.json``."""
        return self.path / HOTSPOT

    @property
    def lsl_log(self) -> Path:
        """``lsl.log`` (liblsl's own messages)."""
        return self.path / LSL_LOG

    def pme_model(self, block: int) -> Path:
        """``pme-model-<block>.json``."""
        return self.path / pme_model_name(block)

    def pme_calibration(self, block: int) -> Path:
        """``pme-calibration-<block>.npz``."""
        return self.path / pme_calibration_name(block)

    def emulator_log(self, kind: str) -> Path:
        """``emulator-<kind>.jsonl``."""
        return self.path / emulator_log_name(kind)

    def has_log(self) -> bool:
        """Whether an event log is already here (a session or node ran in this folder)."""
        return self.events.exists()

    def is_session(self) -> bool:
        """Whether this looks like a mirrorvr session folder (session.json and plan.toml)."""
        return self.meta.exists() and self.plan.exists()

    def write_plan(self, toml_text: str) -> None:
        """Write ``plan.toml``."""
        self.plan.write_text(toml_text, encoding="utf-8")

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Write ``session.json`` atomically."""
        write_json_atomic(self.meta, meta)

    def read_meta(self) -> dict[str, Any]:
        """``session.json`` as a dict; a SessionError naming the file if it cannot be read."""
        try:
            meta: dict[str, Any] = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SessionError(f"{self.meta} is unreadable: {e}") from None
        return meta

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` atomically."""
        write_json_atomic(self.summary, summary)

    def write_threshold(self, record: dict[str, Any]) -> None:
        """Write ``threshold.json`` atomically."""
        write_json_atomic(self.threshold, record)

    def read_threshold(self) -> dict[str, Any]:
        """``threshold.json`` as a dict."""
        rec: dict[str, Any] = json.loads(self.threshold.read_text(encoding="utf-8"))
        return rec

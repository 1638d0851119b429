"""The stimulation process's own crash-safe record, and how resume folds it into the session log.

The stimulation process appends to ``stim-journal.jsonl`` in the session folder: a durable
(fsync) ``train_intent`` before a train's first pulse, a ``pulse`` (or ``pulse_missed``) line
after each pulse — one ``os.write`` on an ``O_APPEND`` file, so it survives ``kill -9`` of
either process — and a durable ``train_outcome`` after the last. The same records go to the
session process, which logs them in ``events.jsonl`` (and so on LSL) with the same stamps.

If the session process dies, the journal holds pulses it never heard of; if the stimulation
process dies, the session log holds its intent. :func:`missing_records` lists the journal's
records that the session log lacks, so ``resume`` (and the session process, when its child
dies) appends them: no pulse record is lost, and the budget counts every pulse that went out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mirrorvr.session.events import Event
from mirrorvr.session.folder import STIM_JOURNAL

JOURNAL_NAME = STIM_JOURNAL

#: journal kinds copied into the session log when it lacks them
RECORD_KINDS = ("train_intent", "pulse", "pulse_missed", "guard_refused", "train_outcome")


class Journal:
    """Append-only JSON Lines file; each record is one ``os.write`` (``durable``: fsync too)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, kind: str, t: float, *, durable: bool = False, **data: Any) -> None:
        """Write one record (on disk when ``durable``)."""
        line = json.dumps({"t": t, "kind": kind, **data}, separators=(",", ":")) + "\n"
        raw = line.encode("utf-8")
        written = 0
        while written < len(raw):
            written += os.write(self._fd, raw[written:])
        if durable:
            os.fsync(self._fd)

    def close(self) -> None:
        """Flush to disk and close (idempotent)."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record of a journal (a line torn by a crash is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in p.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # only the last line can be torn (a kill mid-write)
        if isinstance(rec, dict) and "kind" in rec and "t" in rec:
            out.append(rec)
    return out


def _key(kind: str, data: dict[str, Any]) -> tuple[Any, ...]:
    if kind in ("pulse", "pulse_missed", "guard_refused"):
        return (kind, data.get("step"), data.get("train"), data.get("i"))
    return (kind, data.get("step"), data.get("train"))


def missing_records(events: list[Event], journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Journal records (in journal order) the session log does not hold yet."""
    have = {_key(e.kind, e.data) for e in events if e.kind in RECORD_KINDS}
    out = []
    for rec in journal:
        kind = str(rec["kind"])
        data = {k: v for k, v in rec.items() if k not in ("t", "kind")}
        if kind in RECORD_KINDS and _key(kind, data) not in have:
            out.append(rec)
            have.add(_key(kind, data))
    return out


def fold_journal(folder: str | Path) -> int:
    """Append to ``events.jsonl`` what the folder's journal holds and the log lacks.

    Used by ``resume`` before anything else reads the log: a session process killed while
    its stimulation process went on (or before it had logged what the child sent) leaves
    pulses only in the journal. Stamps are the child's; each copy says ``recovered``.
    Returns how many records were appended.
    """
    from mirrorvr.session.eventlog import EventLog, read_events

    folder = Path(folder)
    journal = read_journal(folder / JOURNAL_NAME)
    if not journal:
        return 0
    missing = missing_records(read_events(folder / "events.jsonl").events, journal)
    if not missing:
        return 0
    with EventLog(folder / "events.jsonl") as log:
        for rec in missing:
            data = {k: v for k, v in rec.items() if k not in ("t", "kind")}
            durable = rec["kind"] in ("train_intent", "train_outcome", "guard_refused")
            log.append(str(rec["kind"]), float(rec["t"]), durable=durable, recovered=True, **data)
    return len(missing)

"""Resuming a crashed session from its folder, without ever exceeding its pulse budget."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from mirrorvr.config.loader import load_plan
from mirrorvr.config.plan import SessionPlan
from mirrorvr.errors import SessionError
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.events import Event
from mirrorvr.session.folder import SessionFolder
from mirrorvr.session.runner import RunResult


def load_session(folder: Path) -> tuple[SessionPlan, dict[str, Any], list[Event]]:
    """Plan, run metadata and events of a session folder."""
    sf = SessionFolder(folder)
    if not sf.is_session():
        raise SessionError(f"{folder} is not a mirrorvr session folder (no session.json/plan.toml)")
    meta = sf.read_meta()
    plan = load_plan(sf.plan)
    return plan, meta, read_events(sf.events).events


def resume_session(
    folder: Path, opts: LaunchOptions | None = None
) -> tuple[RunResult, dict[str, Any]]:
    """Continue a crashed session in ``folder`` without exceeding its pulse budget.

    What the stimulation process journaled and the session log lacks (the session process
    died first) is folded into the log before the resume point and budget are read.
    """
    from mirrorvr.stim.journal import fold_journal

    if (folder / "session.json").exists():
        fold_journal(folder)
    plan, meta, events = load_session(folder)
    o = opts or LaunchOptions(out=folder)
    o.out = folder
    if opts is None:
        o.realtime = bool(meta.get("realtime"))
        o.simulated = bool(meta.get("simulated", True))
        o.stimulator_port = meta.get("stimulator_port")
        o.stimulator_kind = meta.get("stimulator_kind")
    o.session_date = dt.date.fromisoformat(meta["session_date"]) if o.simulated else None
    return run_session(plan, o, resume_from=events)

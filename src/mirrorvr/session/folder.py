"""The session folder: where a session's files live and what they are called."""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def new_session_folder(name: str, parent: str | Path = "sessions") -> Path:
    """A new ``<parent>/<name>-<timestamp>`` folder path (not created)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(parent) / (f"{name}-{stamp}" if name else stamp)

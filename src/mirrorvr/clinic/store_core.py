"""The clinic store's plumbing: one SQLite connection, write transactions, the audit log, and
the checks every table shares (ids, levels, methods, stages)."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from mirrorvr.clinic.db import StoreError, connect, default_db_path
from mirrorvr.config.plan import LOWER_LEVELS, UPPER_LEVELS

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: amputation levels a patient record may hold: the plan's upper- and lower-limb levels
LEVELS = (*UPPER_LEVELS, *LOWER_LEVELS, "other")
THRESHOLD_METHODS = ("5-10", "ml-pest", "two-threshold", "visual", "other")
GMI_STAGES = ("laterality", "imagery", "mirror", "functional")


class ReservationRefused(StoreError):
    """A session's pulses do not fit into what remains of the patient's daily limit."""

    def __init__(self, patient_id: str, wanted: int, remaining: int, limit: int) -> None:
        self.remaining = remaining
        super().__init__(
            f"patient {patient_id}: this session needs {wanted} pulses but only {remaining} "
            f"remain today (daily limit {limit}, counting sessions running now); "
            "no pulse was given"
        )


def _date(v: str | None) -> dt.date | None:
    return dt.date.fromisoformat(v) if v else None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class StoreCore:
    """One SQLite connection (WAL), serialised between threads; every write one transaction."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self._conn = connect(self.path)
        self._lock = threading.RLock()

    # ---- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def schema_version(self) -> int:
        """The database's schema version."""
        return int(self._rows("PRAGMA user_version")[0][0])

    # ---- patients -------------------------------------------------------------------------
    def audit(self, actor: str, action: str, patient_id: str | None = None, **details: Any) -> None:
        """Append one line to the audit log (who did what, when)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO audit (t, actor, action, patient_id, details) VALUES (?, ?, ?, ?, ?)",
                (_now(), actor, action, patient_id, json.dumps(details, default=str)),
            )

    def audit_log(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The most recent audit entries, newest last."""
        rows = self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", limit)
        return [dict(r) | {"details": json.loads(r["details"])} for r in reversed(rows)]

"""What the stores over the clinic store share (courses, trials): its connection and the clock.

:class:`StoreView` hands its queries and write transactions to one
:class:`~mirrorvr.clinic.store.ClinicStore`: one connection, one lock, one transaction
discipline for every table.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mirrorvr.clinic.store import ClinicStore


def now_stamp() -> str:
    """The current UTC time as the store writes it (ISO 8601, milliseconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class StoreView:
    """A group of tables kept over one clinic store (its connection and transactions)."""

    def __init__(self, store: ClinicStore) -> None:
        self.store = store

    # The clinic store's transaction and query helpers are shared on purpose: one connection,
    # one lock, one transaction discipline for every table.
    def _write(self) -> Any:
        return self.store._write()

    def _rows(self, sql: str, *args: Any) -> list[Any]:
        return self.store._rows(sql, *args)

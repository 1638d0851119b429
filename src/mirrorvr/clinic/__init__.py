"""The clinic: patients, session history and ratings (SQLite), exercise library, console."""

from __future__ import annotations

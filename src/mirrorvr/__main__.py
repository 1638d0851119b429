"""``python -m mirrorvr`` runs the CLI (used by tests and emulator subprocesses)."""

from __future__ import annotations

from mirrorvr.cli import main

main()

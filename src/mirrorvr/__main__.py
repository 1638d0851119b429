"""``python -m mirrorvr`` runs the CLI (used by tests and emulator subprocesses)."""

from __future__ import annotations

from mirrorvr.cli import main

# guarded: the display process (spawned by multiprocessing) re-imports this module by name
if __name__ == "__main__":
    main()

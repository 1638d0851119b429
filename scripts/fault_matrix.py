#!/usr/bin/env python3
"""Run every fault against every stimulator family and write docs/fault-matrix.md.

    .venv/bin/python scripts/fault_matrix.py [--out docs/fault-matrix.md]

Each cell runs the real driver against the family's emulator on a real pty (about a minute in
all); see ``mirrorvr.sim.fault_matrix``. Exit status 1 if any cell had a stray pulse or ended
armed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

from mirrorvr.sim.fault_matrix import detection_markdown, run_all, run_detection, to_markdown
from mirrorvr.sim.fault_reaction import pause_markdown, run_pause_reactions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "fault-matrix.md"
    )
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)  # the cells' errors are the result, not noise to print
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()
        cells = run_all(Path(tmp))
        text = to_markdown(cells, folder_note=tmp)
        text += "\n" + detection_markdown(run_detection(Path(tmp) / "detect"), folder_note=tmp)
        text += "\n" + pause_markdown(run_pause_reactions(Path(tmp) / "pause"), folder_note=tmp)
        text += f"\nMeasured with load average {load[0]:.1f} (1 min) on this machine.\n"
    args.out.write_text(text, encoding="utf-8")
    bad = [c for c in cells if c.stray or c.ended_armed]
    print(
        f"{len(cells)} cells written to {args.out}; {len(bad)} with a stray pulse or ending armed"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""A real-time session run from a terminal (a real pty): the progress bar moves and the
session's events hold no sink errors (issue 14: the old bar raised and was logged as a fault)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

from mirrorvr.session.eventlog import read_events


def test_realtime_progress_moves_and_never_fails_the_session(
    tmp_path: Path, short_plan: Path
) -> None:
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirrorvr", "sim", str(short_plan), "--realtime", "--out",
         str(tmp_path / "s")],
        stdin=child, stdout=child, stderr=child, close_fds=True,
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 1.0)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(main)
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")[-2000:]
    text = out.decode(errors="replace")
    clocks = set(re.findall(r"(\d+:\d\d) / 0:\d\d", text))
    assert len(clocks) >= 3, text[-2000:]  # the elapsed time moved on
    assert "pulses" in text and "Traceback" not in text
    events = read_events(tmp_path / "s" / "events.jsonl").events
    assert not [e for e in events if e.kind == "sink_error" or e.get("what") == "sink_failed"]

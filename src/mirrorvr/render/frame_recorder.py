"""Frame capture: rendered frames written as PNG files with a ``frames.jsonl`` index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from mirrorvr.render.display import Display
from mirrorvr.render.frame import FrameInfo


class FrameRecorder:
    """Writes rendered frames as PNG files with an index (``frames.jsonl``)."""

    def __init__(self, display: Display, folder: Path, every_s: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.display = display
        self.folder = folder
        self.every_s = every_s
        self._last: float | None = None
        self._index: IO[str] = (folder / "frames.jsonl").open("a", encoding="utf-8")
        display.enable_capture()
        self.written = 0

    def maybe_write(self, frame: FrameInfo) -> None:
        """Write ``frame`` if it shows a new step or enough time has passed."""
        assert frame.shown is not None
        new_step = "step" in frame.notes
        if not new_step and self._last is not None and frame.shown - self._last < self.every_s:
            return
        name = f"frame-{frame.index:06d}.png"
        self.display.save_png(self.folder / name)
        rec = {"frame": frame.index, "t": round(frame.shown, 7), "file": name, **frame.notes}
        self._index.write(json.dumps(rec) + "\n")
        self._index.flush()
        self._last = frame.shown
        self.written += 1

    def close(self) -> None:
        """Close the index."""
        self._index.close()

"""What the rigid-parts build scripts share: the repository paths and the egg file's frame.

``scripts/build_hand_asset.py`` lists its parts; this module puts ``src/`` on the path, wraps
the parts in the egg header and writes the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def egg_text(what: str, script: str, groups: list[str]) -> str:
    """The egg file's text: the header naming ``what`` and the ``script``, then ``groups``."""
    parts = [
        "<CoordinateSystem> { Z-up }",
        f"<Comment> {{ mirrorvr {what} parts: made by {script}; MIT, see LICENSE }}",
        *groups,
    ]
    return "\n".join(parts) + "\n"


def write_asset(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` (making its folder) and say so."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size} bytes)")

"""mirrorvr: combined VR mirror therapy and TMS sessions for phantom limb pain.

Every cue, pulse and frame is stamped on one clock (LSL ``local_clock``), published on
Lab Streaming Layer and written to a crash-safe event log.
"""

from __future__ import annotations

#: the one version source (pyproject.toml reads it; CHANGELOG.md says what changed)
__version__ = "0.2.0"

"""The error of offline analysis: a recording cannot be loaded or analysed as asked.

Moved out of :mod:`mirrorvr.analysis.loader` (which re-exports every name).
"""

from __future__ import annotations

from mirrorvr.errors import MirrorVRError


class AnalysisError(MirrorVRError):
    """A recording cannot be loaded or analysed as asked."""

"""Offline analysis: sessions, recordings, MEPs, outcomes, reports.

``to_mne`` and ``epochs_around`` (:mod:`mirrorvr.analysis.mne_raw`) are imported on first use,
so importing a light module of this package (``mep`` for the real-time threshold hunt) never
pulls in pandas or MNE.
"""

from __future__ import annotations

from typing import Any

__all__ = ["epochs_around", "to_mne"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mirrorvr.analysis import mne_raw

        return getattr(mne_raw, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

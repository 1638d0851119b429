"""The tracking watch: lost after a while without the limb, regained at once."""

from __future__ import annotations

from mirrorvr.tracking.watch import TrackingWatch


def test_lost_once_after_the_grace_time_and_regained_at_once() -> None:
    w = TrackingWatch(lost_after_s=0.5)
    seen = [w.update(t / 10, tracked) for t, tracked in enumerate([True] * 3 + [False] * 8)]
    # untracked from t = 0.3; lost at t = 0.8, and only once
    assert seen.count("lost") == 1 and seen.index("lost") == 8
    assert w.update(1.2, True) == "regained" and w.update(1.3, True) is None
    # a short gap is not a loss
    assert [w.update(1.4, False), w.update(1.6, False), w.update(1.7, True)] == [None, None, None]

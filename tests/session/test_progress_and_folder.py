"""The session's progress from its events (pure), the progress display that cannot fail a
session, and session folder names that never collide."""

from __future__ import annotations

import threading
from pathlib import Path

from rich.console import Console

from mirrorvr.cli.progress import ProgressDisplay
from mirrorvr.session.events import Event
from mirrorvr.session.folder import new_session_folder
from mirrorvr.session.progress import SessionProgress


def _ev(seq: int, t: float, kind: str, **data: object) -> Event:
    return Event(seq, t, kind, dict(data))


def test_progress_follows_blocks_pulses_and_state() -> None:
    p = SessionProgress(blocks=3)
    p.feed(_ev(0, 100.0, "session_start", planned_duration_s=60.0, planned_pulses=40))
    p.feed(_ev(1, 101.0, "block_start", block=1, label="", block_kind="mirror"))
    p.feed(_ev(2, 110.0, "train_outcome", delivered=20))
    p.feed(_ev(3, 112.0, "state", to="paused"))
    assert p.elapsed() == 12.0 and p.elapsed(now=130.0) == 30.0
    assert p.describe() == "block 2/3 mirror · 20/40 pulses · paused"
    p.feed(_ev(4, 150.0, "session_end", state="aborted", reason="estop"))
    assert p.state == "aborted" and p.reason == "estop"


def test_progress_ignores_odd_events() -> None:
    p = SessionProgress()
    p.feed(_ev(0, 1.0, "block_start", block="x"))  # before the start, wrong type
    p.feed(_ev(1, 2.0, "train_outcome"))  # no count
    p.feed(_ev(2, 3.0, "something_new", a=1))
    assert p.elapsed() == 0.0 and p.pulses == 0 and p.describe() == "starting"


def test_progress_display_never_raises_into_the_session(tmp_path: Path) -> None:
    console = Console(file=(tmp_path / "out.txt").open("w"), force_terminal=True, width=100)
    with ProgressDisplay(console, planned_s=10.0, blocks=1, realtime=True) as shown:
        shown.sink(_ev(0, 0.0, "session_start", planned_duration_s=None))
        shown.sink(_ev(1, 1.0, "train_outcome", delivered="many"))  # a bad field: no raise
        shown.sink(_ev(2, 2.0, "block_start", block=0, label="rest"))
    assert shown.model.block == 0 and shown.model.block_name == "rest"


def test_two_sessions_in_the_same_second_get_different_folders(tmp_path: Path) -> None:
    made: list[Path] = []
    lock = threading.Lock()

    def make() -> None:
        f = new_session_folder("P1", tmp_path)
        with lock:
            made.append(f)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(f.is_dir() and not any(f.iterdir()) for f in made)
    assert all(f.name.startswith("P1-") for f in made)

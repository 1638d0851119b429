from __future__ import annotations

import json
from pathlib import Path

from mirrorvr.session.eventlog import EventLog, read_events


def test_append_assigns_gapless_seq_and_reopen_continues(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    with EventLog(p) as log:
        log.append("state", 1.0, to="running")
        log.append("pulse", 2.0, durable=True, planned=2.0)
    with EventLog(p) as log:
        assert log.next_seq == 2
        log.append("session_end", 3.0, state="completed")
    events = read_events(p).events
    assert [e.seq for e in events] == [0, 1, 2]
    assert events[1].kind == "pulse" and events[1]["planned"] == 2.0


def test_torn_last_line_is_kept_aside_and_log_continues(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    with EventLog(p) as log:
        log.append("state", 1.0, to="running")
    with open(p, "ab") as f:
        f.write(b'{"seq":1,"t":2.0,"kind":"pu')  # a crash in the middle of a write
    result = read_events(p)
    assert result.torn_tail and len(result.events) == 1
    with EventLog(p) as log:
        assert log.next_seq == 1
        log.append("resume", 3.0)
    assert (tmp_path / "events.jsonl.torn").read_bytes().startswith(b'{"seq":1')
    lines = p.read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["state", "resume"]


def test_sinks_see_every_event_and_a_failing_sink_does_not_stop_logging(tmp_path: Path) -> None:
    seen = []

    def bad(e):
        raise RuntimeError("sink broke")

    with EventLog(tmp_path / "e.jsonl") as log:
        log.add_sink(seen.append)
        log.add_sink(bad)
        log.append("cue", 1.0)
        log.append("cue", 2.0)
    events = read_events(tmp_path / "e.jsonl").events
    assert [e.kind for e in events] == ["cue", "sink_error", "cue"]  # never a device event
    assert events[1]["error"] == "RuntimeError: sink broke"
    assert [e.kind for e in seen] == ["cue", "sink_error", "cue"]

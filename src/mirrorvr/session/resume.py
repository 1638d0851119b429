"""Where a crashed session continues: pure, from its event log and timeline."""

from __future__ import annotations

from mirrorvr.errors import SessionError
from mirrorvr.session.events import Event
from mirrorvr.session.summary import delivered_pulses
from mirrorvr.session.timeline import Timeline


def resume_point(events: list[Event], timeline: Timeline) -> tuple[int, int]:
    """(step to continue from, pulses counted as delivered) from a crashed session's log.

    Stimulation is never repeated: a train whose intent is logged counts in full unless its
    outcome says fewer went out, and the session continues after the last step that began.
    An unanswered rating is asked again.
    """
    end = next((e for e in reversed(events) if e.kind == "session_end"), None)
    if end is not None:
        raise SessionError(f"the session already ended ({end['state']}): nothing to resume")
    steps = [int(e["step"]) for e in events if "step" in e.data and e.data["step"] is not None]
    last = max(steps) if steps else -1
    start = last + 1
    prompted = {e["step"] for e in events if e.kind == "rating_prompt"}
    answered = {e["step"] for e in events if e.kind == "rating"}
    unanswered = prompted - answered
    if unanswered and max(unanswered) == last:
        start = last
    _, possible = delivered_pulses(events)
    return min(start, len(timeline.steps) - 1), possible

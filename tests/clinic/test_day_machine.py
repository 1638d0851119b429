"""A state machine over two sessions of one patient on one day, on a real SQLite file.

Rules: start either session (reserving its planned pulses in the store), deliver pulses,
crash, resume, end, and recheck the plan with the store's day count. Whatever the order, the
pulses delivered on the day never exceed the daily limit, a session only delivers within its
reservation, and the day's count never reads lower than what was delivered.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mirrorvr.clinic.store import ClinicStore, ReservationRefused

DAY = dt.date(2026, 3, 2)
LIMIT = 3000


class DayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="day-machine-"))
        self.store = ClinicStore(self.dir / "clinic.sqlite3")
        self.store.add_patient("P7", amputation_side="left")
        self.sid: dict[str, int] = {}
        self.reserved: dict[str, int] = {}
        self.delivered: dict[str, int] = {}
        self.running: dict[str, bool] = {}
        self.ended: dict[str, bool] = {}
        self.seq: dict[str, int] = {}

    def _log(self, name: str, **rec: object) -> None:
        folder = self.dir / name
        folder.mkdir(exist_ok=True)
        rec = {"seq": self.seq.get(name, 0), "t": float(self.seq.get(name, 0)), **rec}
        self.seq[name] = int(rec["seq"]) + 1  # type: ignore[call-overload]
        with (folder / "events.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    @precondition(lambda self: len(self.sid) < 2)
    @rule(planned=st.sampled_from([600, 1200, 1800, 2400]))
    def start(self, planned: int) -> None:
        name = "A" if "A" not in self.sid else "B"
        before = self.store.pulses_today("P7", DAY)
        try:
            sid = self.store.reserve_session(
                "P7",
                plan_name=name,
                plan_toml="",
                folder=self.dir / name,
                pulses_planned=planned,
                pulses_reserved=planned,
                daily_limit=LIMIT,
                date=DAY,
            )
        except ReservationRefused as e:
            assert before + planned > LIMIT and e.remaining == max(0, LIMIT - before)
            return
        self.sid[name], self.reserved[name], self.delivered[name] = sid, planned, 0
        self.running[name], self.ended[name] = True, False
        self._log(name, kind="session_start")

    @precondition(lambda self: any(self.running.values()))
    @rule(data=st.data(), n=st.integers(1, 700))
    def deliver(self, data: st.DataObject, n: int) -> None:
        name = data.draw(st.sampled_from([k for k, v in self.running.items() if v]))
        n = min(n, self.reserved[name] - self.delivered[name])  # the governor's session budget
        if n <= 0:
            return
        step = self.seq.get(name, 0)
        self._log(name, kind="train_intent", step=step, train=step, n_pulses=n)
        self._log(name, kind="train_outcome", step=step, train=step, delivered=n)
        self.delivered[name] += n

    @precondition(lambda self: any(self.running.values()))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from([k for k, v in self.running.items() if v]))
        self.running[name] = False  # no session_end: the reservation stays held
        self.store.import_session_log(self.sid[name])
        assert self.store.reservation(self.sid[name])[0] == "held"

    @precondition(lambda self: any(not r and not self.ended[k] for k, r in self.running.items()))
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        names = [k for k, r in self.running.items() if not r and not self.ended[k]]
        name = data.draw(st.sampled_from(names))
        self.running[name] = True  # `mirrorvr resume` continues in the same folder and row
        self._log(name, kind="resume")

    @precondition(lambda self: any(self.running.values()))
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from([k for k, v in self.running.items() if v]))
        self._log(name, kind="session_end", state="completed", reason="")
        self.running[name], self.ended[name] = False, True
        self.store.import_session_log(self.sid[name])
        assert self.store.reservation(self.sid[name])[0] == "settled"

    @rule()
    def recheck(self) -> None:
        # what a resume's governor re-check is given: the day's count from the store
        today = self.store.pulses_today("P7", DAY)
        assert today >= sum(self.delivered.values())

    @invariant()
    def never_beyond_the_day(self) -> None:
        assert sum(self.delivered.values()) <= LIMIT
        assert all(self.delivered[k] <= self.reserved[k] for k in self.delivered)
        held = sum(self.reserved[k] if not self.ended[k] else self.delivered[k] for k in self.sid)
        assert self.store.pulses_today("P7", DAY) == held <= LIMIT

    def teardown(self) -> None:
        self.store.close()


DayMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
test_two_sessions_of_one_patient_on_one_day = DayMachine.TestCase

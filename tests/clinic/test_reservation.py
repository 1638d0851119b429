"""The daily pulse limit as a reservation: two real processes on one real SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
from pathlib import Path

import pytest

from mirrorvr.clinic.store import ClinicStore, ReservationRefused

DAY = dt.date(2026, 3, 2)


def _reserve_p7(
    s: ClinicStore, folder: str | Path, pulses: int, *, name: str = "p", date: dt.date | None = None
) -> int:
    """Reserve a session of ``pulses`` pulses for P7 (daily limit 3000)."""
    return s.reserve_session(
        "P7",
        plan_name=name,
        plan_toml="",
        folder=folder,
        pulses_planned=pulses,
        pulses_reserved=pulses,
        daily_limit=3000,
        date=date,
    )


def _reserve(db: str, folder: str, start: float, out: str) -> None:
    import time

    with ClinicStore(db) as s:
        while time.time() < start:  # both processes leave this line at the same instant
            pass
        try:
            sid = _reserve_p7(s, folder, 1800, name="1800-pulse plan", date=DAY)
            result = {"ok": sid}
        except ReservationRefused as e:
            result = {"refused": str(e), "remaining": e.remaining}
    Path(out).write_text(json.dumps(result), encoding="utf-8")


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "clinic.sqlite3"
    with ClinicStore(db) as s:
        s.add_patient("P7", amputation_side="left")
    return db


def test_two_sessions_started_together_never_exceed_the_day(tmp_path: Path) -> None:
    import time

    db = _store(tmp_path)
    ctx = mp.get_context("spawn")
    start = time.time() + 2.0  # time for both interpreters to start and open the file
    procs = [
        ctx.Process(
            target=_reserve,
            args=(str(db), str(tmp_path / f"s{i}"), start, str(tmp_path / f"r{i}.json")),
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    results = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(2)]
    assert sorted("ok" in r for r in results) == [False, True]
    refused = next(r for r in results if "refused" in r)
    assert refused["remaining"] == 1200 and "only 1200 remain today" in refused["refused"]
    with ClinicStore(db) as s:
        assert s.pulses_today("P7", DAY) == 1800  # the held reservation counts in full


def test_reservation_is_held_until_the_log_ends_then_settles(tmp_path: Path) -> None:
    db = _store(tmp_path)
    folder = tmp_path / "s1"
    folder.mkdir()
    with ClinicStore(db) as s:
        sid = _reserve_p7(s, folder, 100, date=DAY)
        log = folder / "events.jsonl"
        log.write_text(
            '{"seq":0,"t":0,"kind":"session_start"}\n'
            '{"seq":1,"t":1,"kind":"train_intent","step":1,"train":0,"n_pulses":40}\n'
            '{"seq":2,"t":2,"kind":"train_outcome","step":1,"train":0,"delivered":40}\n',
            encoding="utf-8",
        )
        s.import_session_log(sid)  # crashed (no session_end): still held, counts 100
        assert s.reservation(sid) == ("held", 100) and s.pulses_today("P7", DAY) == 100
        with log.open("a", encoding="utf-8") as f:
            f.write('{"seq":3,"t":3,"kind":"session_end","state":"aborted","reason":"x"}\n')
        s.import_session_log(sid)  # ended: the day counts what was delivered
        assert s.reservation(sid)[0] == "settled" and s.pulses_today("P7", DAY) == 40
        with pytest.raises(ReservationRefused, match="only 2960 remain today"):
            _reserve_p7(s, tmp_path / "s2", 3000, date=DAY)


def test_session_start_reserves_through_the_store(tmp_path: Path) -> None:
    from mirrorvr.config.loader import load_plan
    from mirrorvr.run.patient import open_store_session

    db = _store(tmp_path)
    plan = load_plan("console-demo")  # 80 pulses
    with ClinicStore(db) as s:
        # another session holds 2950 pulses of today
        running = _reserve_p7(s, tmp_path / "other", 2950, name="other")
        with pytest.raises(ReservationRefused, match="needs 80 pulses but only 50 remain today"):
            open_store_session(s, "P7", plan, tmp_path / "s1", actor="test")
        assert [a["action"] for a in s.audit_log()][-1] == "start_refused"
        s.set_session_status(running, "aborted")
        with s._write() as c:  # the other session ended having delivered nothing
            c.execute("UPDATE sessions SET reservation = 'settled' WHERE id = ?", (running,))
        sid = open_store_session(s, "P7", plan, tmp_path / "s2", actor="test")
        assert s.reservation(sid) == ("held", 80)


def test_a_session_that_never_started_gives_its_reservation_back(tmp_path: Path) -> None:
    db = _store(tmp_path)
    with ClinicStore(db) as s:
        sid = _reserve_p7(s, tmp_path / "never", 2000)
        assert s.pulses_today("P7") == 2000
        rec = s.import_session_log(sid)  # no log: refused or failed before its first event
        assert rec.status == "not started" and s.reservation(sid)[0] == "settled"
        assert s.pulses_today("P7") == 0


def test_the_tms_node_reserves_through_the_same_path(tmp_path: Path) -> None:
    from mirrorvr.config.loader import load_plan
    from mirrorvr.run.tms_node import NodeOptions, run_tms_node_for_patient

    db = _store(tmp_path)
    plan = load_plan("console-demo")  # patient DEMO, 80 pulses
    plan = plan.model_copy(update={"patient": plan.patient.model_copy(update={"id": "P7"})})
    with ClinicStore(db) as s:
        _reserve_p7(s, tmp_path / "other", 2950, name="other")
        with pytest.raises(ReservationRefused, match="only 50 remain today"):
            run_tms_node_for_patient(s, "P7", plan, NodeOptions(out=tmp_path / "tms"))
        assert not (tmp_path / "tms" / "events.jsonl").exists()  # refused before any pulse

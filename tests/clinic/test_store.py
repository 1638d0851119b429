"""The clinic store on a real SQLite file: migrations, round trips, concurrency, crashes."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mirrorvr.clinic.db import MIGRATIONS, SCHEMA_VERSION, StoreError, connect, migrate
from mirrorvr.clinic.screening import ITEMS, screening_status
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.config.loader import load_plan, plan_to_toml
from mirrorvr.run.session import LaunchOptions, run_session

NO = {k: False for k in ITEMS}


def test_fresh_database_is_wal_and_current(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    with ClinicStore(db) as s:
        assert s.schema_version() == SCHEMA_VERSION
        mode = s._rows("PRAGMA journal_mode")[0][0]
        assert mode == "wal"
    assert db.exists()


def test_migrates_an_old_file_and_refuses_a_newer_one(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn, db, target=0) == 0  # an empty file at version 0
    conn.close()
    with ClinicStore(db) as s:
        assert s.schema_version() == len(MIGRATIONS)
        s.add_patient("P1", "left")
    # reopening applies nothing twice and keeps the data
    with ClinicStore(db) as s:
        assert [p.id for p in s.patients()] == ["P1"]
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this mirrorvr"):
        connect(db)


def test_patients_screening_threshold_ratings_round_trip(tmp_path: Path) -> None:
    today = dt.date.today()
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        s.add_patient("P-7", "right", "wrist", dt.date(2024, 3, 1), "traumatic")
        with pytest.raises(StoreError, match="already exists"):
            s.add_patient("P-7", "right")
        with pytest.raises(StoreError, match="pseudonym"):
            s.add_patient("Jane Doe", "left")
        with pytest.raises(StoreError, match=r"no patient .nobody."):
            s.patient("nobody")
        assert not screening_status(s.latest_screening("P-7"), today).cleared
        s.record_screening("P-7", {**NO, "medication": True})
        st = screening_status(s.latest_screening("P-7"), today)
        assert not st.cleared and "medication" in st.reason
        s.record_screening("P-7", {**NO, "medication": True}, cleared_by="Dr. A")
        assert screening_status(s.latest_screening("P-7"), today).cleared
        # three answers per item: a partial form is kept but names what was not asked
        s.record_screening("P-7", {**NO, "epilepsy": None, "pregnant": None}, cleared_by="Dr. A")
        st = screening_status(s.latest_screening("P-7"), today)
        assert not st.cleared and "not asked: pregnant, epilepsy" not in st.reason
        assert "not asked: epilepsy, pregnant (2 of" in st.reason
        with pytest.raises(StoreError, match="an empty screening form"):
            s.record_screening("P-7", {})
        with pytest.raises(StoreError, match="an empty screening form"):
            s.record_screening("P-7", {k: None for k in ITEMS})
        s.record_screening("P-7", {**NO, "medication": True}, cleared_by="Dr. A")
        s.record_threshold("P-7", 52.0, "5-10", date=today - dt.timedelta(days=3))
        s.record_threshold("P-7", 49.5, "ml-pest")
        t = s.latest_threshold("P-7")
        assert t is not None and t.rmt_pct_mso == 49.5 and t.method == "ml-pest"
        with pytest.raises(StoreError, match="≤ 100"):
            s.record_threshold("P-7", 120, "5-10")
        r = s.add_rating("P-7", 6, timepoint="follow-up-3m", items={"bpi.worst": 8, "bpi.least": 2})
        assert r.items == {"bpi.worst": 8, "bpi.least": 2}
        s.add_rating("P-7", 40, timepoint="pre", scale="vas")
        assert [x.nrs for x in s.ratings("P-7")] == [6, 4.0]
        from mirrorvr.clinic.outcomes import RatingError

        with pytest.raises(RatingError, match="0-10"):
            s.add_rating("P-7", 11, timepoint="pre")
        with pytest.raises(RatingError, match="timepoint"):
            s.add_rating("P-7", 3, timepoint="later")
        s.record_gmi("P-7", "laterality", "start")
        s.record_gmi("P-7", "imagery", "progress")
        s.record_gmi("P-7", "laterality", "regress", "pain rose with imagery")
        assert s.current_gmi_stage("P-7") == "laterality"


def _run_linked_session(s: ClinicStore, plan_path: Path | str, folder: Path, pid: str) -> int:
    plan = load_plan(plan_path)
    from mirrorvr.session.timeline import compile_timeline

    sid = s.create_session(
        pid,
        plan_name=plan.session.name,
        plan_toml=plan_to_toml(plan),
        folder=folder,
        pulses_planned=compile_timeline(plan).total_pulses,
        date=plan.stimulation.motor_threshold.measured_on
        if plan.stimulation.motor_threshold
        else None,
    )
    run_session(plan, LaunchOptions(out=folder))
    return sid


def test_import_copies_the_log_and_detects_disagreement(tmp_path: Path, short_plan: Path) -> None:
    with ClinicStore(tmp_path / "c.sqlite3") as s:
        s.add_patient("T-1", "left")
        sid = _run_linked_session(s, short_plan, tmp_path / "sess", "T-1")
        rec = s.import_session_log(sid)
        assert rec.status == "completed" and rec.pulses_delivered == 120 and rec.estops == 0
        logged = [
            json.loads(line)
            for line in (tmp_path / "sess" / "events.jsonl").read_text().splitlines()
        ]
        want = sorted(e["value"] for e in logged if e["kind"] == "rating")
        assert sorted(r.value for r in s.ratings("T-1")) == want
        assert s.import_session_log(sid).pulses_delivered == 120  # idempotent
        assert len(s.ratings("T-1")) == 2
        assert s.pulses_today("T-1", dt.date(2026, 1, 10)) == 120
        trend = s.pain_trend("T-1")
        assert trend[0]["pre"] == want[0] or trend[0]["pre"] in want
        # a session whose program died before importing is reconciled from its log
        s._conn.execute("UPDATE sessions SET status = 'running' WHERE id = ?", (sid,))
        assert s.reconcile() == [sid] and s.session(sid).status == "completed"
        assert s.reconcile() == []
        # someone edits the copy: the next import refuses and names the difference
        s._conn.execute("UPDATE sessions SET pulses_delivered = 7 WHERE id = ?", (sid,))
        with pytest.raises(StoreError, match="pulses delivered: database 7, log 120"):
            s.import_session_log(sid)
        s._conn.execute("UPDATE sessions SET pulses_delivered = 120 WHERE id = ?", (sid,))
        s._conn.execute("UPDATE ratings SET value = 0 WHERE session_id = ?", (sid,))
        assert any("rating from event" in p for p in s.check_consistency(sid))


def _writer(db: str, who: str, n: int) -> None:
    with ClinicStore(db) as s:
        for i in range(n):
            s.audit(who, "tick", "P1", i=i)


def test_concurrent_writers_threads_and_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    with ClinicStore(db) as s:
        s.add_patient("P1", "left")
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_writer, args=(str(db), f"proc{i}", 40)) for i in range(2)]
        for p in procs:
            p.start()
        # the "session" and the "console" share one store object from two threads
        threads = [
            threading.Thread(target=lambda w=w: [s.audit(w, "tick", "P1", i=i) for i in range(40)])
            for w in ("session", "console")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
        log = s.audit_log(limit=10_000)
    counts: dict[str, list[int]] = {}
    for row in log:
        counts.setdefault(row["actor"], []).append(row["details"]["i"])
    assert {k: sorted(v) for k, v in counts.items()} == {
        w: list(range(40)) for w in ("proc0", "proc1", "session", "console")
    }


_CRASHER = """
import sys, time
from mirrorvr.clinic.store import ClinicStore
s = ClinicStore(sys.argv[1])
for i in range(5):
    s.add_rating("P1", i, timepoint="pre")
c = s._conn
c.execute("BEGIN IMMEDIATE")
for i in range(1000):
    c.execute("INSERT INTO audit (t, actor, action, details) VALUES ('t', 'x', 'half', '{}')")
print("in-transaction", flush=True)
time.sleep(60)
"""


def test_kill_during_a_write_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    with ClinicStore(db) as s:
        s.add_patient("P1", "left")
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "in-transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    deadline = time.monotonic() + 30
    with ClinicStore(db) as s:  # the killed writer's lock is gone with its process
        while True:
            try:
                assert [r.value for r in s.ratings("P1")] == [0, 1, 2, 3, 4]
                break
            except sqlite3.OperationalError:
                assert time.monotonic() < deadline
        assert not [a for a in s.audit_log() if a["action"] == "half"]
        assert s._rows("PRAGMA integrity_check")[0][0] == "ok"
        s.add_rating("P1", 9, timepoint="post")  # and the file takes writes again


def test_pulses_today_reach_the_governor_through_launch_options(
    tmp_path: Path, short_plan: Path
) -> None:
    plan = load_plan(short_plan)  # 120 pulses; the default daily limit is 3000
    result, summary = run_session(plan, LaunchOptions(out=tmp_path / "s", pulses_today=2900))
    assert result.state == "aborted" and "2900 pulses already today" in result.reason
    assert summary["pulses_delivered"] == 0
    result, summary = run_session(plan, LaunchOptions(out=tmp_path / "t", pulses_today=2880))
    assert result.state == "completed" and summary["pulses_delivered"] == 120

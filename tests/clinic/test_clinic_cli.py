"""The clinic's command line as a user runs it: real subprocesses against a real database."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from mirrorvr.clinic.store import ClinicStore
from tests.conftest import mirrorvr_cmd


def _run(db: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mirrorvr_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "MIRRORVR_CLINIC_DB": str(db)},
    )


def test_patients_rate_and_a_simulated_session_recorded_in_the_store(tmp_path: Path) -> None:
    db = tmp_path / "clinic.sqlite3"
    ok = _run(db, "patients", "add", "PLP-9", "--side", "right", "--level", "wrist")
    assert ok.returncode == 0, ok.stderr
    dup = _run(db, "patients", "add", "PLP-9", "--side", "right")
    assert dup.returncode == 2 and "already exists" in dup.stderr and "Traceback" not in dup.stderr

    # a stimulating plan is refused until screening and a threshold are on record
    refused = _run(db, "sim", "console-demo", "--patient", "PLP-9", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2
    assert "motor_threshold: no motor threshold on record for PLP-9" in refused.stderr
    assert _run(db, "patients", "threshold", "PLP-9", "48").returncode == 0
    refused = _run(db, "sim", "console-demo", "--patient", "PLP-9", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2 and "screening: no TMS screening on record" in refused.stderr
    empty = _run(db, "patients", "screen", "PLP-9")  # no answers: refused, nothing recorded
    assert empty.returncode == 2 and "an empty screening form" in empty.stderr
    assert _run(db, "patients", "screen", "PLP-9", "--all-no").returncode == 0

    res = _run(db, "sim", "console-demo", "--patient", "PLP-9", "--out", str(tmp_path / "s1"))
    assert res.returncode == 0, res.stderr
    assert "recorded as session 1 of patient PLP-9 (completed)" in res.stdout
    rate = _run(db, "rate", "PLP-9", "4", "--timepoint", "follow-up-1m", "--item", "bpi.worst=7")
    assert rate.returncode == 0, rate.stderr
    bad = _run(db, "rate", "PLP-9", "14", "--timepoint", "pre")
    assert bad.returncode == 2 and "0-10" in bad.stderr

    shown = _run(db, "patients", "show", "PLP-9")
    assert shown.returncode == 0
    assert "threshold" in shown.stdout and "48 % MSO" in shown.stdout
    assert "80/80" in shown.stdout and "follow-up-1m: 4" in shown.stdout
    listed = _run(db, "patients", "list")
    assert "PLP-9" in listed.stdout

    with ClinicStore(db) as s:
        (rec,) = s.sessions("PLP-9")
        assert rec.status == "completed" and rec.pulses_delivered == 80
        assert rec.date == dt.date.today()
        assert {r.timepoint for r in s.ratings("PLP-9")} == {"pre", "post", "follow-up-1m"}
        assert s.pulses_today("PLP-9") == 80
        assert [a["action"] for a in s.audit_log()].count("session_start") == 1


def test_session_measures_the_threshold_and_records_it_in_the_store(tmp_path: Path) -> None:
    """A patient without a threshold on record: the session hunts it first and stores it."""
    db = tmp_path / "clinic.sqlite3"
    assert _run(db, "patients", "add", "PLP-3", "--side", "left").returncode == 0
    assert _run(db, "patients", "screen", "PLP-3", "--all-no").returncode == 0
    plan = tmp_path / "short-mt.toml"
    from tests.conftest import SHORT_PLAN

    plan.write_text(
        SHORT_PLAN.replace(
            '[stimulation.motor_threshold]\nrmt_pct_mso = 50\nmeasured_on = "2026-01-10"\n',
            '[stimulation.threshold_estimate]\nmethod = "ml-pest"\n',
        )
    )
    res = _run(
        db, "sim", str(plan), "--patient", "PLP-3", "--true-mt", "57", "--out", str(tmp_path / "s")
    )
    assert res.returncode == 0, res.stderr
    with ClinicStore(db) as s:
        t = s.latest_threshold("PLP-3")
        assert t is not None and t.method == "ml-pest" and t.date == dt.date.today()
        assert abs(t.rmt_pct_mso - 57) <= 6
        (rec,) = s.sessions("PLP-3")
        assert rec.status == "completed" and rec.pulses_delivered == 120

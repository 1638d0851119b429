"""``mirrorvr course …`` and ``mirrorvr trial …`` as a user runs them: real subprocesses, real DB."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.clinic.test_trial_sim import MARKERS, _marked_trial
from tests.conftest import mirrorvr_cmd

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "configs/courses/malavera-10.toml"
ANSWERS = [
    "--answer", "seizure_history=no",
    "--answer", "head_hardware=no",
    "--answer", "depression_screened=yes",
    "--detail", "depression_screened.phq9=6",
]  # fmt: skip


def _run(db: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mirrorvr_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "MIRRORVR_CLINIC_DB": str(db)},
    )


def _bad(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    flat = " ".join(res.stderr.split())  # rich wraps long messages at the terminal width
    for w in words:
        assert w in flat, res.stderr


def test_course_from_the_command_line(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    assert (
        _run(db, "patients", "add", "C-1", "--side", "left", "--date", "2020-05-01").returncode == 0
    )
    # nothing asked yet: the blocking items stop the course, as "not asked", never "no"
    res = _run(db, "course", "eligibility", "C-1")
    assert "may NOT start" in res.stdout and "seizure_history: not asked" in res.stdout
    _bad(_run(db, "course", "start", "C-1", str(COURSE)), "seizure_history: not asked")
    res = _run(db, "course", "eligibility", "C-1", *ANSWERS, "--by", "Dr B")
    assert res.returncode == 0 and "may start" in res.stdout and "PHQ-9 6" in res.stdout
    # a course whose sessions exceed the daily or the weekly pulse limit
    daily = tmp_path / "daily.toml"
    daily.write_text(COURSE.read_text().replace("sessions_per_day = 1", "sessions_per_day = 3"))
    _bad(_run(db, "course", "start", "C-1", str(daily)), "over the plan's daily")
    weekly = tmp_path / "weekly.toml"
    weekly.write_text(
        COURSE.read_text()
        .replace("max_pulses_per_week = 6000", "max_pulses_per_week = 3000")
        .replace('plan = "malavera-mirror"', f'plan = "{ROOT}/configs/malavera-mirror.toml"')
    )
    _bad(_run(db, "course", "start", "C-1", str(weekly)), "over the course's weekly")
    res = _run(db, "course", "start", "C-1", str(COURSE), "--baseline", "7", "--date", "2026-11-02")
    assert res.returncode == 0, res.stderr
    # a visit out of order
    _bad(_run(db, "course", "record", "C-1", "follow-up", "--date", "2026-11-02"), "out of order")
    _bad(_run(db, "course", "record", "C-1", "booster", "--date", "2026-11-02"), "out of order")
    _bad(
        _run(db, "course", "record", "C-1", "visit", "--date", "2026-11-02"),
        "session, booster or follow-up",
    )
    ok = _run(db, "course", "record", "C-1", "session", "--date", "2026-11-02")
    assert ok.returncode == 0 and "session 1 on 2026-11-02 recorded (done)" in ok.stdout
    # a rating outside any session belongs to the course trajectory
    assert _run(db, "rate", "C-1", "4", "--timepoint", "pre").returncode == 0
    shown = _run(db, "course", "show", "C-1", "--date", "2026-11-03")
    assert shown.returncode == 0, shown.stderr
    assert "sessions 1 done of 10" in shown.stdout and "latest 4.0" in shown.stdout
    assert "immpact-moderate@1 yes" in shown.stdout
    nxt = _run(db, "course", "next", "C-1", "--date", "2026-11-03")
    assert "session 2 due 2026-11-03" in nxt.stdout and "plan malavera-mirror" in nxt.stdout


def test_trial_from_the_command_line_never_shows_the_arm(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    trial = _marked_trial(tmp_path)
    res = _run(db, "trial", "validate", str(trial))
    assert res.returncode == 0 and "sham: sham-coil" in res.stdout
    assert _run(db, "trial", "register", str(trial)).returncode == 0
    _bad(_run(db, "trial", "register", str(trial)), "already registered")
    for pid in ("T-1", "T-2"):
        assert (
            _run(db, "patients", "add", pid, "--side", "right", "--date", "2019-01-01").returncode
            == 0
        )
        assert _run(db, "course", "eligibility", pid, *ANSWERS).returncode == 0
        res = _run(db, "trial", "enrol", str(trial), pid, "--baseline", "7")
        assert res.returncode == 0 and "allocation sealed" in res.stdout, res.stderr
    blinded = [
        _run(db, "course", "show", "T-1"),
        _run(db, "course", "show", "T-2", "--json"),
        _run(db, "course", "next", "T-1"),
        _run(db, "patients", "show", "T-2"),
        _run(db, "trial", "table", "malavera-sham", "--out", str(tmp_path / "tab")),
    ]
    for r in blinded:
        assert r.returncode == 0, r.stderr
        for m in MARKERS:
            assert m not in r.stdout + r.stderr
    assert "allocation blinded" in blinded[0].stdout
    for f in (tmp_path / "tab").iterdir():
        if f.suffix in (".csv", ".json", ".html"):
            assert not any(m in f.read_text() for m in MARKERS), f
    _bad(_run(db, "trial", "operator", "malavera-sham", "T-1", "--role", "therapist"), "blinded")
    op = _run(db, "trial", "operator", "malavera-sham", "T-1", "--role", "operator")
    assert op.returncode == 0 and "coil" in op.stdout and any(m in op.stdout for m in MARKERS)
    _bad(
        _run(db, "trial", "unblind", "malavera-sham", "--reason", "SAE", "--by", "Dr A"),
        "--confirm",
    )
    _bad(
        _run(db, "trial", "unblind", "malavera-sham", "--reason", " ", "--by", "Dr A", "--confirm"),
        "needs a reason",
    )
    un = _run(
        db,
        "trial",
        "unblind",
        "malavera-sham",
        "--patient",
        "T-1",
        "--reason",
        "seizure",
        "--by",
        "Dr A",
        "--confirm",
    )
    assert un.returncode == 0 and any(m in un.stdout for m in MARKERS)
    sim = _run(
        db, "trial", "sim", str(trial), "--patients", "6", "--out", str(tmp_path / "sim"),
        "--effect", f"{MARKERS[0]}=0.6",
    )  # fmt: skip
    assert sim.returncode == 0, sim.stderr
    assert "6 patients" in sim.stdout
    for name in ("trial-table.csv", "trial-table.parquet", "flow.json", "report.html"):
        assert (tmp_path / "sim" / name).exists()
    assert not any(m in (tmp_path / "sim" / "report.html").read_text() for m in MARKERS)
    # an unknown arm
    _bad(
        _run(
            db,
            "trial",
            "sim",
            str(trial),
            "--patients",
            "4",
            "--effect",
            "placebo=0.3",
            "--out",
            str(tmp_path / "s"),
        ),
        "not an arm",
    )
    _bad(
        _run(
            db, "trial", "enrol", str(ROOT / "configs/trials/nope.toml"), "T-1", "--baseline", "5"
        ),
        "not found",
    )


def test_two_real_sessions_of_one_course_at_once(tmp_path: Path) -> None:
    """Two `mirrorvr sim --patient` processes at once: both become visits, numbered in turn."""
    db = tmp_path / "c.sqlite3"
    course = tmp_path / "demo-course.toml"
    course.write_text(
        COURSE.read_text()
        .replace('plan = "malavera-mirror"', 'plan = "console-demo"')
        .replace("sessions_per_day = 1", "sessions_per_day = 2")
        .replace("max_pulses_per_week = 6000", "")
    )
    assert (
        _run(db, "patients", "add", "R-1", "--side", "left", "--date", "2020-01-01").returncode == 0
    )
    assert _run(db, "patients", "threshold", "R-1", "48").returncode == 0
    assert _run(db, "patients", "screen", "R-1", "--all-no").returncode == 0
    assert _run(db, "course", "eligibility", "R-1", *ANSWERS).returncode == 0
    assert _run(db, "course", "start", "R-1", str(course), "--baseline", "6").returncode == 0
    env = {**os.environ, "COLUMNS": "200", "MIRRORVR_CLINIC_DB": str(db)}
    procs = [
        subprocess.Popen(
            mirrorvr_cmd(
                "sim", "console-demo", "--patient", "R-1", "--out", str(tmp_path / f"s{i}")
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    for p in procs:
        o, e = p.communicate(timeout=300)
        assert p.returncode == 0, o + e
    shown = _run(db, "course", "show", "R-1", "--json")
    assert shown.returncode == 0, shown.stderr
    import json

    c = json.loads(shown.stdout)["course"]
    assert c["sessions_done"] == 2
    assert [v["label"] for v in c["visits"]] == ["session 1", "session 2"]
    # the headset's in-session ratings are on the course trajectory, beside the baseline
    assert sum(1 for t in c["trajectory"] if t["session_id"] is not None) == 4

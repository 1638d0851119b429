"""The command line as a user runs it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import mirrorvr_cmd


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mirrorvr_cmd(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_validate_ok_and_bad(tmp_path: Path) -> None:
    ok = _run("validate")
    assert ok.returncode == 0 and "1200 pulses" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[patient]\nid = "x"\namputation_side = "up"\n[[blocks]]\nkind = "mirror"\n'
        "repetitions = 0\n"
    )
    res = _run("validate", str(bad))
    assert res.returncode == 2
    assert f"{bad}:patient.amputation_side" in res.stderr
    assert f"{bad}:blocks[0].repetitions" in res.stderr
    assert "Traceback" not in res.stderr


def test_validate_refuses_stale_motor_threshold(tmp_path: Path) -> None:
    res = _run("validate", "--today", "2030-01-01")
    assert res.returncode == 2 and "measure it again" in res.stderr


def test_sim_without_arguments_runs_the_default_plan(tmp_path: Path) -> None:
    res = subprocess.run(
        mirrorvr_cmd("sim"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stderr
    folder = next((tmp_path / "sessions").iterdir())
    assert {p.name for p in folder.iterdir()} >= {
        "plan.toml",
        "events.jsonl",
        "summary.json",
        "session.json",
    }
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["state"] == "completed" and summary["pulses_delivered"] == 1200
    assert summary["duration_s"] > 19 * 60


def test_sim_same_seed_same_events(tmp_path: Path, short_plan: Path) -> None:
    for name in ("a", "b"):
        assert (
            _run("sim", str(short_plan), "--seed", "3", "--out", str(tmp_path / name)).returncode
            == 0
        )
    # identical but for the folder each session lives in (the emulator's port path)
    a = (tmp_path / "a" / "events.jsonl").read_text().replace(str(tmp_path / "a"), "<out>")
    b = (tmp_path / "b" / "events.jsonl").read_text().replace(str(tmp_path / "b"), "<out>")
    assert a == b


def test_sim_with_missing_port_is_a_clear_error(tmp_path: Path, short_plan: Path) -> None:
    res = _run(
        "sim",
        str(short_plan),
        "--stimulator",
        f"ttl-box:{tmp_path}/ttyNONE",
        "--out",
        str(tmp_path / "s"),
    )
    assert res.returncode == 2
    assert f"{tmp_path}/ttyNONE does not exist" in res.stderr.replace("\n", "")
    assert "Traceback" not in res.stderr


def test_sim_against_an_emulator_started_with_emulate(tmp_path: Path, short_plan: Path) -> None:
    link, log = tmp_path / "box", tmp_path / "emu.jsonl"
    emu = subprocess.Popen(
        mirrorvr_cmd("emulate", "ttl-box", "--link", str(link), "--log", str(log))
    )
    try:
        deadline = time.monotonic() + 20
        while not link.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        res = _run(
            "sim", str(short_plan), "--stimulator", f"ttl-box:{link}", "--out", str(tmp_path / "s")
        )
        assert res.returncode == 0, res.stderr
    finally:
        emu.send_signal(signal.SIGINT)
        emu.wait(10)
    assert log.read_text().count('"action":"pulse"') == 120


def test_resume_of_a_finished_session_is_refused(tmp_path: Path, short_plan: Path) -> None:
    assert _run("sim", str(short_plan), "--out", str(tmp_path / "s")).returncode == 0
    res = _run("resume", str(tmp_path / "s"))
    assert res.returncode == 2 and "nothing to resume" in res.stderr


def test_validate_reports_trains_that_do_not_fit_in_rests(tmp_path: Path, short_plan: Path) -> None:
    text = short_plan.read_text().replace("rest_s = 1.4", "rest_s = 0.8")
    short_plan.write_text(text)
    res = _run("validate", str(short_plan))
    assert res.returncode == 2
    assert f"{short_plan}:stimulation.protocol: only 0 of 6 trains fit" in res.stderr.replace(
        "\n", " "
    )

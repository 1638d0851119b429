"""The five plans of issue 13 that reached the stimulator: each is refused before any pulse.

`mirrorvr validate` exits 2 naming the field and the rule (never a traceback), and `mirrorvr sim`
of the same plan delivers nothing: no session log with a pulse, no emulator that saw one.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import mirrorvr_cmd

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
_PROTOCOL = re.compile(r"pulse_repetition_interval_s = 0\.1    # 10 Hz\nlevels = \[\n.*?\n\]", re.S)


def _malavera(pri: float, levels: str, paired_ms: float | None = None) -> str:
    body = f"pulse_repetition_interval_s = {pri}\nlevels = {levels}\n"
    if paired_ms is not None:
        body += f"paired_pulse_interval_ms = {paired_ms}\n"
    text = (CONFIGS / "malavera-mirror.toml").read_text(encoding="utf-8")
    assert _PROTOCOL.search(text), "the preset's protocol table changed: update this test"
    return _PROTOCOL.sub(body, text)


def _without_override() -> str:
    text = (CONFIGS / "malavera-mirror-mt.toml").read_text(encoding="utf-8")
    return text[: text.index("[[safety.overrides]]")]


CASES = {
    # 1-s trains of 50 pairs 10 ms apart: 100 Hz, host-timed
    "paired-100hz": (
        lambda: _malavera(
            0.02, "[{ duration_s = 1.0, repetition_interval_s = 60.0 }, { duration_s = 600.0 }]", 10
        ),
        "paired_pulse_device",
    ),
    # 20 Hz pairs for 6 s (table: 2.05 s), 2 ms apart: 500 Hz
    "paired-20hz-6s": (
        lambda: _malavera(
            0.05, "[{ duration_s = 6.0, repetition_interval_s = 60.0 }, { duration_s = 600.0 }]", 2
        ),
        "paired_pulse_device",
    ),
    # each pair's second pulse lands on the next pair's first
    "coincident": (
        lambda: _malavera(
            0.01, "[{ duration_s = 0.1, repetition_interval_s = 60.0 }, { duration_s = 600.0 }]", 10
        ),
        "coincident_triggers",
    ),
    "threshold-at-start": (_without_override, "max_train_duration_s"),
    "million-pulses": (
        lambda: _malavera(
            0.001, "[{ duration_s = 1.0, repetition_interval_s = 2.0 }, { duration_s = 2000.0 }]"
        ),
        "max_pulses_per_session",
    ),
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "1000"}  # one problem per line, unwrapped
    return subprocess.run(mirrorvr_cmd(*args), capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_refuses_naming_field_and_rule(tmp_path: Path, case: str) -> None:
    make, rule = CASES[case]
    plan = tmp_path / f"{case}.toml"
    plan.write_text(make(), encoding="utf-8")
    res = _run("validate", str(plan))
    text = res.stdout + res.stderr
    assert res.returncode == 2, text
    assert "Traceback" not in text and "MemoryError" not in text
    assert f"{plan.name}:stimulation.protocol: rule {rule}:" in text


@pytest.mark.parametrize("case", ["paired-100hz", "threshold-at-start"])
def test_sim_delivers_no_pulse(tmp_path: Path, case: str) -> None:
    make, rule = CASES[case]
    plan = tmp_path / f"{case}.toml"
    plan.write_text(make(), encoding="utf-8")
    out = tmp_path / "session"
    res = _run("sim", str(plan), "--out", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"rule {rule}" in " ".join(res.stderr.split())
    logs = list(out.glob("*.jsonl")) if out.exists() else []
    assert not any('"pulse"' in p.read_text(encoding="utf-8") for p in logs)


def test_run_session_gives_no_hunting_pulse_to_a_plan_it_would_refuse(tmp_path: Path) -> None:
    """Even a caller that skips `validate` gets no hunting pulse for such a plan."""
    from mirrorvr.config.loader import load_plan
    from mirrorvr.errors import SessionError
    from mirrorvr.run.session import LaunchOptions, run_session
    from mirrorvr.session.eventlog import read_events

    plan_file = tmp_path / "mt.toml"
    plan_file.write_text(_without_override(), encoding="utf-8")
    out = tmp_path / "s"
    with pytest.raises(
        SessionError, match=r"refused before the threshold hunt.*max_train_duration"
    ):
        run_session(load_plan(plan_file), LaunchOptions(out=out))
    events = read_events(out / "events.jsonl").events
    assert not any(e.kind in ("pulse", "threshold_pulse") for e in events)
    assert events[-1].kind == "session_end" and events[-1]["state"] == "aborted"
    emulator_logs = list(out.glob("emulator-*.jsonl"))
    assert not any('"action":"pulse"' in p.read_text() for p in emulator_logs)

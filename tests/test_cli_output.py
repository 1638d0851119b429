"""What the CLI prints for people: units, no Python values; presets with what they are;
``xdf info --json``; a terminal run's events have no sink errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mirrorvr.cli.app import run_cli
from mirrorvr.cli.common import summary_rows
from mirrorvr.session.eventlog import read_events

PYTHON_VALUES = re.compile(r"\bNone\b|\bnan\b|\{'|\[\]")


def test_summary_rows_are_human() -> None:
    summary = {
        "state": "aborted",
        "reason": "estop: key",
        "duration_s": 1220.0,
        "pulses_planned": 1200,
        "pulses_delivered": 300,
        "pulses_missed": 2,
        "trains_refused": 0,
        "estops": 1,
        "cues": 60,
        "ratings": {"pre": 6, "post": None},
        "pain_change": None,
        "laterality": {"trials": 0, "correct": 0, "median_rt_s": None},
        "motor_threshold": None,
    }
    rows = dict(summary_rows(summary))
    assert rows["duration"] == "20 min 20 s" and rows["pulses"] == "300 of 1200 delivered"
    assert rows["pulses missed"] == "2" and "trains refused" not in rows
    assert rows["pain (0-10)"] == "pre 6" and "laterality" not in rows
    assert not any(PYTHON_VALUES.search(v) for v in rows.values()), rows


def test_sim_prints_no_python_values_and_json_info(
    tmp_path: Path, short_plan: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["sim", str(short_plan), "--out", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert "120 of 120 delivered" in printed and not PYTHON_VALUES.search(printed), printed
    events = read_events(tmp_path / "s" / "events.jsonl").events
    assert not [e for e in events if e.kind == "sink_error"]

    assert run_cli(["xdf", "info", str(tmp_path / "s" / "session.xdf"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    names = {s["name"] for s in info["streams"]}
    assert "mirrorvr-markers" in names and info["problem"] is None
    assert all(s["has_footer"] for s in info["streams"])


def test_presets_say_what_each_one_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["presets"]) == 0
    text = capsys.readouterr().out
    assert "malavera-mirror" in text and "Malavera 2016 rTMS + mirror therapy" in text
    assert "1200 pulses" in text and "min" in text

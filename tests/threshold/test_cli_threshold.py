"""`mirrorvr threshold` and `mirrorvr sim --estimate-mt` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mirrorvr.session.eventlog import read_events
from tests.conftest import mirrorvr_cmd


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mirrorvr_cmd(*args),
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_threshold_command_with_hotspot_search(tmp_path: Path) -> None:
    out = tmp_path / "t"
    res = _run(
        "threshold",
        "--method",
        "ml-pest",
        "--out",
        str(out),
        "--true-mt",
        "52",
        "--hotspot",
        "C3,C3-N",
        "--start",
        "70",
        "--seed",
        "2",
    )
    assert res.returncode == 0, res.stderr
    assert "[stimulation.motor_threshold]" in res.stdout and 'method = "ml-pest"' in res.stdout
    rec = json.loads((out / "threshold.json").read_text())
    assert rec["method"] == "ml-pest" and rec["status"] == "completed"
    assert abs(rec["mt_pct_mso"] - rec["simulated_true_mt_pct_mso"]) < 6
    hs = json.loads((out / "hotspot.json").read_text())
    assert hs["best"] in ("C3", "C3-N") and len(hs["sites"]) == 2
    events = read_events(out / "events.jsonl").events
    sites = [e for e in events if e.kind == "hotspot_site"]
    assert [e["site"] for e in sites] == ["C3", "C3-N"]
    meps = [e for e in events if e.kind == "mep"]
    assert {e["site"] for e in meps} == {"C3", "C3-N", hs["best"]}


def test_threshold_command_refuses_bad_options(tmp_path: Path) -> None:
    res = _run("threshold", "--method", "guess", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "method" in res.stderr and "Traceback" not in res.stderr
    res = _run("threshold", "--isi", "0.1,0.2", "--out", str(tmp_path / "y"))
    assert res.returncode == 2 and "isi" in res.stderr


def test_sim_estimate_mt_sets_the_dosing(tmp_path: Path, short_plan: Path) -> None:
    out = tmp_path / "s"
    res = _run(
        "sim", str(short_plan), "--estimate-mt", "ml-pest", "--true-mt", "58", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    mt = summary["motor_threshold"]
    assert mt["method"] == "ml-pest" and abs(mt["rmt_pct_mso"] - 58) <= 6
    intents = [e for e in read_events(out / "events.jsonl").events if e.kind == "train_intent"]
    assert intents and all(
        e["intensity_pct_mso"] == round(0.9 * mt["rmt_pct_mso"], 2) for e in intents
    )

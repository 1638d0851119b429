"""The stimulator families through the CLI: `sim` with each kind, `devices --probe`, `emulate`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mirrorvr.sim.emulate import EmulatorProcess
from tests.conftest import SHORT_PLAN, mirrorvr_cmd

KINDS = ["magstim-200", "magstim-bistim", "magstim-rapid", "magventure"]


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        mirrorvr_cmd(*args), capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def _plan_for(kind: str) -> tuple[str, int]:
    """SHORT_PLAN naming ``kind``; the single-pulse 200²/BiStim² (≤ 0.5/0.25 Hz, which the
    governor enforces from the driver's capabilities) get one pulse 300 ms after each cue."""
    plan = SHORT_PLAN.replace('kind = "ttl-box", pulse_width_ms = 1.0', f'kind = "{kind}"')
    if kind in ("magventure", "magstim-rapid"):
        return plan, 120  # 6 device-timed 20 Hz trains of 20 pulses
    protocol = plan[plan.index("[stimulation.protocol]") : plan.index("[devices]")]
    plan = plan.replace(protocol, "[stimulation.cue_locked]\ndelay_ms = 300\n\n")
    plan = plan.replace('mode = "concurrent"', 'mode = "cue-locked"')
    return plan.replace("rest_s = 1.4", "rest_s = 4.0"), 6


@pytest.mark.parametrize("kind", KINDS)
def test_sim_runs_a_plan_naming_the_device_against_its_emulator(kind: str, tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    text, n = _plan_for(kind)
    plan.write_text(text)
    res = _run("sim", str(plan), "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["state"] == "completed" and summary["pulses_delivered"] == n
    recs = [
        json.loads(x) for x in (tmp_path / "s" / f"emulator-{kind}.jsonl").read_text().splitlines()
    ]
    pulses = [r for r in recs if r.get("action") == "pulse"]
    assert len(pulses) == n and {p["intensity"] for p in pulses} == {45}  # 90 % of 50 % MSO
    assert recs[-1]["action"] == "stop" and recs[-1]["armed"] is False
    events = (tmp_path / "s" / "events.jsonl").read_text()
    assert '"what":"intensity_set"' in events and '"device_pct_mso":45' in events


def test_devices_probe_identifies_each_emulated_stimulator(tmp_path: Path) -> None:
    emus = [EmulatorProcess(k, tmp_path / k, extra_args=["--no-line-delay"]).start() for k in KINDS]
    try:
        args = [a for k in KINDS for a in ("--port", str(tmp_path / k))]
        res = _run("devices", "--probe", *args, "--port", str(tmp_path / "nothing"))
    finally:
        for e in emus:
            e.stop()
    assert res.returncode == 0, res.stderr
    rows = {line.split("│")[1].strip(): line for line in res.stdout.splitlines() if "│" in line}
    for k in KINDS:
        assert f"│ {k} " in rows[str(tmp_path / k)]
    assert "not probed" in rows[str(tmp_path / "nothing")]


def test_emulate_refuses_an_unknown_fault(tmp_path: Path) -> None:
    res = _run("emulate", "magstim-200", "--link", str(tmp_path / "x"), "--fault", "smoke")
    assert res.returncode == 2 and "unknown fault 'smoke'" in res.stderr
    assert "Traceback" not in res.stderr

"""Paired pulses through the CLI: only a BiStim² that set and read back its pair delivers them.

Oracle (docs/safety.md "paired pulse", docs/stimulators.md "BiStim² paired pulses", never the
governor): a pair is one trigger; unit A fires at the trigger at power A, unit B the plan's
interval later at power B (% RMT of the threshold, whole % MSO rounded down); a pair counts as
two pulses. Every other stimulator kind refuses a paired plan (exit 2, rule
``paired_pulse_device``), so does an interval outside 1-100 ms or a power B above the profile's
cap, and a unit whose read-back differs is refused before anything is armed. Refused means
nothing delivered: no pulse in a session log, none at any emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mirrorvr.sim.emulate import EmulatorProcess
from mirrorvr.stim.factory import DRIVERS
from tests.conftest import SHORT_PLAN, mirrorvr_cmd

#: docs/stimulators.md: the BiStim² is the one stimulator that times a pair itself
PAIRING_KIND = "magstim-bistim"
RMT = 50.0  # SHORT_PLAN's threshold, % MSO


def _plan(
    kind: str = PAIRING_KIND, interval_ms: float = 10, power_b_pct_rmt: float | None = 110
) -> str:
    """SHORT_PLAN as priming with 4 pairs 5 s apart (power A 90 % RMT = 45 % MSO)."""
    p = SHORT_PLAN.replace('kind = "ttl-box", pulse_width_ms = 1.0', f'kind = "{kind}"')
    b = f"\nintensity_b_pct_rmt = {power_b_pct_rmt}" if power_b_pct_rmt is not None else ""
    p = p.replace('mode = "concurrent"', 'mode = "priming"' + b)
    return p.replace(
        "pulse_repetition_interval_s = 0.05\n"
        "levels = [{ duration_s = 1.0, repetition_interval_s = 2.0 }, { duration_s = 12.0 }]",
        "pulse_repetition_interval_s = 5.0\n"
        f"paired_pulse_interval_ms = {interval_ms}\n"
        "levels = [{ duration_s = 5.0, repetition_interval_s = 5.0 }, { duration_s = 20.0 }]",
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "1000"}  # one problem per line, unwrapped
    return subprocess.run(mirrorvr_cmd(*args), capture_output=True, text=True, timeout=180, env=env)


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _nothing_delivered(folder: Path) -> None:
    for log in folder.glob("*.jsonl") if folder.exists() else []:
        assert not any(
            r.get("kind") == "pulse" or r.get("action") == "pulse" for r in _records(log)
        ), log


def test_sim_delivers_device_timed_pairs_on_a_bistim(tmp_path: Path) -> None:
    plan = tmp_path / "paired.toml"
    plan.write_text(_plan())
    res = _run("sim", str(plan), "--out", str(tmp_path / "s"))
    assert res.returncode == 0, res.stdout + res.stderr
    a_mso, b_mso = int(0.90 * RMT), int(1.10 * RMT)  # whole percent, rounded down
    # the emulator: one trigger per pair, unit A at it, unit B 10 ms later at power B
    recs = _records(tmp_path / "s" / f"emulator-{PAIRING_KIND}.jsonl")
    triggers = [r for r in recs if r.get("action") == "trigger"]
    pulses = [r for r in recs if r.get("action") == "pulse"]
    assert len(triggers) == 4 and len(pulses) == 8
    assert len([r for r in recs if r.get("rx") == "454872"]) == 4  # EHr: four fire frames
    for trig, a, b in zip(triggers, pulses[0::2], pulses[1::2], strict=True):
        assert (a["unit"], a["intensity"], a["t"]) == ("A", a_mso, trig["t"])
        assert (b["unit"], b["intensity"]) == ("B", b_mso)
        assert b["t"] - trig["t"] == pytest.approx(0.010, abs=1e-9)
    # set before arming: interval 10 ms (C010+) and power B (A055$), each read back with J
    order = [r.get("action") for r in recs]
    assert order.index("interval 10") < order.index(f"power B {b_mso}") < order.index("armed")
    # the session: both pulses of each pair logged at their true times, counted as two
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["state"] == "completed" and summary["pulses_delivered"] == 8
    events = _records(tmp_path / "s" / "events.jsonl")
    kinds = [e["kind"] for e in events]
    paired_set = next(e for e in events if e.get("what") == "paired_set")
    assert (paired_set["device_interval_ms"], paired_set["device_power_b_pct_mso"]) == (10, b_mso)
    armed = next(i for i, e in enumerate(events) if e.get("what") == "armed")
    assert events.index(paired_set) < armed
    logged = [e for e in events if e["kind"] == "pulse"]
    assert [e.get("unit") for e in logged] == ["A", "B"] * 4
    for a, b in zip(logged[0::2], logged[1::2], strict=True):
        assert b["t"] - a["t"] == pytest.approx(0.010, abs=1e-9)
        assert (a["intensity_pct_mso"], b["intensity_pct_mso"]) == pytest.approx(
            (0.9 * RMT, 1.1 * RMT)
        )
    intents = [e for e in events if e["kind"] == "train_intent"]
    assert {(e["timing"], e["n_pulses"]) for e in intents} == {("paired", 2)}
    assert "stim_refused" not in kinds


@pytest.mark.parametrize("kind", sorted(set(DRIVERS) - {PAIRING_KIND}))
def test_paired_plans_are_refused_on_every_other_kind(tmp_path: Path, kind: str) -> None:
    plan = tmp_path / "paired.toml"
    plan.write_text(_plan(kind))
    res = _run("validate", str(plan))
    assert res.returncode == 2 and "stimulation.protocol: rule paired_pulse_device" in res.stderr
    assert "Traceback" not in res.stderr
    res = _run("sim", str(plan), "--out", str(tmp_path / "s"))
    assert res.returncode == 2 and "rule paired_pulse_device" in res.stderr
    _nothing_delivered(tmp_path / "s")


def test_a_bistim_plan_run_on_another_stimulator_is_refused(tmp_path: Path) -> None:
    # the plan names a BiStim², the session is pointed at a 200²: judged by the 200²
    plan = tmp_path / "paired.toml"
    plan.write_text(_plan())
    link = tmp_path / "stim.pty"
    with EmulatorProcess(
        "magstim-200", link, tmp_path / "emu.jsonl", extra_args=["--no-line-delay"]
    ):
        res = _run(
            "sim", str(plan), "--out", str(tmp_path / "s"), "--stimulator", f"magstim-200:{link}"
        )
    assert res.returncode == 2 and "rule paired_pulse_device" in res.stderr, res.stderr
    assert not any(r.get("action") in ("armed", "pulse") for r in _records(tmp_path / "emu.jsonl"))
    _nothing_delivered(tmp_path / "s")


@pytest.mark.parametrize(
    ("kw", "rule"),
    [
        ({"interval_ms": 150}, "paired_pulse_interval"),  # paired_limits.csv: ≤ 100 ms
        ({"interval_ms": 0.5}, "paired_pulse_interval"),  # ≥ 1 ms
        ({"power_b_pct_rmt": 130}, "paired_power_b"),  # profile: ≤ 120 % RMT
    ],
)
def test_pairs_outside_the_paired_limits_are_refused(
    tmp_path: Path, kw: dict[str, float], rule: str
) -> None:
    plan = tmp_path / "paired.toml"
    plan.write_text(_plan(**kw))  # type: ignore[arg-type]
    res = _run("validate", str(plan))
    assert res.returncode == 2 and f"rule {rule}" in res.stderr, res.stderr
    res = _run("sim", str(plan), "--out", str(tmp_path / "s"))
    assert res.returncode == 2
    _nothing_delivered(tmp_path / "s")


def test_a_bistim_that_does_not_confirm_its_pair_is_refused_before_arming(tmp_path: Path) -> None:
    plan = tmp_path / "paired.toml"
    plan.write_text(_plan(interval_ms=20))
    link, log = tmp_path / "stim.pty", tmp_path / "emu.jsonl"
    extra = ["--timing", "fast", "--no-line-delay", "--stale-interval"]
    with EmulatorProcess(PAIRING_KIND, link, log, extra_args=extra):
        res = _run(
            "sim", str(plan), "--out", str(tmp_path / "s"), "--stimulator", f"{PAIRING_KIND}:{link}"
        )
    assert res.returncode == 2
    assert "interval set to 20 but the BiStim² reports 10" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    recs = _records(log)
    assert any(r.get("action") == "interval 20 acknowledged, not applied" for r in recs)
    assert not any(r.get("action") in ("armed", "pulse") for r in recs)
    _nothing_delivered(tmp_path / "s")
    # the session's log ends (it is not left looking like a crash to resume)
    end = _records(tmp_path / "s" / "events.jsonl")[-1]
    assert end["kind"] == "session_end" and end["state"] == "aborted"
    assert end["reason"].startswith("could not start:") and "reports 10" in end["reason"]


def test_a_power_b_without_pairs_is_a_plan_error(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(
        SHORT_PLAN.replace('mode = "concurrent"', 'mode = "concurrent"\nintensity_b_pct_rmt = 100')
    )
    res = _run("validate", str(plan))
    assert (
        res.returncode == 2 and "intensity_b_pct_rmt (power B) applies only to paired" in res.stderr
    )


def test_safety_lists_the_paired_limits_a_paired_plan_runs_under(tmp_path: Path) -> None:
    plan = tmp_path / "paired.toml"
    plan.write_text(_plan())
    res = _run("safety", str(plan))
    assert res.returncode == 0, res.stderr
    for row in ("paired pulse interval", "paired pulse repetition", "power B (second pulse)"):
        assert row in res.stdout
    assert "1–100 ms" in res.stdout and "≥ 4 s" in res.stdout and "plan: 110 % MT" in res.stdout


def test_one_pair_per_train_has_no_rate_for_the_device_limit(tmp_path: Path) -> None:
    # a pair every 5 s whose protocol says pulse_repetition_interval_s = 1 (one pair per train
    # never uses it): the BiStim²'s 0.25-Hz trigger limit must not read it as a 1-Hz train
    import datetime as dt

    from mirrorvr.config.loader import load_plan
    from mirrorvr.session.timeline import compile_timeline
    from mirrorvr.stim import governor

    plan = tmp_path / "paired.toml"
    plan.write_text(
        _plan().replace("pulse_repetition_interval_s = 5.0", "pulse_repetition_interval_s = 1.0")
        .replace("levels = [{ duration_s = 5.0,", "levels = [{ duration_s = 1.0,")
    )  # fmt: skip
    p = load_plan(plan)
    tl = compile_timeline(p)
    device = governor.DeviceLimits(max_frequency_hz=0.25, source="BiStim² capabilities")
    pair = governor.PairedDevice(10.0, 55.0)
    day = dt.date(2026, 1, 10)
    assert governor.check_plan(p, tl, today=day, device=device, paired_device=pair) == []
    # a step of pairs 2 s apart is a 0.5-Hz trigger train: refused (paired limits and device)
    plan.write_text(
        _plan().replace("pulse_repetition_interval_s = 5.0", "pulse_repetition_interval_s = 2.0")
        .replace("levels = [{ duration_s = 5.0, repetition_interval_s = 5.0 }",
                 "levels = [{ duration_s = 4.0, repetition_interval_s = 10.0 }")
    )  # fmt: skip
    q = load_plan(plan)
    problems = " ".join(
        str(x)
        for x in governor.check_plan(
            q, compile_timeline(q), today=day, device=device, paired_device=pair
        )
    )
    assert "paired_pulse_repetition" in problems

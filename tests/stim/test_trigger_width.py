"""A trigger box's pulse width must leave the line idle between pulses (rule trigger_width).

Oracle from docs/safety.md: the width is at most half the shortest gap between planned pulses.
The default plan is 10 Hz (pulses 100 ms apart), so 50 ms passes and anything wider is refused.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import mirrorvr_cmd

DEFAULT = Path(__file__).resolve().parents[2] / "configs" / "malavera-mirror.toml"
LINE = 'stimulator = { kind = "ttl-box", trigger_code = 1, pulse_width_ms = 1.0 }'


def _plan(tmp_path: Path, width_ms: float) -> Path:
    text = DEFAULT.read_text(encoding="utf-8")
    assert LINE in text, "the default plan's stimulator line changed: update this test"
    plan = tmp_path / f"width-{width_ms:g}.toml"
    plan.write_text(text.replace("pulse_width_ms = 1.0", f"pulse_width_ms = {width_ms}"))
    return plan


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "1000"}
    return subprocess.run(mirrorvr_cmd(*args), capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    ("width_ms", "refused"), [(1.0, False), (50.0, False), (50.5, True), (99.0, True)]
)
def test_validate_judges_the_trigger_width_against_the_shortest_gap(
    tmp_path: Path, width_ms: float, refused: bool
) -> None:
    plan = _plan(tmp_path, width_ms)
    res = _run("validate", str(plan))
    text = res.stdout + res.stderr
    assert "Traceback" not in text
    if refused:
        assert res.returncode == 2, text
        assert f"{plan.name}:devices.stimulator.pulse_width_ms: rule trigger_width:" in text
        assert "at most 50" in text
    else:
        assert res.returncode == 0, text


def test_sim_gives_no_pulse_with_a_too_wide_trigger(tmp_path: Path) -> None:
    out = tmp_path / "session"
    res = _run("sim", str(_plan(tmp_path, 80.0)), "--out", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "rule trigger_width" in " ".join(res.stderr.split())
    logs = list(out.glob("*.jsonl")) if out.exists() else []
    assert not any('"pulse"' in p.read_text(encoding="utf-8") for p in logs)

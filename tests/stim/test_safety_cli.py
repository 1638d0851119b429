"""`mirrorvr safety`: the limits a plan runs under, and the table with its status."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import mirrorvr_cmd


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mirrorvr_cmd(*args), capture_output=True, text=True, timeout=60, env=None)


def test_shows_overrides_tightening_and_the_unverified_table(
    tmp_path: Path, short_plan: Path
) -> None:
    text = short_plan.read_text().replace(
        'stimulator = { kind = "ttl-box", pulse_width_ms = 1.0 }',
        'stimulator = { kind = "ttl-box", pulse_width_ms = 1.0 }\n\n'
        "[safety]\nmax_intensity_pct_rmt = 110\nmax_pulses_per_day = 5000\n",
    )
    short_plan.write_text(text)
    res = _run("safety", str(short_plan))
    assert res.returncode == 0, res.stderr
    flat = " ".join(res.stdout.split())
    assert "tightened by the clinic" in flat  # 110 % RMT
    assert "OVERRIDE by test suite" in flat  # the 1-s inter-train interval
    assert "LOOSER than the baseline" in flat  # 5000 pulses a day, no override
    assert "max_pulses_per_day" in " ".join(res.stderr.split())
    assert "UNVERIFIED" in flat and "2.05" in flat

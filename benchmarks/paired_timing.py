"""Device-timed BiStim² pairs in a real-time session: how the logged pulse times compare with the
emulated unit's.

Conditions: `mirrorvr sim PLAN --realtime` (runner, governor, the stimulation process, BiStim²
driver, emulator process on a pty with real timing: 1 s to ready, 4 s recharge, 9600-baud
pacing of its replies) with a plan of ``--pairs`` paired pulses 5 s apart (10 ms, power A 45 %,
power B 55 % MSO). From the session's event log and the emulator's log it prints, in µs, min /
median / p95 / max:

* A emission: the logged unit-A pulse (the trigger's write-completed stamp) minus its planned
  time;
* trigger → unit: the emulator's arrival stamp of the fire frame (``EHr``) minus the logged
  unit-A time (a pty has no baud: on a real 9600-baud line add ≈ 3.1 ms of wire time, which the
  driver's ``trigger_wire_s`` adds to the stamp there). The emulator is an ordinary process
  polling its pty every 2 ms: under load its arrival stamp lags the real arrival, so this is an
  upper bound of the stamp's error, not the unit's latency;
* B logged − B given: the logged unit-B time (A's stamp + the interval the unit confirmed) minus
  the emulator's unit-B pulse (its fire arrival + its interval): the same offset as above,
  since both sides add the same confirmed interval;

with the 1-minute load average before and after (the machine is shared). Missed pairs (a trigger
later than the 5-ms tolerance takes both pulses) are counted.

    .venv/bin/python benchmarks/paired_timing.py [--pairs 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PLAN = """
[session]
name = "paired timing benchmark"
seed = 1

[patient]
id = "BENCH"
amputation_side = "left"

[[blocks]]
kind = "rest"
duration_s = 1.0

[stimulation]
mode = "priming"
intensity_pct_rmt = 90
intensity_b_pct_rmt = 110
gap_s = 1.0

[stimulation.motor_threshold]
rmt_pct_mso = 50
measured_on = "2026-01-10"

[stimulation.protocol]
pulse_repetition_interval_s = 5.0
paired_pulse_interval_ms = 10
levels = [{{ duration_s = 5.0, repetition_interval_s = 5.0 }}, {{ duration_s = {total} }}]

[devices]
stimulator = {{ kind = "magstim-bistim" }}

[screening]
completed_on = "2026-01-10"
completed_by = "benchmarks/paired_timing.py"
"""


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _us(values: list[float]) -> str:
    if not values:
        return "no samples"
    v = sorted(x * 1e6 for x in values)
    p95 = v[min(len(v) - 1, round(0.95 * (len(v) - 1)))]
    return (
        f"min {v[0]:8.0f}  median {statistics.median(v):8.0f}  p95 {p95:8.0f}  max {v[-1]:8.0f}"
        f"  (n={len(v)})"
    )


def main() -> None:
    """Run one real-time paired session and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--keep", type=Path, default=None, help="keep the session folder here")
    a = ap.parse_args()
    work = Path(a.keep or tempfile.mkdtemp(prefix="paired-timing-"))
    work.mkdir(parents=True, exist_ok=True)
    plan = work / "paired.toml"
    plan.write_text(PLAN.format(total=5.0 * a.pairs))
    out = work / "session"
    load0 = os.getloadavg()[0]
    cmd = [sys.executable, "-m", "mirrorvr", "sim", str(plan), "--realtime", "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    load1 = os.getloadavg()[0]
    if res.returncode != 0:
        print(res.stdout, res.stderr, file=sys.stderr)
        raise SystemExit(f"the session failed (exit {res.returncode})")
    events = _records(out / "events.jsonl")
    emu = _records(out / "emulator-magstim-bistim.jsonl")
    pulses = [e for e in events if e["kind"] == "pulse"]
    a_pulses = [e for e in pulses if e.get("unit") == "A"]
    b_pulses = [e for e in pulses if e.get("unit") == "B"]
    missed = sum(e["kind"] == "pulse_missed" for e in events)
    fires = [float(r["t"]) for r in emu if r.get("rx") == "454872"]
    emu_b = [float(r["t"]) for r in emu if r.get("action") == "pulse" and r.get("unit") == "B"]
    if len(fires) != len(a_pulses) or len(emu_b) != len(b_pulses):
        raise SystemExit(
            f"log and emulator disagree: {len(a_pulses)} A pulses logged, {len(fires)} fires "
            f"received; {len(b_pulses)} B pulses logged, {len(emu_b)} given"
        )
    print(f"BiStim² device-timed pairs, real time, {a.pairs} pairs planned, {missed} pulses missed")
    print(f"load average (1 min): {load0:.2f} before, {load1:.2f} after; {os.cpu_count()} cores")
    print(
        "A emission (logged − planned), µs:     " + _us([e["t"] - e["planned"] for e in a_pulses])
    )
    print(
        "trigger → unit (fire arrival − A), µs: "
        + _us([f - e["t"] for f, e in zip(fires, a_pulses, strict=True)])
    )
    print(
        "B logged − B given, µs:               "
        + _us([e["t"] - b for e, b in zip(b_pulses, emu_b, strict=True)])
    )
    print(f"session folder: {out}")


if __name__ == "__main__":
    main()

"""How long a simulated trial takes: the light per-session path vs whole simulated sessions.

Runs ``simulate_trial`` on the bundled two-arm trial with ``--patients`` patients (light path:
plan fitted, governor plan check with the day's pulses, pulses counted from the compiled
timeline, store records), then the same trial with its first ``--full`` sessions run as whole
simulated sessions (runner, governor, executor, emulated stimulator, event log) to get the cost
of one whole session. Prints wall and CPU seconds and the load average before and after.

    .venv/bin/python benchmarks/trial_sim.py [--patients 40] [--full 6]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from mirrorvr.run.trial_sim import simulate_trial

ROOT = Path(__file__).resolve().parents[1]
TRIAL = ROOT / "configs/trials/malavera-sham.toml"


def _timed(patients: int, full: int, out: Path) -> tuple[float, float, int, int]:
    w, c = time.perf_counter(), time.process_time()
    r = simulate_trial(TRIAL, patients, out, full_sessions=full)
    return time.perf_counter() - w, time.process_time() - c, r.sessions, r.full_sessions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=40)
    ap.add_argument("--full", type=int, default=6)
    a = ap.parse_args()
    print(f"cores {os.cpu_count()}, load before {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu, n, _ = _timed(a.patients, 0, Path(tmp) / "light")
        print(
            f"light path: {a.patients} patients, {n} sessions: {wall:.1f} s wall, {cpu:.1f} s "
            f"CPU ({1000 * cpu / n:.1f} ms CPU a session, whole trial incl. tables and report)"
        )
        few = 2
        w0, _, _, _ = _timed(few, 0, Path(tmp) / "few-light")
        w1, _, n1, f1 = _timed(few, a.full, Path(tmp) / "few-full")
        # child processes (emulator, stimulation process) are not in process_time: wall counts
        per = (w1 - w0) / max(1, f1)
        print(
            f"whole sessions: {f1} of {n1} run in full add {w1 - w0:.1f} s wall "
            f"({per:.1f} s a session); {a.patients}-patient trial in full ≈ {n * per / 60:.0f} min"
        )
    print(f"load after {os.getloadavg()}")


if __name__ == "__main__":
    main()

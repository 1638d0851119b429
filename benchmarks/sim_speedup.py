"""Non-real-time speed-up of `mirrorvr sim --fast` on the default plan.

Runs the bundled default plan N times on the simulated clock (emulated TTL box on a pty,
simulated patient) and prints session time / wall time: median and range; and session time /
CPU time (this process + the emulator's), which a loaded machine does not change much; and the
load average.

    .venv/bin/python benchmarks/sim_speedup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from mirrorvr.config.loader import load_plan
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.timeline import compile_timeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--plan", default=None)
    args = ap.parse_args()
    plan = load_plan(args.plan)
    session_s = compile_timeline(plan).duration
    walls, cpus = [], []
    load0 = os.getloadavg()[0]

    def cpu() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            t0, c0 = time.perf_counter(), cpu()
            result, summary = run_session(plan, LaunchOptions(out=Path(tmp) / f"s{i}"))
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu() - c0)
            assert result.state == "completed", result.reason
    speedups = sorted(session_s / w for w in walls)
    print(
        f"plan: {plan.session.name}: {session_s / 60:.1f} min of session time, "
        f"{summary['pulses_delivered']} pulses"
    )
    print(
        f"wall time per run: median {statistics.median(walls):.2f} s "
        f"(min {min(walls):.2f}, max {max(walls):.2f}) over {args.runs} runs"
    )
    print(
        f"speed-up: median {statistics.median(speedups):.0f}x "
        f"(min {speedups[0]:.0f}x, max {speedups[-1]:.0f}x)"
    )
    print(
        f"CPU per run (session + emulator): median {statistics.median(cpus):.2f} s; "
        f"session time / CPU: {session_s / statistics.median(cpus):.0f}x"
    )
    print(f"load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()

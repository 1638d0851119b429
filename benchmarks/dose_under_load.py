"""Dose under load: real-time sessions with the offscreen display and CPU burners lose no pulse.

Runs a short real-time session (a pre rating, a mirror block of 10 repetitions with a 20 Hz
train in each rest, a post rating: 200 pulses) N times with ``--display offscreen`` (the display
process, panda3d on llvmpipe) while two CPU-burning processes run, against the emulated TTL box
on a pty. For each run it prints what was planned and what happened:

* delivered: pulses logged, and pulses the emulated box received (must be equal);
* missed / refused / skipped: pulses not delivered with a logged reason;
* silent: planned pulses neither delivered nor accounted for by a logged reason (goal: 0);
* shifts / pauses: how often the timeline moved later for a stall (and by how much) or paused;
* the load average during the run.

    .venv/bin/python benchmarks/dose_under_load.py [--runs 5] [--burners 2] [--display offscreen]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mirrorvr.config.loader import load_plan
from mirrorvr.run.display import DisplayChoice, presenter_factory_for
from mirrorvr.run.session import LaunchOptions, run_session
from mirrorvr.session.eventlog import read_events
from mirrorvr.session.timeline import compile_timeline

PLAN = """
[session]
name = "dose under load"
seed = 3

[patient]
id = "BENCH"
amputation_side = "left"

[[blocks]]
kind = "rating"
timepoint = "pre"
duration_s = 0.5
timeout_s = 20

[[blocks]]
kind = "mirror"
movements = ["fist", "pronation"]
repetitions = 10
cue_s = 0.2
movement_s = 0.4
rest_s = 1.4
randomise = true

[[blocks]]
kind = "rating"
timepoint = "post"
duration_s = 0.5
timeout_s = 20

[stimulation]
mode = "concurrent"
intensity_pct_rmt = 90
rest_lead_s = 0.1

[stimulation.motor_threshold]
rmt_pct_mso = 50
measured_on = "2026-01-10"

[stimulation.protocol]
pulse_repetition_interval_s = 0.05
levels = [{ duration_s = 1.0, repetition_interval_s = 2.0 }, { duration_s = 20.0 }]

[devices]
stimulator = { kind = "ttl-box", pulse_width_ms = 1.0 }

[screening]
completed_on = "2026-01-10"
completed_by = "benchmark"

[[safety.overrides]]
rule = "min_intertrain_interval_s"
value = 1.0
reason = "benchmark against an emulated trigger box: nobody is stimulated"
approved_by = "benchmarks/dose_under_load.py"
approved_on = "2026-01-10"
"""


def one_run(folder: Path, display: str) -> dict[str, Any]:
    """One real-time session; its accounting from the event log and the emulator's log."""
    plan_path = folder / "plan.toml"
    plan_path.write_text(PLAN, encoding="utf-8")
    plan = load_plan(plan_path)
    planned = compile_timeline(plan).total_pulses
    load0 = os.getloadavg()[0]
    opts = LaunchOptions(out=folder / "s", realtime=True, simulated=True, lsl=False, xdf=False)
    opts.presenter_factory = presenter_factory_for(
        plan, DisplayChoice(display, None, "640x360"), True
    )
    t0 = time.monotonic()
    result, _summary = run_session(plan, opts)
    wall = time.monotonic() - t0
    events = read_events(folder / "s" / "events.jsonl").events
    delivered = sum(e.kind == "pulse" for e in events)
    missed = sum(e.kind == "pulse_missed" for e in events)
    by_step = {(e.get("step"), e.get("train")): e for e in events if e.kind == "train_intent"}
    refused = skipped = 0
    steps = {s.index: s for s in compile_timeline(plan).steps}
    for e in events:
        if e.kind in ("stim_refused", "stim_skipped") and e.get("step") in steps:
            n = steps[e["step"]].n_pulses
            if e.kind == "stim_refused":
                refused += n
            else:
                skipped += n
    emu = folder / "s" / "emulator-ttl-box.jsonl"
    received = sum(
        json.loads(x).get("action") == "pulse" for x in emu.read_text().splitlines() if x
    )
    shifts = [e for e in events if e.kind == "timeline_shift"]
    pauses = [e for e in events if e.kind == "state" and e.get("to") == "paused"]
    return {
        "state": str(result.state),
        "planned": planned,
        "delivered": delivered,
        "received": received,
        "missed": missed,
        "refused": refused,
        "skipped": skipped,
        "silent": planned - delivered - missed - refused - skipped,
        "intents": len(by_step),
        "shifts": len(shifts),
        "shift_s": round(sum(float(e["late_s"]) for e in shifts), 3),
        "pauses": len(pauses),
        "wall_s": round(wall, 1),
        "load": f"{load0:.1f}→{os.getloadavg()[0]:.1f}",
    }


def main() -> None:
    """Run the sessions under load and print each run's accounting and the totals."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--display", default="offscreen")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burners)
    ]
    runs = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                folder = Path(tmp) / f"run{i}"
                folder.mkdir()
                r = one_run(folder, args.display)
                runs.append(r)
                print(json.dumps(r), flush=True)
    finally:
        for b in burners:
            b.terminate()
            b.wait()
    silent = sum(r["silent"] for r in runs)
    lost = sum(r["planned"] - r["delivered"] for r in runs)
    print(
        f"{len(runs)} runs, {args.burners} burners, display {args.display}: "
        f"{sum(r['delivered'] for r in runs)}/{sum(r['planned'] for r in runs)} pulses delivered, "
        f"{lost} not delivered ({silent} silently), "
        f"{sum(r['shifts'] for r in runs)} timeline shifts, {sum(r['pauses'] for r in runs)} pauses"
    )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()

"""Analysis speed and memory on a 60-minute session, against a bare ``pyxdf.load_xdf``, side by
side in one run (goals: analysis ≤ 0.5× pyxdf's time, peak memory ≤ 1.2× the file size).

Builds one XDF like a real 60-minute session would leave: the default plan stretched to 60 min
of mirror therapy (1200 pulses, run on the simulated clock), its event markers, tracked and
mirrored hand poses at 90 Hz (26 joints × 7 channels each, mirrorvr's pose layout) and one EMG
channel at 2 kHz with a MEP after every pulse. Then, each in a fresh child process (so peak
memory is that step's own):

* ``pyxdf``: ``pyxdf.load_xdf(path)`` — the floor any XDF analysis pays;
* ``analysis``: ``load_recording`` + timing QA + outcomes (with MEPs) + figures + the written
  ``report.html`` / ``summary.json`` (what ``mirrorvr analyze`` does).

The big file is generated here, in a temporary folder (never in the repository). Runs
alternate pyxdf / analysis so both see the same machine load. Prints wall and CPU times
(median of ``--runs``; CPU time is the steadier figure on a loaded machine), their ratios,
peak RSS of each child, and peak RSS above the child's baseline after imports, against the
file size, and the load average before and after.

    .venv/bin/python benchmarks/analysis_speed.py [--runs 3] [--minutes 60] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def build(folder: Path, minutes: float) -> Path:
    """A session folder with a ``recording.xdf`` of ``minutes`` of poses, EMG and markers."""
    from mirrorvr.config.loader import load_plan
    from mirrorvr.run.session import LaunchOptions, run_session
    from mirrorvr.session.eventlog import read_events
    from mirrorvr.streams.layout import MARKERS, pose_spec
    from mirrorvr.streams.xdf_writer import XdfWriter

    plan = load_plan(None)
    blocks = list(plan.blocks)
    mirror = blocks[1]
    # one repetition = 2 s cue + 10 s move + 8 s rest; 60 at least so all 20 trains fit
    reps = max(60, round(minutes * 60 / 20.0))
    blocks[1] = mirror.model_copy(update={"repetitions": reps})
    plan = plan.model_copy(update={"blocks": blocks})
    run_session(plan, LaunchOptions(out=folder))
    events = read_events(folder / "events.jsonl").events
    t0, t1 = events[0].t, events[-1].t
    rng = np.random.default_rng(0)
    tracked, mirrored = pose_spec("tracked", side="right"), pose_spec("mirrored", side="left")
    emg_hdr = (
        '<?xml version="1.0"?><info><name>EMG-amp</name><type>EMG</type>'
        "<channel_count>1</channel_count><channel_format>float32</channel_format>"
        "<nominal_srate>2000.000000000000000</nominal_srate><desc><channels><channel>"
        "<label>FDI</label><unit>uV</unit></channel></channels></desc></info>"
    )
    path = folder / "recording.xdf"
    pulses = np.array([e.t for e in events if e.kind == "pulse"])
    with XdfWriter(
        path,
        [
            MARKERS.header_xml("bench"),
            tracked.header_xml("bench"),
            mirrored.header_xml("bench"),
            emg_hdr,
        ],
        fsync_every_s=None,
    ) as w:
        w.write_samples(1, [e.t for e in events], [[e.to_json()] for e in events])
        step = 10.0  # write in 10-s chunks, as a recorder would
        for a in np.arange(t0, t1, step):
            ft = np.arange(a, min(a + step, t1), 1 / 90.0)
            base = rng.normal(0, 0.01, (len(ft), tracked.channel_count)).astype(np.float32)
            w.write_samples(2, ft, base)
            base[:, 0::7] *= -1
            w.write_samples(3, ft, base)
            et = np.arange(a, min(a + step, t1), 1 / 2000.0)
            sig = rng.normal(0, 2.0, len(et))
            for p in pulses[(pulses >= a) & (pulses < a + step)]:
                m = (et > p + 0.02) & (et < p + 0.035)
                sig[m] += 400 * np.sin(np.linspace(0, 2 * np.pi, int(m.sum())))
            w.write_samples(4, et, sig.astype(np.float32).reshape(-1, 1))
            for sid in (1, 2, 3, 4):
                w.write_clock_offset(sid, a, 0.0)
            w.write_boundary()
    return path


_CHILD = r"""
import json, resource, sys, time
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
import pyxdf
if mode == "analysis":
    from pathlib import Path
    from mirrorvr.analysis.loader import load_recording
    from mirrorvr.analysis.report import analyze_paths
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
c = time.process_time()
if mode == "pyxdf":
    streams, _ = pyxdf.load_xdf(path)
    n = sum(len(s["time_stamps"]) for s in streams)
else:
    s = analyze_paths([Path(path)], Path(out))
    n = s["sessions"][0]["counts"]["pulses"]
wall = time.perf_counter() - t
cpu = time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall": wall, "cpu": cpu, "peak_kb": peak, "base_kb": base, "n": n}))
"""


def child(mode: str, path: Path, out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--keep", type=Path, default=None, help="build the session here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "session"
        t = time.perf_counter()
        xdf = (
            folder / "recording.xdf"
            if (folder / "recording.xdf").exists()
            else build(folder, args.minutes)
        )
        size_mb = xdf.stat().st_size / 1e6
        print(f"file: {xdf} {size_mb:.0f} MB (built in {time.perf_counter() - t:.0f} s)")
        # analyse the XDF alone, so both steps read exactly the same bytes
        load_before = os.getloadavg()
        res: dict[str, list[dict[str, float]]] = {"pyxdf": [], "analysis": []}
        for _ in range(args.runs):
            for mode in ("pyxdf", "analysis"):
                res[mode].append(child(mode, xdf, Path(tmp) / "report"))
        for mode, rs in res.items():
            walls = [r["wall"] for r in rs]
            cpus = [r["cpu"] for r in rs]
            peak = max(r["peak_kb"] for r in rs) / 1024
            above = max(r["peak_kb"] - r["base_kb"] for r in rs) / 1024
            print(
                f"{mode:9s} wall median {statistics.median(walls):6.1f} s "
                f"(min {min(walls):.1f}, max {max(walls):.1f}); CPU median "
                f"{statistics.median(cpus):6.1f} s; peak RSS {peak:.0f} MB "
                f"({peak / size_mb:.2f}x file), above imports {above:.0f} MB ({above / size_mb:.2f}x file)"
            )
        ratio = statistics.median(r["wall"] for r in res["analysis"]) / statistics.median(
            r["wall"] for r in res["pyxdf"]
        )
        cpu_ratio = statistics.median(r["cpu"] for r in res["analysis"]) / statistics.median(
            r["cpu"] for r in res["pyxdf"]
        )
        peak = max(r["peak_kb"] for r in res["analysis"]) / 1024
        print(
            f"analysis / pyxdf: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x (goal <= 0.5x); "
            f"analysis peak RSS {peak / size_mb:.2f}x the file (goal <= 1.2x)"
        )
        la = os.getloadavg()
        print(
            f"load average (1/5/15 min): before {load_before[0]:.1f}/{load_before[1]:.1f}/"
            f"{load_before[2]:.1f}, after {la[0]:.1f}/{la[1]:.1f}/{la[2]:.1f}; "
            f"cores: {os.cpu_count()}"
        )


if __name__ == "__main__":
    main()

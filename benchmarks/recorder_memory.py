"""Recorder memory over a long recording through real LSL (time-compressed).

A producer process pushes ``--minutes`` of a 2 kHz x 8-channel float32 EMG stream plus a
marker per second, ``--speed`` times faster than real time; the recorder (this process)
records it to XDF. Prints the recorder process's resident memory every simulated 5 minutes,
then checks the file loads in pyxdf with every sample.

    .venv/bin/python benchmarks/recorder_memory.py [--minutes 30] [--speed 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

PRODUCER = textwrap.dedent(
    """
    import sys, time, numpy as np, pylsl
    name, minutes, speed = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    o = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", 8, 2000, "float32", name), 0, 60)
    m = pylsl.StreamOutlet(pylsl.StreamInfo(name + "-mk", "Markers", 1, 0, "string", name + "-mk"))
    o.wait_for_consumers(60); m.wait_for_consumers(60); time.sleep(1)
    data = np.random.default_rng(0).normal(size=(200, 8)).astype("f4")
    n, t0, wall0 = 0, pylsl.local_clock(), time.monotonic()
    total = int(minutes * 60 * 2000)
    while n < total:
        ts = t0 + (n + np.arange(200)) / 2000.0
        o.push_chunk(data, ts.tolist())
        if n % 2000 == 0:
            m.push_sample([f"second {n // 2000}"], float(ts[0]))
        n += 200
        ahead = (n / 2000.0) / speed - (time.monotonic() - wall0)
        if ahead > 0:
            time.sleep(ahead)
    print(n, flush=True)
    time.sleep(3)
    """
)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=20.0)
    args = ap.parse_args()
    from mirrorvr.streams.lslconfig import configure_lsl

    sid = f"bench-{uuid.uuid4().hex[:8]}"
    cfg = Path(tempfile.mkdtemp()) / "lsl.cfg"
    cfg.write_text(f"[multicast]\nResolveScope = machine\n[lab]\nSessionID = {sid}\n")
    os.environ["LSLAPICFG"] = str(cfg)
    configure_lsl()
    import pyxdf

    from mirrorvr.streams.recorder import Recorder

    name = f"bench-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rec.xdf"
        rec = Recorder(path, [f"starts-with(name,'{name}')"]).start()
        prod = subprocess.Popen(
            [sys.executable, "-c", PRODUCER, name, str(args.minutes), str(args.speed)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        print(f"{'simulated min':>14} {'RSS MiB':>8} {'samples':>10}")
        wall0 = time.monotonic()
        next_mark = 0.0
        while prod.poll() is None:
            got = rec.samples(name)
            sim_min = got / 2000 / 60
            if sim_min >= next_mark:
                print(f"{sim_min:14.1f} {rss_mib():8.1f} {got:10d}", flush=True)
                next_mark += 5
            time.sleep(0.2)
        sent = int(prod.stdout.read()) if prod.stdout else 0
        deadline = time.monotonic() + 30
        while rec.samples(name) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"{sent / 2000 / 60:14.1f} {rss_mib():8.1f} {rec.samples(name):10d}")
        rec.stop()
        wall = time.monotonic() - wall0
        streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
        emg = next(s for s in streams if s["info"]["name"] == [name])
        print(
            f"recorded {len(emg['time_stamps'])}/{sent} samples, "
            f"{path.stat().st_size / 2**20:.0f} MiB, in {wall:.0f} s wall"
        )


if __name__ == "__main__":
    main()

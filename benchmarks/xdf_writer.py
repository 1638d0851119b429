"""XDF writer throughput (numeric streams) and memory over a simulated 30-minute recording.

Part 1 writes numeric streams in chunks of several sizes to a temporary file and prints
samples per second (median of ``--repeats``). Part 2 writes 30 minutes of a typical session
(EMG 2 kHz x 8 float32, mirrored pose 90 Hz x 182 float32, frames 90 Hz x 5 double64,
markers) in 0.5 s chunks as LabRecorder pulls them, as fast as the disk takes it, and prints
the process's resident memory at each simulated 5 minutes.

    .venv/bin/python benchmarks/xdf_writer.py [--repeats 5] [--minutes 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from mirrorvr.streams.xdf_writer import XdfWriter


def header(name: str, fmt: str, n: int, srate: float) -> str:
    return (
        f'<?xml version="1.0"?><info><name>{name}</name><type>Bench</type>'
        f"<channel_count>{n}</channel_count><channel_format>{fmt}</channel_format>"
        f"<nominal_srate>{srate}</nominal_srate></info>"
    )


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def throughput(tmp: Path, fmt: str, channels: int, chunk: int, total: int, repeats: int) -> float:
    rates = []
    data = np.ones((chunk, channels), dtype={"float32": "f4", "double64": "f8", "int16": "i2"}[fmt])
    for r in range(repeats):
        path = tmp / f"t-{fmt}-{channels}-{chunk}-{r}.xdf"
        ts0 = np.arange(chunk) / 1000.0
        with XdfWriter(path, [header("b", fmt, channels, 1000.0)], fsync_every_s=None) as w:
            t = time.perf_counter()
            for k in range(total // chunk):
                w.write_samples(1, ts0 + k, data)
            rates.append(total / (time.perf_counter() - t))
        path.unlink()
    return statistics.median(rates)


def session_memory(tmp: Path, minutes: float) -> None:
    path = tmp / "session.xdf"
    emg = np.random.default_rng(0).normal(size=(1000, 8)).astype("f4")
    pose = np.zeros((45, 182), dtype="f4")
    frames = np.zeros((45, 5))
    with XdfWriter(
        path,
        [
            header("emg", "float32", 8, 2000.0),
            header("mirrorvr-pose-mirrored", "float32", 182, 0.0),
            header("mirrorvr-frames", "double64", 5, 90.0),
            header("mirrorvr-markers", "string", 1, 0.0),
        ],
    ) as w:
        t0 = time.perf_counter()
        print(f"{'simulated min':>14} {'RSS MiB':>8} {'file MiB':>9}")
        steps = int(minutes * 60 * 2)
        for k in range(steps):
            t = k * 0.5
            w.write_samples(1, t + np.arange(1000) / 2000.0, emg)
            w.write_samples(2, t + np.arange(45) / 90.0, pose)
            w.write_samples(3, t + np.arange(45) / 90.0, frames)
            w.write_samples(4, [t], [['{"kind":"cue","step":1}']])
            if k % 10 == 0:
                for sid in (1, 2, 3, 4):
                    w.write_clock_offset(sid, t, 0.0)
            if k % 20 == 0:
                w.write_boundary()
            if k % (5 * 120) == 0 or k == steps - 1:
                size = path.stat().st_size / 2**20
                print(f"{t / 60:14.1f} {rss_mib():8.1f} {size:9.1f}")
        wall = time.perf_counter() - t0
    print(f"wrote {minutes:.0f} simulated minutes in {wall:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--total", type=int, default=2_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"{'format':>9} {'ch':>4} {'chunk':>6} {'M samples/s':>12} {'MB/s':>7}")
        for fmt, ch in (("float32", 8), ("double64", 1), ("int16", 32), ("float32", 182)):
            for chunk in (32, 1024, 8192):
                total = args.total if ch < 100 else args.total // 10
                rate = throughput(tmp, fmt, ch, chunk, total, args.repeats)
                width = {"float32": 4, "double64": 8, "int16": 2}[fmt] * ch + 9
                print(f"{fmt:>9} {ch:>4} {chunk:>6} {rate / 1e6:12.2f} {rate * width / 1e6:7.0f}")
        session_memory(tmp, args.minutes)


if __name__ == "__main__":
    main()

"""The floor under "event → LSL outlet": a bare pylsl push right after a real-time deadline.

mirrorvr's stimulation process pushes each pulse to its ``mirrorvr-pulses`` outlet right after
the trigger's stamp (``benchmarks/pulse_timing.py`` reports that delay as "event → pulse
outlet"). This script is the reference for that figure: a minimal process at SCHED_FIFO 80
(where permitted) that sleeps until 2 ms before each deadline, spins to it and pushes one
5-channel sample to an outlet, timing the push alone — nothing of mirrorvr in the loop. Each
variant runs in a fresh process:

* ``consumer`` on/off: an inlet in another process pulls the stream (liblsl then really sends);
* ``cpu`` any/last: unbound, or bound (with liblsl's threads, started after the binding) to the
  highest-numbered allowed CPU, as the stimulation process binds itself.

It also times a *null window* (two clock reads right after the deadline): a long null window
means the CPU was taken away right then, which no code can go under.

    .venv/bin/python benchmarks/lsl_push_floor.py [--deadlines 400] [--period 0.05]

The outlets use a private liblsl session id, so nothing else on the machine sees them. Prints
p50 / p99 / max in µs and how many pushes took over 60 µs, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from mirrorvr.stim.priority import last_cpu

SENDER = textwrap.dedent(
    """
    import json, os, sys, time
    n, period, cpu, cfg, name = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    if cpu != "-":
        os.sched_setaffinity(0, {int(cpu)})
    import pylsl
    pylsl.set_config_content(open(cfg).read())
    info = pylsl.StreamInfo(name, "Markers", 5, 0, "double64", name)
    outlet = pylsl.StreamOutlet(info)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(80))
    except OSError as e:
        print("no SCHED_FIFO:", e, file=sys.stderr)
    try:  # the stimulation process's PM QoS request
        qos = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
        os.write(qos, (0).to_bytes(4, sys.byteorder))
    except OSError as e:
        print("no CPU latency request:", e, file=sys.stderr)
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    sys.stdin.readline()  # the consumer (if any) is connected
    mono = time.monotonic
    sample = [1.0, 2.0, 3.0, 4.0, 0.0]
    push, null = [], []
    t = mono() + 0.5
    for _ in range(n):
        t += period
        r = t - mono()
        if r > 0.002:
            time.sleep(r - 0.002)
        while mono() < t:
            pass
        a = mono()
        b = mono()
        outlet.push_sample(sample, b)
        c = mono()
        null.append(b - a)
        push.append(c - b)
    print(json.dumps({"push": push, "null": null}))
    """
)

CONSUMER = textwrap.dedent(
    """
    import sys, pylsl
    pylsl.set_config_content(open(sys.argv[1]).read())
    info = pylsl.resolve_byprop("name", sys.argv[2], timeout=10)[0]
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(timeout=10)
    sys.stdout.write("connected\\n")
    sys.stdout.flush()
    while True:
        inlet.pull_chunk(timeout=0.5)
    """
)


def pct(xs: list[float], q: float) -> float:
    """The q-quantile of ``xs`` (nearest rank)."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def variant(consumer: bool, cpu: str, n: int, period: float, cfg: Path) -> dict[str, object]:
    """One sender process (and, with ``consumer``, one inlet process); its timings in s."""
    name = f"pushfloor-{uuid.uuid4().hex[:8]}"
    # the CPU a session's stimulation process binds itself to (mirrorvr.stim.priority.pin_cpu)
    chosen = last_cpu() if cpu == "last" else None
    bind = "-" if chosen is None else str(chosen)
    sender = subprocess.Popen(
        [sys.executable, "-c", SENDER, str(n), str(period), bind, str(cfg), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sender.stdin is not None and sender.stdout is not None
    sender.stdout.readline()
    inlet = None
    if consumer:
        inlet = subprocess.Popen(
            [sys.executable, "-c", CONSUMER, str(cfg), name], stdout=subprocess.PIPE, text=True
        )
        assert inlet.stdout is not None
        inlet.stdout.readline()
        time.sleep(0.5)
    sender.stdin.write("go\n")
    sender.stdin.flush()
    out = json.loads(sender.stdout.readline())
    sender.wait()
    if inlet is not None:
        inlet.kill()
        inlet.wait()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--deadlines", type=int, default=400)
    ap.add_argument("--period", type=float, default=0.05, help="s between deadlines (20 Hz)")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; {args.deadlines} deadlines every {args.period * 1e3:g} ms")
    print("                               p50      p99      max  >60µs  [µs]      load")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "lsl_api.cfg"
        # a session id of its own: these outlets stay invisible to every other LSL user here
        cfg.write_text(f"[lab]\nSessionID = pushfloor-{uuid.uuid4().hex}\n[log]\nlevel = -3\n")
        for consumer in (False, True):
            for cpu in ("any", "last"):
                r = variant(consumer, cpu, args.deadlines, args.period, cfg)
                load = "{:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())
                label = f"{'consumer' if consumer else 'no consumer'}, CPU {cpu}"
                for what in ("push", "null"):
                    us = [x * 1e6 for x in r[what]]  # type: ignore[attr-defined]
                    print(
                        f"  {what:4} {label:22} {pct(us, 0.5):7.1f}  {pct(us, 0.99):7.1f}  "
                        f"{max(us):7.1f}  {sum(u > 60 for u in us):5d}      {load}"
                    )


if __name__ == "__main__":
    main()

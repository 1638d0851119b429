"""Marker latency from one node to another across network namespaces (a veth "cable").

Creates two network namespaces joined by a veth pair (needs root and iproute2), runs a
marker producer in one and a consumer in the other (liblsl KnownPeers across the link), and
prints push -> receipt latency: median, p95, p99, max. Both namespaces share the machine's
CLOCK_MONOTONIC, so receipt ``local_clock()`` minus the push stamp is the true latency; the
liblsl clock offset measured across the link is printed as a check (should be ~0).

    sudo .venv/bin/python benchmarks/marker_latency_netns.py [--n 1000] [--rate 50]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import numpy as np

from mirrorvr.sim.netns import VethPair, lsl_config, netns_available

PRODUCER = textwrap.dedent(
    """
    import sys, time, pylsl
    n, rate = int(sys.argv[1]), float(sys.argv[2])
    o = pylsl.StreamOutlet(pylsl.StreamInfo("mirrorvr-markers", "Markers", 1, 0, "string",
                                            "bench-markers"), 1)
    if not o.wait_for_consumers(120):
        sys.exit("no consumer")
    time.sleep(1.0)
    for i in range(n):
        o.push_sample([f'{{"seq":{i},"kind":"cue"}}'], pylsl.local_clock())
        time.sleep(1.0 / rate)
    time.sleep(2)
    """
)
CONSUMER = textwrap.dedent(
    """
    import sys, pylsl
    n = int(sys.argv[1])
    (info,) = pylsl.resolve_bypred("source_id='bench-markers'", 1, 120)
    inlet = pylsl.StreamInlet(info, recover=False)
    inlet.open_stream(60)
    offset = inlet.time_correction(10)
    lat = []
    while len(lat) < n:
        s, t = inlet.pull_sample(timeout=30)
        if s is None:
            break
        lat.append(pylsl.local_clock() - t)
    print("offset", offset)
    print(" ".join(f"{x:.7f}" for x in lat))
    """
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0)
    args = ap.parse_args()
    reason = netns_available()
    if reason:
        sys.exit(f"cannot run: {reason}")
    sid = f"bench-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp())
    with VethPair() as pair:
        cfg_a, cfg_b = tmp / "a.cfg", tmp / "b.cfg"
        cfg_a.write_text(lsl_config(sid, [pair.b.addr]))
        cfg_b.write_text(lsl_config(sid, [pair.a.addr]))
        env = {"PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin"}
        prod = subprocess.Popen(
            pair.a.cmd([sys.executable, "-c", PRODUCER, str(args.n), str(args.rate)]),
            env={**env, "LSLAPICFG": str(cfg_a)}, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        cons = subprocess.run(
            pair.b.cmd([sys.executable, "-c", CONSUMER, str(args.n)]),
            env={**env, "LSLAPICFG": str(cfg_b)}, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        prod.wait(60)
    lines = cons.stdout.strip().splitlines()
    offset = float(lines[0].split()[1])
    lat = np.array([float(x) for x in lines[1].split()]) * 1000
    print(f"markers received: {len(lat)}/{args.n} at {args.rate:.0f} Hz across a veth pair")
    print(f"clock offset measured by liblsl across the link: {offset * 1e6:.1f} us")
    print(
        f"latency ms: median {np.median(lat):.3f}  p95 {np.percentile(lat, 95):.3f}  "
        f"p99 {np.percentile(lat, 99):.3f}  max {lat.max():.3f}"
    )


if __name__ == "__main__":
    main()

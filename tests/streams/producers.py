"""LSL producer processes for the stream tests (run as ``python -m tests.streams.producers``).

Kept in a separate process, as the tests' real-parts rule asks: the recorder and inlets under
test live in the pytest process, the outlets here.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pylsl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--fmt", default="float32")
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--srate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--wait-consumer", type=float, default=60.0)
    ap.add_argument("--linger", type=float, default=3.0)  # let the outlet flush under load
    ap.add_argument("--forever", action="store_true", help="push until killed")
    a = ap.parse_args()
    info = pylsl.StreamInfo(a.name, "EMG", a.channels, a.srate, a.fmt, f"{a.name}-src")
    info.set_channel_labels([f"ch{i}" for i in range(a.channels)])
    outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)
    if a.wait_consumer and not outlet.wait_for_consumers(a.wait_consumer):
        sys.exit("no consumer")
    print("ready", flush=True)
    t0 = pylsl.local_clock()
    n = 0
    chunk = max(1, int(a.srate / 50))
    while a.forever or n < a.seconds * a.srate:
        target = t0 + (n + chunk) / a.srate
        delay = target - pylsl.local_clock()
        if delay > 0:
            time.sleep(delay)
        idx = np.arange(n, n + chunk)
        if a.fmt == "string":
            data: list = [[f"s{i}"] * a.channels for i in idx]
        else:
            data = (np.repeat(idx[:, None], a.channels, axis=1) % 100).tolist()
        outlet.push_chunk(data, (t0 + idx / a.srate).tolist())
        n += chunk
    print(f"sent {n}", flush=True)
    time.sleep(a.linger)


if __name__ == "__main__":
    main()

"""Console figures: emergency-stop round trip, live-status delay, clinic-store write latency.

Starts a real console (uvicorn on localhost) over a fresh store, runs the 20-s demo session in
real time against the emulated TTL box, and presses the emergency stop over HTTP N times
(resuming in between). Prints:

* e-stop round trip: POST /api/sessions/current/estop until its answer. The answer is sent
  after the runner's ``estop`` returned, i.e. after the stimulator was disarmed and the trigger
  lines driven low, so this bounds the time from the request to a disarmed device;
* live-status delay: a pulse's log time until a websocket message counting it arrives;
* store write latency: one committed rating (WAL, synchronous=FULL).

    .venv/bin/python benchmarks/console_estop.py [--presses 20] [--writes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import websockets

from mirrorvr.clinic.console.auth import Access, generate_token
from mirrorvr.clinic.console.server import ConsoleServer, free_port
from mirrorvr.clinic.screening import ITEMS
from mirrorvr.clinic.store import ClinicStore
from mirrorvr.session.clock import local_clock


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _show(name: str, xs: list[float]) -> None:
    ms = [x * 1000 for x in xs]
    print(
        f"{name}: n={len(ms)} median {statistics.median(ms):.2f} ms, "
        f"p95 {_pct(ms, 0.95):.2f} ms, max {max(ms):.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--writes", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ClinicStore(Path(tmp) / "c.sqlite3") as store:
        store.add_patient("BENCH", "left")
        writes = []
        for i in range(args.writes):
            t0 = time.perf_counter()
            store.add_rating("BENCH", i % 11, timepoint="follow-up-1m")
            writes.append(time.perf_counter() - t0)
        store.record_screening("BENCH", {k: False for k in ITEMS})
        store.record_threshold("BENCH", 50, "5-10")
        token = generate_token()
        server = ConsoleServer(
            store, Access("127.0.0.1", token), port=free_port(), sessions_dir=Path(tmp) / "s"
        ).start()
        base = f"http://127.0.0.1:{server.port}"
        h = {"Authorization": f"Bearer {token}"}
        delays: list[float] = []
        stop_ws = threading.Event()

        async def watch() -> None:
            # pulse times come from the log; a message is "late" by (arrival - newest pulse)
            async with websockets.connect(
                f"ws://127.0.0.1:{server.port}/ws/live?token={token}"
            ) as ws:
                seen = 0
                while not stop_ws.is_set():
                    try:
                        msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    n = msg.get("pulses_delivered", 0)
                    if n > seen and msg.get("folder"):
                        arrived = local_clock()
                        lines = (Path(msg["folder"]) / "events.jsonl").read_text().splitlines()
                        pulses = [json.loads(x)["t"] for x in lines if '"kind":"pulse"' in x]
                        if len(pulses) >= n:
                            delays.append(arrived - pulses[n - 1])
                        seen = n

        watcher = threading.Thread(target=lambda: asyncio.run(watch()), daemon=True)
        watcher.start()
        rtts = []
        with httpx.Client(base_url=base, headers=h, timeout=30) as c:
            c.post("/api/sessions/start", json={"patient_id": "BENCH", "preset": "console-demo"})
            time.sleep(4.0)  # into the mirror block
            for _ in range(args.presses):
                t0 = time.perf_counter()
                r = c.post("/api/sessions/current/estop")
                rtts.append(time.perf_counter() - t0)
                assert r.status_code == 200 and r.json()["device"] == "disarmed", r.text
                time.sleep(0.3)
                c.post("/api/sessions/current/resume")
                time.sleep(0.5)
            c.post("/api/sessions/current/stop")
        stop_ws.set()
        watcher.join(5)
        server.stop()
    _show("e-stop round trip (request → answer after disarm)", rtts)
    if delays:
        _show("live status delay (pulse logged → websocket message)", delays)
    _show("store write (one committed rating)", writes)


if __name__ == "__main__":
    main()

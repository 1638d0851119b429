"""Phantom motor execution: decoding latency in real time, and offline accuracy vs classes.

**Latency** (real LSL, one process, like a session): the simulated residual limb is published
on LSL by a thread (8 channels at 1 kHz, pushed every 10 ms with per-sample stamps, as an
amplifier sends blocks); an :class:`~mirrorvr.streams.emg_feed.LslEmgFeed` follows it; every
5 ms (the PME presenter's poll) the new samples are windowed (200 ms every 50 ms), decoded
(MAV/WL/ZC/SSC → LDA → rest threshold → vote of 3), the phantom advanced, and the pose applied
to a panda3d :class:`~mirrorvr.render.limb.Limb` (its nodes updated; the next rendered frame
shows it, up to one frame later). Latency = time the pose was applied − LSL time stamp of the
window's last sample, so it includes the amplifier's block (≤ 10 ms), LSL transport, the
inlet's pull, the poll interval, decoding and the limb update. The window's own length (how
far back the window reaches) comes on top: a movement onset shows in decisions only once
enough of the window holds it, and the vote adds ~1 increment at a change of class.

**Accuracy vs classes** (offline, simulated): calibrate on 3 repetitions of each motion, decode
windows of 2 fresh repetitions (transitions excluded), for rest + 1 … 6 motions over seeds.

    .venv/bin/python benchmarks/pme_decoding.py [--seconds 20] [--seeds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

MOTIONS = ["hand_close", "hand_open", "wrist_flexion", "wrist_extension", "pronation", "supination"]


def _calibrate(
    limb: Any, motions: list[str], t: float, reps: int, settings: Any
) -> tuple[Any, list[str], float]:
    """Cue each motion ``reps`` times (3 s contraction, 3 s rest): labelled feature rows."""
    from mirrorvr.decoding.decoder import FeatureRows, WindowStream

    ws = WindowStream(limb.model.fs, limb.model.channels, settings)
    xs, acts, labels = [], [], []
    for _ in range(reps):
        for m in motions:
            limb.execute(m, t + 0.3, 2.7, 0.8)
            for label, t0, t1 in ((m, t + 0.8, t + 3.0), ("rest", t + 3.5, t + 6.0)):
                x, ts = limb.render(t1)
                rows = ws.push(x, ts)
                sel = rows.t >= t0
                xs.append(rows.x[sel])
                acts.append(rows.activity[sel])
                labels += [label] * int(sel.sum())
            t += 6.0
    return FeatureRows(np.zeros(len(labels)), np.concatenate(xs), np.concatenate(acts)), labels, t


def accuracy_vs_classes(seeds: int) -> None:
    """Offline accuracy for rest + k motions."""
    from mirrorvr.decoding.decoder import DecoderSettings, train_decoder
    from mirrorvr.sim.residual_emg import ResidualLimbEmg

    settings = DecoderSettings()
    print("offline accuracy on fresh contractions (simulated), rest + k motions:")
    print("  classes  accuracy mean  (min … max over seeds)")
    for k in range(1, len(MOTIONS) + 1):
        accs = []
        for seed in range(seeds):
            motions = MOTIONS[:k]
            limb = ResidualLimbEmg(seed=seed, patient_seed=seed)
            rows, labels, t = _calibrate(limb, motions, 0.0, 3, settings)
            trained = train_decoder(rows, labels, settings, ["rest", *motions])
            test, truth, _ = _calibrate(limb, motions, t, 2, settings)
            pred = trained.model.predict(test.x)
            accs.append(float(np.mean([p == y for p, y in zip(pred, truth, strict=True)])))
        print(f"  {k + 1:7d}  {statistics.mean(accs):13.3f}  ({min(accs):.3f} … {max(accs):.3f})")


def latency(seconds: float) -> None:
    """Real-time latency from a sample's LSL stamp to the decoded pose applied to the limb."""
    from panda3d.core import NodePath

    from mirrorvr.decoding.decoder import Decoder, DecoderSettings, train_decoder
    from mirrorvr.render.limb import Limb
    from mirrorvr.session.clock import local_clock
    from mirrorvr.sim.residual_emg import ResidualLimbEmg
    from mirrorvr.sim.residual_emg_stream import ResidualEmgPublisher
    from mirrorvr.streams.emg_feed import LslEmgFeed
    from mirrorvr.tracking.phantom import PhantomState, advance, phantom_params
    from mirrorvr.tracking.skeleton import hand_pose

    settings = DecoderSettings()
    # the same simulated patient (patterns) calibrated offline first
    cal = ResidualLimbEmg(seed=100, patient_seed=1)
    rows, labels, _ = _calibrate(cal, MOTIONS, 0.0, 3, settings)
    trained = train_decoder(rows, labels, settings, ["rest", *MOTIONS])
    name = f"pme-bench-{os.getpid()}"
    pub = ResidualEmgPublisher(name, seed=7, patient_seed=1, source_id=name).start()
    feed = LslEmgFeed(name, 8)
    feed.wait_connected(30.0)
    decoder = Decoder(trained, feed.fs, feed.channels)
    limb = Limb(NodePath("bench-root"), "left", skin=(0.8, 0.7, 0.6), name="phantom")
    state = PhantomState()
    # the patient moves through every motion, 1.5 s each with 1 s rests
    t0 = local_clock() + 0.5
    k = 0
    while k * 2.5 < seconds:
        pub.limb.execute(MOTIONS[k % len(MOTIONS)], t0 + k * 2.5, 1.5, 0.8)
        k += 1
    lat: list[float] = []
    compute: list[float] = []
    end = time.monotonic() + seconds
    feed.poll(0.0)  # start from now
    while time.monotonic() < end:
        x, ts = feed.poll(0.0)
        if len(ts):
            c0 = time.perf_counter()
            for d in decoder.push(x, ts):
                state = advance(state, d.motion, d.speed, settings.increment_s)
                limb.update(hand_pose("left", phantom_params(state), d.t))
                lat.append(local_clock() - d.t)
            compute.append(time.perf_counter() - c0)
        time.sleep(0.005)
    feed.close()
    pub.stop()
    a = np.array(lat) * 1000
    print(
        f"real-time latency, sample stamp → pose applied to the limb ({len(a)} windows, "
        f"{seconds:g} s; window {settings.window_s * 1000:.0f} ms every "
        f"{settings.increment_s * 1000:.0f} ms):"
    )
    print(
        f"  median {np.median(a):.1f} ms  p90 {np.percentile(a, 90):.1f} ms  "
        f"p99 {np.percentile(a, 99):.1f} ms  max {a.max():.1f} ms"
    )
    c = np.array(compute) * 1000
    print(
        f"  decode + apply per poll: median {np.median(c):.2f} ms, p99 {np.percentile(c, 99):.2f} ms"
    )


def main() -> None:
    """Parse options, measure, print."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} CPUs")
    latency(args.seconds)
    accuracy_vs_classes(args.seeds)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""Accuracy of motor-threshold estimation against the simulated patient (known thresholds).

Each run draws a true resting motor threshold uniformly from 35-75 % MSO, builds a simulated
patient (sigmoid recruitment, trial-to-trial threshold jitter of 7 %, 3 µV EMG noise, mains
hum, stimulus artefact, bursts of baseline muscle activity about 5 % of the time) and runs a
method to the end. Every pulse goes through the same steps as ``ThresholdProcedure`` on the
fast path - the body hears the pulse, EMG is synthesised around it at 2 kHz, the MEP is
measured (15-50 ms window, 50 µV criterion, 10 µV RMS relaxation gate) and accepted trials
feed the estimator; rejected ones repeat the intensity - without a stimulator or governor in
the loop (they do not change what the estimator sees). Prints a table like published
simulation studies: bias, spread (SD), median and 90th-percentile absolute error, pulses used.

    .venv/bin/python benchmarks/threshold_accuracy.py [--runs 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np

from mirrorvr.analysis.mep import MepSettings, measure_mep
from mirrorvr.sim.emg import BodyModel, SimulatedEmg
from mirrorvr.threshold.estimate import ThresholdEstimator
from mirrorvr.threshold.mlpest import MLPest
from mirrorvr.threshold.relative_frequency import RelativeFrequency

MEP = MepSettings()


def hunt(
    est: ThresholdEstimator, body: SimulatedEmg, rng: random.Random
) -> tuple[float | None, int]:
    """Run ``est`` on ``body`` to the end: (estimate % MSO, pulses used incl. rejected)."""
    t, pulses = 10.0, 0
    while (x := est.next_intensity()) is not None and pulses < 400:
        body.pulse_delivered(t, x)
        emg, ts = body.epoch(t, -0.06, 0.055)
        r = measure_mep(emg, ts, t, MEP)
        pulses += 1
        if r.accepted:
            est.record(x, r.positive)
        t += rng.uniform(4.0, 6.0)
    return est.result().mt_pct_mso, pulses


METHODS: dict[str, Callable[[float, random.Random], ThresholdEstimator]] = {
    # no prior knowledge: always start at 60 % MSO
    "ML-PEST, 20 trials, start 60 %": lambda mt, r: MLPest(start_pct_mso=60, max_trials=20),
    "ML-PEST, 10 trials, start 60 %": lambda mt, r: MLPest(start_pct_mso=60, max_trials=10),
    "ML-PEST, CI half-width ≤ 2.5 % (≥ 8, ≤ 40)": lambda mt, r: MLPest(
        start_pct_mso=60, max_trials=40, ci_half_width_pct=2.5, min_trials=8
    ),
    # clinical practice after a hotspot search: start a few % above threshold
    "5/10, start 1-10 % above MT": lambda mt, r: RelativeFrequency(
        start_pct_mso=round(mt + r.uniform(1, 10))
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--spread",
        type=float,
        nargs="+",
        default=[0.07, 0.15],
        help="body's trial-to-trial threshold SD as a fraction of MT (ML-PEST assumes 0.07)",
    )
    args = ap.parse_args()
    for spread in args.spread:
        print(f"\nbody spread {spread:.2f} x MT")
        table(args.runs, args.seed, spread)
    print("errors in % MSO (estimate - true); pulses include trials rejected for baseline EMG")


def table(runs: int, seed: int, spread: float) -> None:
    """One table of every method at one body spread."""
    print(
        f"{'method':<44} {'runs':>5} {'bias':>6} {'SD':>5} {'MAE':>5} {'P90':>5} "
        f"{'pulses med [IQR]':>17} {'fail':>4}"
    )
    for name, make in METHODS.items():
        rng = random.Random(seed)
        errors: list[float] = []
        pulses: list[int] = []
        failed = 0
        t0 = time.perf_counter()
        for i in range(runs):
            mt = rng.uniform(35.0, 75.0)
            model = BodyModel(true_threshold_pct_mso=mt, spread_frac=spread)
            body = SimulatedEmg(model, seed=seed * 100_003 + i)
            est, n = hunt(make(mt, rng), body, rng)
            pulses.append(n)
            if est is None:
                failed += 1
            else:
                errors.append(est - mt)
        wall = time.perf_counter() - t0
        ab = np.abs(errors)
        q1, med, q3 = np.percentile(pulses, [25, 50, 75])
        print(
            f"{name:<44} {runs:>5} {statistics.mean(errors):>+6.2f} "
            f"{statistics.stdev(errors):>5.2f} {np.median(ab):>5.2f} {np.percentile(ab, 90):>5.2f} "
            f"{med:>6.0f} [{q1:.0f}-{q3:.0f}]{'':>4} {failed:>4}   ({wall:.1f} s)"
        )


if __name__ == "__main__":
    main()

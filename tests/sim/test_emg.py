"""The simulated muscle: its configured threshold is the 50 % point; artefact, bursts, MEPs."""

from __future__ import annotations

import numpy as np
import pytest

from mirrorvr.analysis.mep import MepSettings, measure_meps
from mirrorvr.sim.emg import BodyModel, EmgGenerator, SimulatedEmg, synthesize_emg


def test_true_threshold_is_the_fifty_percent_point() -> None:
    model = BodyModel(true_threshold_pct_mso=50.0, activity_interval_s=0.0)
    for x, expected in ((50.0, 0.5), (50.0 + 3.5, 0.84), (50.0 - 7.0, 0.023)):
        pulses = [(i * 0.5, x) for i in range(400)]
        tr = synthesize_emg(pulses, model, seed=int(x * 10))
        res = measure_meps(tr.emg_uv, tr.timestamps, [p[0] for p in pulses])
        frac = np.mean([r.positive for r in res])
        assert model.p_positive(x) == pytest.approx(expected, abs=0.01)
        assert frac == pytest.approx(expected, abs=0.07)


def test_artefact_mep_and_noise_where_expected() -> None:
    model = BodyModel(activity_interval_s=0.0, noise_rms_uv=3.0, mains_uv=0.0)
    tr = synthesize_emg([(1.0, 90.0)], model, seed=1, t0=0.0, t1=2.0)
    x, ts = tr.emg_uv, tr.timestamps
    assert ts[1] - ts[0] == pytest.approx(1 / 2000)
    assert np.std(x[ts < 0.9]) == pytest.approx(3.0, rel=0.1)
    near = (ts >= 1.0) & (ts < 1.001)
    assert np.max(np.abs(x[near])) > 500  # the artefact at the pulse
    (truth,) = tr.truths
    assert truth.mep_uv > 2000  # 90 % MSO is far above a 48 % threshold
    win = (ts >= 1.0 + truth.latency_ms / 1000 - 0.001) & (ts < 1.045)
    assert np.ptp(x[win]) == pytest.approx(truth.mep_uv, rel=0.1)


def test_bursts_of_activity_are_gated_and_facilitated() -> None:
    model = BodyModel(activity_interval_s=3.0, activity_duration_s=(1.0, 1.0))
    gen = EmgGenerator(model, seed=5)
    times = np.arange(1.0, 300.0, 0.7)
    active = [gen.active_at(float(t)) for t in times]
    assert 0.15 < np.mean(active) < 0.35  # ~1 s in every ~4 s
    for t in times:
        gen.add_pulse(float(t), 30.0)
    x, ts = gen.render(301.0)
    res = measure_meps(x, ts, times, MepSettings())
    gated = 0
    for r, truth in zip(res, gen.truths, strict=True):
        # a burst already under way in the baseline window is seen and the trial rejected
        if truth.active and gen.active_at(truth.t - 0.05):
            assert not r.accepted and "baseline" in r.reason
            gated += 1
        # 30 % MSO: far below threshold; only pre-activation could make a positive
        if r.accepted and r.positive:
            assert gen.active_at(truth.t + 0.05)  # a burst began in the MEP window
    assert gated > 20


def test_fast_source_renders_only_epochs_and_moves_the_coil() -> None:
    body = SimulatedEmg(BodyModel(activity_interval_s=0.0), seed=2, site_offsets={"far": 30.0})
    body.pulse_delivered(100.0, 80.0)
    x, ts = body.epoch(100.0, -0.06, 0.06)
    assert ts[0] >= 99.94 - 1e-9 and ts[-1] <= 100.06 + 1e-9 and len(x) == len(ts)
    (near,) = measure_meps(x, ts, [100.0])
    body.move_coil("far")
    body.pulse_delivered(105.0, 80.0)
    x, ts = body.epoch(105.0, -0.06, 0.06)
    (far,) = measure_meps(x, ts, [105.0])
    assert near.pp_uv is not None and far.pp_uv is not None and near.pp_uv > 5 * far.pp_uv
    with pytest.raises(ValueError):
        BodyModel(true_threshold_pct_mso=0.0)

"""MEP measurement on synthetic traces whose amplitudes, baseline and artefacts are known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorvr.analysis.mep import MepSettings, measure_meps, summarize_meps
from mirrorvr.sim.emg import BodyModel, synthesize_emg

FS = 2000.0


def trace(
    pulses: list[float],
    *,
    pp: float | list[float] = 400.0,
    latency_ms: float = 22.0,
    noise: float = 2.0,
    offset: float = 0.0,
    seed: int = 0,
    artefact_uv: float = 0.0,
    artefact_tau_ms: float = 1.0,
    active: tuple[float, float] | None = None,
    active_rms: float = 40.0,
) -> tuple[np.ndarray, np.ndarray]:
    """EMG at 2 kHz from -1 s to last pulse + 1 s, with a square biphasic MEP of exactly ``pp``."""
    rng = np.random.default_rng(seed)
    ts = np.arange(-1.0, max(pulses) + 1.0, 1 / FS)
    x = rng.normal(0, noise, ts.size) + offset
    pps = pp if isinstance(pp, list) else [pp] * len(pulses)
    for t, a in zip(pulses, pps, strict=True):
        k = int(np.searchsorted(ts, t + latency_ms / 1000))
        x[k : k + 8] += a / 2  # 4 ms up, 4 ms down: peak-to-peak = a (plus noise)
        x[k + 8 : k + 16] -= a / 2
        if artefact_uv:
            k0 = int(np.searchsorted(ts, t))
            n = np.arange(200)
            x[k0 : k0 + 200] += artefact_uv * np.exp(-n / FS / (artefact_tau_ms / 1000))
    if active is not None:
        sel = (ts >= active[0]) & (ts < active[1])
        x[sel] += rng.normal(0, active_rms, int(sel.sum()))
    return x, ts


def test_known_amplitudes_latency_and_positivity() -> None:
    pulses = [0.0, 2.0, 4.0, 6.0]
    amps = [20.0, 45.0, 120.0, 1500.0]
    x, ts = trace(pulses, pp=amps, noise=0.5)
    res = measure_meps(x, ts, pulses)
    for r, a in zip(res, amps, strict=True):
        assert r.accepted, r.reason
        assert r.pp_uv == pytest.approx(a, abs=4.0)  # noise 0.5 µV RMS adds a few µV at most
        assert r.baseline_rms_uv == pytest.approx(0.5, rel=0.3)
    assert [r.positive for r in res] == [False, False, True, True]
    assert res[0].latency_ms is None
    for r in res[2:]:
        assert r.latency_ms == pytest.approx(22.0, abs=0.6)


def test_dc_offset_is_removed_and_window_is_configurable() -> None:
    x, ts = trace([0.0], pp=300.0, latency_ms=40.0, offset=2000.0)
    (r,) = measure_meps(x, ts, [0.0])
    assert r.accepted and r.pp_uv == pytest.approx(300, abs=15)
    # a window that ends before the MEP sees only noise
    (early,) = measure_meps(x, ts, [0.0], MepSettings(window_ms=(10.0, 30.0)))
    assert early.accepted and not early.positive and early.pp_uv is not None
    assert early.pp_uv < 30


def test_baseline_activity_rejects_the_trial() -> None:
    x, ts = trace([0.0, 2.0], pp=300.0, active=(-0.3, 0.1))
    a, b = measure_meps(x, ts, [0.0, 2.0])
    assert not a.accepted and "baseline" in a.reason and not a.positive
    assert a.baseline_rms_uv is not None and a.baseline_rms_uv > 10
    assert b.accepted and b.positive
    # the gate is configurable, and can be switched off
    (c,) = measure_meps(x, ts, [0.0], MepSettings(max_baseline_rms_uv=None))
    assert c.accepted


def test_short_artefact_is_blanked_long_tail_is_rejected() -> None:
    x, ts = trace([0.0], pp=30.0, artefact_uv=3000.0, artefact_tau_ms=0.8)
    (r,) = measure_meps(x, ts, [0.0])
    assert r.accepted and not r.positive  # the 3 mV artefact is not taken for an MEP
    x, ts = trace([0.0], pp=30.0, artefact_uv=3000.0, artefact_tau_ms=6.0)
    (r,) = measure_meps(x, ts, [0.0])
    assert not r.accepted and "artefact" in r.reason


def test_saturation_and_missing_data() -> None:
    x, ts = trace([0.0], pp=300.0)
    x[np.searchsorted(ts, 0.025)] = 5000.0
    (r,) = measure_meps(x, ts, [0.0], MepSettings(clip_uv=5000.0))
    assert not r.accepted and "saturated" in r.reason
    (r,) = measure_meps(x, ts, [10.0])  # no EMG there
    assert not r.accepted and r.pp_uv is None
    keep = (ts < 0.02) | (ts > 0.03)  # a 10 ms hole inside the window
    (r,) = measure_meps(x[keep], ts[keep], [0.0])
    assert not r.accepted and "gap" in r.reason


def test_summary_is_robust_to_one_huge_trial() -> None:
    pulses = [float(i) * 2 for i in range(7)]
    amps = [100.0, 110.0, 90.0, 105.0, 95.0, 100.0, 5000.0]
    x, ts = trace(pulses, pp=amps, noise=0.5)
    s = summarize_meps(measure_meps(x, ts, pulses))
    assert s.n == s.n_accepted == s.n_positive == 7
    assert s.median_pp_uv == pytest.approx(100, abs=5)
    assert s.geomean_pp_uv is not None and s.geomean_pp_uv < 200
    assert s.median_latency_ms == pytest.approx(22, abs=1)
    empty = summarize_meps([])
    assert empty.n == 0 and empty.median_pp_uv is None


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="window_ms"):
        MepSettings(window_ms=(50.0, 15.0))
    with pytest.raises(ValueError, match="baseline_ms"):
        MepSettings(baseline_ms=(-5.0, 10.0))
    with pytest.raises(ValueError, match="timestamps"):
        measure_meps([1.0, 2.0], [0.0], [0.0])


@settings(max_examples=25, deadline=None)
@given(amp=st.floats(60.0, 4000.0), lat=st.floats(16.0, 30.0), seed=st.integers(0, 10_000))
def test_amplitude_recovered_across_range(amp: float, lat: float, seed: int) -> None:
    x, ts = trace([0.0], pp=amp, latency_ms=lat, seed=seed, noise=1.0)
    (r,) = measure_meps(x, ts, [0.0])
    assert r.accepted and r.positive
    assert r.pp_uv == pytest.approx(amp, abs=8.0)
    assert r.latency_ms is not None and abs(r.latency_ms - lat) <= 1.0


def test_simulated_body_meps_match_ground_truth() -> None:
    """The measure recovers the simulated patient's MEPs (artefact, hum and noise included)."""
    model = BodyModel(activity_interval_s=0.0)
    pulses = [(float(i) * 3.0, 40.0 + i) for i in range(20)]
    tr = synthesize_emg(pulses, model, seed=3)
    res = measure_meps(tr.emg_uv, tr.timestamps, [p[0] for p in pulses])
    for r, truth in zip(res, tr.truths, strict=True):
        assert r.accepted, r.reason
        assert r.pp_uv is not None
        assert abs(r.pp_uv - truth.mep_uv) < 25 + 0.05 * truth.mep_uv
        if truth.mep_uv > 200:
            assert r.positive and r.latency_ms is not None
            assert abs(r.latency_ms - truth.latency_ms) < 2.0

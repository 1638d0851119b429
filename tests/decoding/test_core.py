"""The decoding chain's pure parts: windows, features, LDA, rest threshold, vote, evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mirrorvr.decoding.decoder import DecoderSettings, WindowStream
from mirrorvr.decoding.evaluate import cross_validate
from mirrorvr.decoding.features import feature_matrix, mav, ssc, wl, zc
from mirrorvr.decoding.lda import LdaModel, fit_lda
from mirrorvr.decoding.postprocess import MajorityVote, activity_levels
from mirrorvr.decoding.windows import sliding_windows, window_starts


@given(st.integers(0, 400), st.integers(1, 120), st.integers(1, 60))
def test_window_starts_cover_whole_windows_only(n: int, length: int, inc: int) -> None:
    starts = window_starts(n, length, inc)
    assert all(s + length <= n for s in starts)
    expected = 0 if n < length else (n - length) // inc + 1
    assert len(starts) == expected


def test_sliding_windows_are_the_samples() -> None:
    x = np.arange(20.0).reshape(10, 2)
    w = sliding_windows(x, 4, 3)
    assert w.shape == (3, 4, 2)
    np.testing.assert_array_equal(w[1], x[3:7])


@given(
    st.lists(st.integers(1, 90), min_size=1, max_size=12),
    st.integers(0, 2**31 - 1),
)
def test_window_stream_does_not_depend_on_chunking(chunks: list[int], seed: int) -> None:
    """Samples arriving in any chunks give the same windows as one block."""
    rng = np.random.default_rng(seed)
    n = sum(chunks)
    assume(n >= 50)
    x = rng.standard_normal((n, 3)) * 10
    ts = np.arange(n) / 250.0
    settings = DecoderSettings(window_s=0.2, increment_s=0.04)
    whole = WindowStream(250.0, 3, settings).push(x, ts)
    stream = WindowStream(250.0, 3, settings)
    parts, i = [], 0
    for c in chunks:
        parts.append(stream.push(x[i : i + c], ts[i : i + c]))
        i += c
    t = np.concatenate([p.t for p in parts])
    f = np.concatenate([p.x for p in parts])
    np.testing.assert_allclose(t, whole.t)
    np.testing.assert_allclose(f, whole.x)
    assert len(t) == len(window_starts(n, 50, 10))


@given(st.floats(0.1, 100.0), st.integers(0, 2**31 - 1))
def test_amplitude_features_scale_and_counts_do_not(k: float, seed: int) -> None:
    w = np.random.default_rng(seed).standard_normal((4, 60, 2)) * 20
    np.testing.assert_allclose(mav(k * w), k * mav(w), rtol=1e-9)
    np.testing.assert_allclose(wl(k * w), k * wl(w), rtol=1e-9)
    np.testing.assert_array_equal(zc(k * w, 0.0), zc(w, 0.0))
    np.testing.assert_array_equal(ssc(k * w, 0.0), ssc(w, 0.0))


def test_counting_features_ignore_changes_below_threshold() -> None:
    t = np.arange(200)
    tiny = (np.sin(t) * 0.5)[None, :, None]  # crosses zero often, by less than 2 µV
    big = (np.sin(t) * 50)[None, :, None]
    assert zc(tiny, 2.0)[0, 0] == 0 and ssc(tiny, 2.0)[0, 0] == 0
    assert zc(big, 2.0)[0, 0] > 0.2 and ssc(big, 2.0)[0, 0] > 0.2
    assert feature_matrix(big).shape == (1, 4)
    with pytest.raises(ValueError, match="unknown feature"):
        feature_matrix(big, ("MAV", "RMSX"))


@given(st.integers(2, 5), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_lda_separates_well_separated_classes(k: int, d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * 20
    assume(min(np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1 :]) > 8)
    names = [f"c{i}" for i in range(k)]
    x = np.concatenate([c + rng.standard_normal((30, d)) for c in centres])
    y = [n for n in names for _ in range(30)]
    model = fit_lda(x, y)
    assert model.predict(x) == y
    p = model.proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    again = LdaModel.from_dict(model.to_dict())
    assert again.predict(x) == y


def test_lda_refuses_a_class_without_windows() -> None:
    with pytest.raises(ValueError, match="no calibration windows"):
        fit_lda(np.zeros((3, 2)), ["a", "a", "b"], classes=["a", "b", "c"])


@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=30), st.integers(1, 7))
def test_majority_vote_picks_a_most_common_recent_decision(seq: list[str], n: int) -> None:
    vote = MajorityVote(n)
    for i, d in enumerate(seq):
        out = vote.push(d)
        recent = seq[max(0, i - n + 1) : i + 1]
        assert recent.count(out) == max(recent.count(c) for c in set(recent))
    if n == 1:
        assert out == seq[-1]


def test_majority_vote_ignores_one_stray_decision() -> None:
    vote = MajorityVote(3)
    outs = [vote.push(d) for d in ["rest", "rest", "hand_open", "rest", "rest"]]
    assert outs == ["rest"] * 5


def test_rest_threshold_sits_between_rest_and_the_weakest_class() -> None:
    rng = np.random.default_rng(0)
    act = np.concatenate([rng.normal(3, 0.2, 50), rng.normal(20, 2, 50), rng.normal(12, 2, 50)])
    labels = ["rest"] * 50 + ["a"] * 50 + ["b"] * 50
    lv = activity_levels(act, labels)
    assert 3.0 < lv.threshold < 12.0
    assert lv.speed("rest", 30.0) == 0.0
    assert lv.speed("a", lv.class_levels["a"]) == pytest.approx(1.0)
    assert lv.speed("a", 0.0) == 0.0
    with pytest.raises(ValueError, match="rest class"):
        activity_levels(act[50:], labels[50:])


def test_cross_validation_folds_by_repetition() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, (40, 3)), rng.normal(6, 1, (40, 3))])
    y = ["a"] * 40 + ["b"] * 40
    groups = [i // 10 for i in range(80)]  # 8 repetitions of 10 windows
    cv = cross_validate(x, y, groups, folds=4)
    assert cv.confusion.sum() == 80
    assert cv.accuracy > 0.95
    assert set(cv.per_class()) == {"a", "b"}
    noise = cross_validate(rng.normal(0, 1, (80, 3)), y, groups, folds=4)
    assert noise.accuracy < 0.8  # nothing to learn: near chance, not a leak

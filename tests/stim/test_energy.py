"""Rapid² energy rules against the reference's worked examples (magstim-serial.md §10.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorvr.stim.magstim import energy


@pytest.mark.parametrize(
    ("power", "f", "n", "t_on", "wait", "f_cont", "fmax"),
    [
        (73, 25, 250, 18.8, 21.95, 7.82, (20, 39, 65)),
        (60, 10, 50, 69.5, 0.5, 11.58, (25, 45, 80)),
        (60, 20, 40, 34.7, 1.46, 11.58, (25, 45, 80)),
        (80, 20, 40, 19.5, 4.14, 6.51, (18, 35, 57)),
        (54, 10, 60, 85.8, 0.5, 14.31, (28, 48, 88)),
        (81, 10, 60, 38.1, 3.44, 6.36, (18, 35, 57)),
        (90, 10, 50, 30.9, 4.71, 5.15, (17, 30, 49)),
        (100, 10, 50, 25.0, 7.00, 4.17, (15, 25, 41)),
    ],
)
def test_worked_examples(power: int, f: float, n: int, t_on: float, wait: float,
                         f_cont: float, fmax: tuple[int, int, int]) -> None:  # fmt: skip
    assert energy.max_on_time_s(power, f) == pytest.approx(t_on, abs=0.05)
    assert energy.min_wait_s(power, f, n) == pytest.approx(wait, abs=0.005)
    assert energy.CONTINUOUS_W / energy.energy_j(power) == pytest.approx(f_cont, abs=0.005)
    assert tuple(energy.max_frequency_hz(power, 240, t) for t in range(3)) == fmax


def test_train_above_the_frequency_limit_is_refused() -> None:
    check = energy.check_train(80, 20.0, 40)
    assert not check.ok and "maximum of 18 Hz at 80 %" in check.reason


@given(st.integers(0, 100), st.sampled_from([1.0, 5.0, 10.0, 20.0]), st.integers(1, 6000))
def test_wait_never_below_half_a_second(power: int, f: float, n: int) -> None:
    assert energy.min_wait_s(power, f, n) >= 0.5
    c = energy.check_train(power, f, n)
    assert c.ok == (
        f <= energy.max_frequency_hz(power)
        and n <= 6000
        and not (
            energy.max_on_time_s(power, f) <= 60 and min(n / f, 60) > energy.max_on_time_s(power, f)
        )
    )

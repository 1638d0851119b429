"""Rapid² energy rules (magstim-serial.md §10–§11): pure functions, checked before any train.

These protect the device (the Rapid² manual warns that ignoring them may damage it); they sit
on top of, not instead of, the seizure-risk limits of the safety governor.
"""

from __future__ import annotations

from dataclasses import dataclass

#: energy per pulse in joules at output power 0..100 % (magstim-serial.md §10.1)
JOULES: tuple[float, ...] = (
    0.0, 0.0, 0.1, 0.2, 0.4, 0.6, 0.9, 1.2, 1.6, 2.0,
    2.5, 3.0, 3.6, 4.3, 4.9, 5.7, 6.4, 7.3, 8.2, 9.1,
    10.1, 11.1, 12.2, 13.3, 14.5, 15.7, 17.0, 18.4, 19.7, 21.2,
    22.7, 24.2, 25.8, 27.4, 29.1, 30.8, 32.6, 34.5, 36.4, 38.3,
    40.3, 42.3, 44.4, 46.6, 48.8, 51.0, 53.3, 55.6, 58.0, 60.5,
    63.0, 65.5, 68.1, 70.7, 73.4, 76.2, 79.0, 81.8, 84.7, 87.7,
    90.7, 93.7, 96.8, 100.0, 103.2, 106.4, 109.7, 113.0, 116.4, 119.9,
    123.4, 126.9, 130.5, 134.2, 137.9, 141.7, 145.5, 149.3, 153.2, 157.2,
    161.2, 165.2, 169.3, 173.5, 177.7, 181.9, 186.3, 190.6, 195.0, 199.5,
    204.0, 208.5, 213.1, 217.8, 222.5, 227.3, 232.1, 236.9, 241.9, 246.8,
    252.0,
)  # fmt: skip


def _rows(*rows: tuple[int, ...], tail: int) -> tuple[int, ...]:
    """Ten values per row (a 1-tuple row repeats its value ten times), then the 100 % value."""
    out: list[int] = []
    for r in rows:
        out.extend(r if len(r) == 10 else r * 10)
    return (*out, tail)


#: maximum frequency (Hz) by [voltage][type][power 0..100] (magstim-serial.md §11)
MAX_FREQUENCY: dict[int, dict[int, tuple[int, ...]]] = {
    240: {
        0: _rows((50,), (50,), (50,),
                 (50, 46, 45, 44, 42, 41, 41, 39, 39, 38), (37, 36, 34, 33, 33, 33, 33, 33, 32, 31),
                 (30, 30, 29, 29, 28, 28, 27, 27, 26, 26), (25, 25, 24, 24, 23, 23, 22, 22, 21, 21),
                 (20, 20, 20, 20, 19, 19, 19, 19, 19, 18), (18, 18, 18, 18, 18, 17, 17, 17, 17, 17),
                 (17, 17, 16, 16, 16, 16, 16, 16, 15, 15), tail=15),
        1: _rows((100,), (100,), (100,),
                 (100, 98, 95, 93, 90, 88, 85, 83, 80, 78), (75, 73, 70, 68, 65, 63, 60, 58, 55, 53),
                 (50, 50, 49, 49, 48, 48, 47, 47, 46, 46), (45, 45, 44, 44, 43, 43, 42, 42, 41, 41),
                 (40, 40, 39, 39, 38, 38, 37, 37, 36, 36), (35, 35, 34, 34, 33, 33, 32, 32, 31, 31),
                 (30, 30, 29, 29, 28, 28, 27, 27, 26, 26), tail=25),
        2: _rows((100,), (100,), (100,), (100,),
                 (100, 100, 100, 100, 100, 100, 100, 100, 100, 98),
                 (97, 95, 93, 91, 88, 88, 87, 85, 84, 82), (80, 79, 77, 74, 74, 74, 74, 71, 70, 69),
                 (68, 68, 66, 65, 62, 62, 62, 60, 59, 58), (57, 57, 56, 55, 55, 53, 52, 51, 50, 50),
                 (49, 48, 47, 46, 46, 45, 44, 43, 42, 42), tail=41),
    },
    115: {
        0: _rows((36,), (36,), (36,),
                 (36, 35, 35, 34, 33, 32, 32, 31, 30, 29), (28, 28, 27, 26, 26, 25, 25, 24, 24, 23),
                 (23, 22, 22, 21, 21, 21, 20, 20, 19, 19), (19, 18, 18, 18, 18, 17, 17, 17, 16, 16),
                 (16, 16, 16, 15, 15, 15, 15, 14, 14, 14), (14, 14, 13, 13, 13, 13, 13, 12, 12, 12),
                 (12, 12, 12, 12, 12, 11, 11, 11, 11, 11), tail=11),
        1: _rows((60,), (60,), (60,),
                 (60, 60, 60, 60, 60, 60, 60, 60, 59, 57), (55, 54, 53, 52, 51, 50, 49, 47, 46, 45),
                 (44, 43, 42, 42, 41, 40, 40, 39, 38, 38), (37, 36, 36, 35, 35, 34, 34, 33, 33, 32),
                 (32, 31, 31, 30, 30, 29, 29, 28, 28, 28), (27, 27, 27, 26, 26, 26, 26, 25, 25, 25),
                 (24, 24, 24, 24, 23, 23, 23, 22, 22, 22), tail=22),
        2: _rows((60,), (60,), (60,), (60,), (60,),
                 (58, 56, 56, 54, 53, 52, 51, 50, 49, 48), (47, 46, 46, 45, 44, 43, 43, 42, 41, 40),
                 (40, 39, 39, 38, 37, 37, 36, 36, 35, 35), (34, 34, 33, 33, 33, 32, 32, 31, 31, 30),
                 (30, 30, 29, 29, 28, 28, 28, 27, 27, 27), tail=25),
    },
}  # fmt: skip

#: minimum wait between trains whatever the energy (magstim-serial.md §10.2)
MIN_WAIT_S = 0.5
#: at most 63 000 J per minute
JOULES_PER_MINUTE = 63000.0
#: energy one minute of continuous operation dissipates per second
CONTINUOUS_W = 1050.0


def energy_j(power_pct: int) -> float:
    """Energy per pulse (J) at ``power_pct`` (enhanced powers above 100 use the 100 % value)."""
    return JOULES[max(0, min(100, int(power_pct)))]


def max_on_time_s(power_pct: int, frequency_hz: float) -> float:
    """Longest train allowed at this power and frequency (63 000 J per minute)."""
    e = energy_j(power_pct) * frequency_hz
    return float("inf") if e <= 0 else JOULES_PER_MINUTE / e


def min_wait_s(power_pct: int, frequency_hz: float, n_pulses: int) -> float:
    """Minimum wait after a train before the next one, never below 0.5 s."""
    e = energy_j(power_pct)
    if frequency_hz <= 0:
        return MIN_WAIT_S
    raw = n_pulses * (frequency_hz * e - CONTINUOUS_W) / (CONTINUOUS_W * frequency_hz)
    return max(MIN_WAIT_S, raw)


def max_frequency_hz(power_pct: int, voltage: int = 240, system_type: int = 0) -> int:
    """Highest frequency allowed at ``power_pct`` for this supply voltage and Rapid² type."""
    try:
        table = MAX_FREQUENCY[voltage][system_type]
    except KeyError:
        raise ValueError(f"no frequency table for {voltage} V, type {system_type}") from None
    return table[max(0, min(100, int(power_pct)))]


@dataclass(frozen=True)
class TrainCheck:
    """Why a Rapid² train may not run (``ok`` when it may), and the wait it imposes after."""

    ok: bool
    reason: str
    wait_after_s: float


def check_train(
    power_pct: int,
    frequency_hz: float,
    n_pulses: int,
    *,
    since_last_train_s: float | None = None,
    required_wait_s: float = 0.0,
    voltage: int = 240,
    system_type: int = 0,
) -> TrainCheck:
    """Apply every energy rule to one train (pure)."""
    wait = min_wait_s(power_pct, frequency_hz, n_pulses)
    fmax = max_frequency_hz(power_pct, voltage, system_type)
    if frequency_hz > fmax:
        return TrainCheck(
            False,
            f"{frequency_hz:g} Hz is above this Rapid²'s maximum of {fmax} Hz at {power_pct} % "
            f"({voltage} V, type {system_type}): lower the frequency or the power",
            wait,
        )
    duration = n_pulses / frequency_hz if frequency_hz > 0 else 0.0
    t_on = max_on_time_s(power_pct, frequency_hz)
    if t_on <= 60.0 and min(duration, 60.0) > t_on:
        return TrainCheck(
            False,
            f"a {duration:g} s train at {power_pct} % and {frequency_hz:g} Hz exceeds the "
            f"maximum on-time of {t_on:.1f} s (63 000 J per minute): shorten the train",
            wait,
        )
    if n_pulses > 6000:
        return TrainCheck(False, f"{n_pulses} pulses exceed the Rapid²'s 6000 per train", wait)
    if since_last_train_s is not None and since_last_train_s < required_wait_s:
        return TrainCheck(
            False,
            f"only {since_last_train_s:.2f} s since the last train; the Rapid² needs "
            f"{required_wait_s:.2f} s at that train's energy: wait before the next train",
            wait,
        )
    return TrainCheck(True, "", wait)

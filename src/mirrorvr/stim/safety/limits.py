"""The project baseline, how a clinic's profile may differ from it, and logged overrides.

A clinic profile may *tighten* any limit. A value looser than the baseline is refused unless the
profile's ``overrides`` list names the rule with the new value, a reason, who approved it and
when; the effective limit is then the override's value, and every override in force is written
to the session log (event ``safety_override``) so the record shows who loosened what.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirrorvr.config.plan import SafetyOverride, SafetyProfile
from mirrorvr.errors import Problem
from mirrorvr.stim.safety.ceilings import ceilings
from mirrorvr.stim.safety.train_table import default_table, lookup

#: The project baseline: the defaults of :class:`SafetyProfile` (sources in docs/safety.md).
BASELINE = SafetyProfile()

#: Limits where a larger value allows more stimulation.
HIGHER_IS_LOOSER = (
    "max_intensity_pct_rmt",
    "max_intensity_pct_mso",
    "max_pulses_per_session",
    "max_pulses_per_day",
    "max_threshold_age_days",
    "max_screening_age_days",
    "train_table_scale",
    "tbs_max_intensity_pct_rmt",
    "tbs_max_pulses_per_burst",
    "tbs_max_burst_frequency_hz",
    "tbs_max_train_duration_s",
    "tbs_max_pulses_per_session",
    "allow_visual_threshold",
)
#: Limits where a smaller value allows more stimulation.
LOWER_IS_LOOSER = (
    "min_intertrain_interval_s",
    "min_single_pulse_interval_s",
    "tbs_min_burst_interval_s",
)
_INT_FIELDS = {
    "max_pulses_per_session",
    "max_pulses_per_day",
    "max_threshold_age_days",
    "max_screening_age_days",
    "tbs_max_pulses_per_burst",
    "tbs_max_pulses_per_session",
}


@dataclass(frozen=True)
class TrainDurationOverride:
    """A clinic's replacement for one table row, up to an intensity."""

    frequency_hz: float
    up_to_pct_rmt: float
    max_duration_s: float


#: relative tolerance when a train's frequency is matched to an override's
FREQUENCY_MATCH = 1e-6


@dataclass(frozen=True)
class Limits:
    """The limits in force: the profile with its overrides applied."""

    profile: SafetyProfile
    train_overrides: tuple[TrainDurationOverride, ...] = ()

    def train_override(self, frequency_hz: float, pct_rmt: float) -> TrainDurationOverride | None:
        """An override covering this frequency and intensity, if any (the strictest wins).

        Frequencies match within a relative 1e-6: a rate found from planned pulse times (gaps
        rounded to 1 ns) differs from the override's ``1 / interval`` by up to ~1e-8 at 30 Hz,
        and an override that names a train's frequency must govern it.
        """
        hits = [
            o
            for o in self.train_overrides
            if abs(o.frequency_hz - frequency_hz) <= FREQUENCY_MATCH * frequency_hz
            and pct_rmt <= o.up_to_pct_rmt + 1e-9
        ]
        return min(hits, key=lambda o: o.max_duration_s) if hits else None


def is_looser(name: str, value: float, reference: float) -> bool:
    """Whether ``value`` of limit ``name`` allows more than ``reference``."""
    if name in LOWER_IS_LOOSER:
        return value < reference
    return value > reference


def _overridden(profile: SafetyProfile) -> dict[str, SafetyOverride]:
    return {o.rule: o for o in profile.overrides if o.rule != "max_train_duration_s"}


def loosening_problems(profile: SafetyProfile) -> list[Problem]:
    """Every limit the profile loosens beyond the baseline without an override."""
    problems: list[Problem] = []
    overridden = _overridden(profile)
    for name in (*HIGHER_IS_LOOSER, *LOWER_IS_LOOSER):
        value, base = getattr(profile, name), getattr(BASELINE, name)
        if is_looser(name, float(value), float(base)) and name not in overridden:
            problems.append(
                Problem(
                    f"safety.{name}",
                    f"{value} is looser than the project baseline ({base}); a clinic profile "
                    "can only tighten limits. To loosen one, add a [[safety.overrides]] entry "
                    f'with rule = "{name}", value, reason, approved_by and approved_on',
                )
            )
    return problems


def train_duration_ceiling_s(frequency_hz: float) -> float:
    """The longest train any signed override may allow at this frequency (hard ceiling).

    ``ceilings.csv`` times the 100 % MT cell of the row the frequency falls in (the table's
    fastest row above it).
    """
    t = default_table()
    cell = lookup(t, min(frequency_hz, t.frequencies[-1]), t.intensities[0])
    assert cell is not None  # the 100 % MT column of an existing row always has a cell
    return ceilings()["max_train_duration_s"].value * cell.limit_s


def ceiling_problems(profile: SafetyProfile) -> list[Problem]:
    """Every override (or profile value) beyond a hard ceiling: no signature lifts these."""
    out: list[Problem] = []
    cs = ceilings()
    for i, o in enumerate(profile.overrides):
        where = f"safety.overrides[{i}].value"
        if o.rule == "max_train_duration_s":
            top = train_duration_ceiling_s(float(o.frequency_hz or 0.0))
            if o.value > top:
                out.append(
                    Problem(
                        where,
                        f"rule max_train_duration_s: {o.value:g} s at {o.frequency_hz:g} Hz is "
                        f"beyond the hard ceiling of {top:g} s that no signature can lift "
                        f"({cs['max_train_duration_s'].source})",
                    )
                )
            continue
        c = cs.get(o.rule)
        if c is not None and c.breached_by(float(o.value)):
            out.append(
                Problem(
                    where,
                    f"rule {o.rule}: {o.value:g} is beyond the hard ceiling "
                    f"({'at most' if c.direction == 'max' else 'at least'} {c.value:g}) that no "
                    f"signature can lift ({c.source}; {c.status})",
                )
            )
    return out


def effective_limits(profile: SafetyProfile) -> Limits:
    """The profile with its overrides applied (run :func:`loosening_problems` first)."""
    update: dict[str, float | int | bool] = {}
    cs = ceilings()
    for name, o in _overridden(profile).items():
        value = float(o.value)
        c = cs.get(name)
        if c is not None and c.breached_by(value):
            value = c.value  # defence in depth: ceiling_problems refuses such a plan first
        if name == "allow_visual_threshold":
            update[name] = bool(value)
        elif name in _INT_FIELDS:
            update[name] = int(value)
        else:
            update[name] = value
    trains = tuple(
        TrainDurationOverride(
            float(o.frequency_hz),
            float(o.up_to_pct_rmt),
            min(o.value, train_duration_ceiling_s(float(o.frequency_hz))),
        )
        for o in profile.overrides
        if o.rule == "max_train_duration_s" and o.frequency_hz and o.up_to_pct_rmt
    )
    return Limits(profile.model_copy(update=update), trains)


def at_least_as_strict(a: SafetyProfile, b: SafetyProfile) -> bool:
    """Whether every limit of ``a`` is as strict as or stricter than ``b``'s."""
    return not any(
        is_looser(n, float(getattr(a, n)), float(getattr(b, n)))
        for n in (*HIGHER_IS_LOOSER, *LOWER_IS_LOOSER)
    )

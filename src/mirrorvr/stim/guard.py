"""The stimulation process's own gate: a small, independent check before every pulse.

The session process authorizes each train through the governor (every rule, with the plan);
the stimulation process then fires each pulse only if this guard agrees too — two gates, not
one, and this one shares no code with the governor. It knows four things only, handed over
once when the process starts: the highest intensity, the fastest pulse rate, how many pulses
may still go out, and whether the device is armed (its own record of arm/disarm calls). For a
paired plan it also knows the pair: one trigger gives two pulses (both counted), only at the
plan's interval as the device read it back, and power B no higher than the plan's.

Pure: no I/O, no clock; the caller passes times in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuardLimits:
    """What the guard enforces (from the plan, fixed for the life of the process)."""

    max_intensity_pct_mso: float
    #: the fastest pulse rate of the plan (Hz); pulses closer than ``1 / max_rate_hz`` minus
    #: ``jitter_s`` are refused
    max_rate_hz: float
    #: pulses that may still go out in this session (budget minus pulses already counted)
    max_pulses: int
    #: a pulse fired up to this late shortens the gap to the next one (the late tolerance)
    jitter_s: float = 0.005
    #: single pulses outside trains (a threshold hunt varies the output up to the profile's cap)
    max_single_intensity_pct_mso: float = 100.0
    #: a device-timed pair's interval (ms) as the plan has it; ``None``: no pairs at all
    pair_interval_ms: float | None = None
    #: power B of a pair, at most (% MSO)
    max_intensity_b_pct_mso: float = 0.0

    @property
    def min_interval_s(self) -> float:
        """The shortest gap allowed between two pulses."""
        return max(0.0, 1.0 / self.max_rate_hz - self.jitter_s)


class PulseGuard:
    """Counts pulses and refuses any that would break :class:`GuardLimits`."""

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self.fired = 0
        self.last_t: float | None = None
        self.armed = False

    def check(
        self,
        t: float,
        intensity_pct_mso: float,
        *,
        single: bool = False,
        pair: tuple[float, float] | None = None,
        rate: bool = True,
    ) -> str | None:
        """Why a pulse at ``t`` (LSL seconds) must not fire, or ``None`` if it may.

        ``single``: a pulse outside a train (threshold hunt), capped by the single-pulse limit.
        ``pair``: the trigger gives a device-timed pair, ``(interval_ms, power_b_pct_mso)`` as
        the device read them back; it counts as two pulses. ``rate=False``: every rule but the
        gap to the previous pulse (see :meth:`late_gap`).
        """
        lim = self.limits
        if not self.armed:
            return "the stimulation process has the device disarmed"
        cap = lim.max_single_intensity_pct_mso if single else lim.max_intensity_pct_mso
        if intensity_pct_mso > cap + 1e-9:
            return f"intensity {intensity_pct_mso:g} % MSO is above the guard's {cap:g} % MSO"
        n = 1
        if pair is not None:
            n = 2
            if lim.pair_interval_ms is None:
                return "this plan has no paired pulses"
            if abs(pair[0] - lim.pair_interval_ms) > 0.01:
                return (
                    f"the device times its pairs {pair[0]:g} ms apart, the plan "
                    f"{lim.pair_interval_ms:g} ms"
                )
            if pair[1] > lim.max_intensity_b_pct_mso + 1e-9:
                return (
                    f"power B {pair[1]:g} % MSO is above the guard's "
                    f"{lim.max_intensity_b_pct_mso:g} % MSO"
                )
        if self.fired + n > lim.max_pulses:
            return f"the guard's pulse count ({lim.max_pulses}) is used up"
        if rate and self.too_soon(t):
            assert self.last_t is not None
            return (
                f"{(t - self.last_t) * 1000:.1f} ms after the previous pulse: faster than "
                f"{lim.max_rate_hz:g} Hz"
            )
        return None

    def too_soon(self, t: float) -> bool:
        """A pulse at ``t`` would follow the previous one faster than the guard's rate."""
        lim = self.limits
        return self.last_t is not None and t - self.last_t < lim.min_interval_s - 1e-9

    def late_gap(self, t: float, previous_planned: float | None) -> bool:
        """A pulse at ``t`` is too soon only because the previous one went out late: measured
        from that pulse's *planned* time the gap keeps the rate. Such a pulse is skipped (and
        counted as missed) and its train goes on; a train planned too fast is refused whole."""
        lim = self.limits
        return (
            self.too_soon(t)
            and previous_planned is not None
            and t - previous_planned >= lim.min_interval_s - 1e-9
        )

    def fired_at(self, t: float, pulses: int = 1) -> None:
        """Count a trigger that went out (or may have) at ``t``: one pulse, or a pair's two."""
        self.fired += pulses
        self.last_t = t if self.last_t is None else max(self.last_t, t)

"""The run-time gate: every train or pulse is authorized again just before it is delivered.

Pure: :func:`authorize` looks at a request, the state of the session so far and the limits in
force, and allows the request as it is or refuses it with a reason a therapist understands. It
never shortens a train or lowers an intensity. :func:`reserve` and :func:`release` are the
state transitions around a delivery (budget reserved before the first pulse, what certainly did
not go out given back afterwards), so the pulse budget holds even across a crash.

Times are the *planned* pulse times on the session clock: the scheduler never fires a pulse
later than its small late tolerance, and the runner only ever shifts the timeline later, so the
real gaps are never shorter than the planned ones by more than that tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from mirrorvr.stim.safety.limits import Limits
from mirrorvr.stim.safety.train_table import TrainTable, default_table, lookup

Pattern = Literal["single", "paired", "rtms", "tbs"]

#: slack for float comparisons of planned times (1 µs): limits are met, not rounded away
_EPS = 1e-6


@dataclass(frozen=True)
class StimRequest:
    """A train (or a single pulse, ``n_pulses == 1``) asking to be delivered.

    ``frequency_hz`` is the pulse rate within the train (within a burst for theta burst);
    ``group`` is the safety train it belongs to (several bursts form one theta-burst train);
    ``first_pulse``/``last_pulse`` are its planned pulse times on the session clock.
    """

    n_pulses: int
    intensity_pct_mso: float
    intensity_pct_rmt: float
    frequency_hz: float
    pattern: Pattern = "rtms"
    group: int | None = None
    first_pulse: float = 0.0
    last_pulse: float = 0.0


@dataclass(frozen=True)
class DeviceLimits:
    """What the stimulator itself allows at the requested settings (reported by its driver)."""

    max_frequency_hz: float | None = None
    max_train_pulses: int | None = None
    max_train_duration_s: float | None = None
    min_train_gap_s: float = 0.0
    max_intensity_pct_mso: float = 100.0
    source: str = ""


@dataclass(frozen=True)
class Ledger:
    """Pulses already delivered (or possibly delivered: unknown outcomes count as delivered)."""

    session: int = 0
    today: int = 0


@dataclass(frozen=True)
class GroupState:
    """The safety train stimulated last."""

    group: int | None
    pattern: Pattern
    first: float  # planned time of its first pulse
    last: float  # planned time of its last pulse so far
    last_unit_first: float  # first pulse of its latest step (burst onset for theta burst)
    pulses: int


@dataclass(frozen=True)
class RuntimeState:
    """What the gate remembers during a session."""

    ledger: Ledger = Ledger()
    tbs_pulses: int = 0
    current: GroupState | None = None


@dataclass(frozen=True)
class Decision:
    """Allowed, or refused with a reason."""

    allowed: bool
    reason: str = ""


def _no(reason: str) -> Decision:
    return Decision(False, reason)


def _same_group(req: StimRequest, state: RuntimeState) -> bool:
    cur = state.current
    return cur is not None and req.group is not None and cur.group == req.group


def train_limit_s(
    limits: Limits, frequency_hz: float, pct_rmt: float, table: TrainTable | None = None
) -> tuple[float | None, str]:
    """Longest allowed rTMS train at this frequency and intensity, and where it comes from."""
    override = limits.train_override(frequency_hz, pct_rmt)
    if override is not None:
        return override.max_duration_s, (
            f"the clinic's logged override for {frequency_hz:g} Hz up to "
            f"{override.up_to_pct_rmt:g} % MT"
        )
    cell = lookup(table or default_table(), frequency_hz, pct_rmt)
    if cell is None:
        return None, ""
    scale = limits.profile.train_table_scale
    where = cell.describe() + (f" × {scale:g} (clinic scale)" if scale != 1.0 else "")
    return cell.limit_s * scale, where


def intensity_problem(pct_rmt: float, pct_mso: float, pattern: str, limits: Limits) -> str:
    """Why this intensity is not allowed ("" if it is)."""
    p = limits.profile
    if pct_rmt > p.max_intensity_pct_rmt + _EPS:
        return (
            f"intensity {pct_rmt:g} % of motor threshold is above the profile's "
            f"limit of {p.max_intensity_pct_rmt:g} %"
        )
    if pct_mso > p.max_intensity_pct_mso + _EPS:
        return (
            f"intensity {pct_mso:g} % of stimulator output is above the profile's "
            f"limit of {p.max_intensity_pct_mso:g} %"
        )
    if pattern == "tbs" and pct_rmt > p.tbs_max_intensity_pct_rmt + _EPS:
        return (
            f"theta-burst intensity {pct_rmt:g} % of motor threshold is above the "
            f"profile's theta-burst limit of {p.tbs_max_intensity_pct_rmt:g} %"
        )
    return ""


def authorize(
    request: StimRequest,
    state: RuntimeState,
    limits: Limits,
    budget: int,
    device: DeviceLimits | None = None,
    table: TrainTable | None = None,
) -> Decision:
    """Allow ``request`` only if it keeps every limit; never adjust it."""
    p = limits.profile
    r = request
    n = r.n_pulses
    if n <= 0:
        return _no("a train must have at least one pulse")
    if r.intensity_pct_mso <= 0:
        # a plan whose threshold was to be measured at session start, but was not, has none
        return _no("no intensity: the motor threshold is not known")
    # --- intensity --------------------------------------------------------------------------
    why = intensity_problem(r.intensity_pct_rmt, r.intensity_pct_mso, r.pattern, limits)
    if why:
        return _no(why)
    # --- pulse counts -----------------------------------------------------------------------
    led = state.ledger
    if led.session + n > budget:
        return _no(
            f"{n} more pulses would exceed this session's budget of {budget} "
            f"({led.session} already delivered or possibly delivered)"
        )
    if led.today + n > p.max_pulses_per_day:
        return _no(
            f"{n} more pulses would exceed the daily limit of {p.max_pulses_per_day} for this "
            f"patient ({led.today} today, counting earlier sessions)"
        )
    if r.pattern == "tbs" and state.tbs_pulses + n > p.tbs_max_pulses_per_session:
        return _no(
            f"{n} more theta-burst pulses would exceed the profile's theta-burst limit of "
            f"{p.tbs_max_pulses_per_session} per session ({state.tbs_pulses} so far)"
        )
    # --- gaps -------------------------------------------------------------------------------
    cur = state.current
    same = _same_group(r, state)
    if cur is not None and not same:
        gap = r.first_pulse - cur.last
        is_train = r.pattern in ("rtms", "tbs") or cur.pattern in ("rtms", "tbs")
        need = p.min_intertrain_interval_s if is_train else p.min_single_pulse_interval_s
        what = "trains" if is_train else "single/paired pulses"
        if gap + _EPS < need:
            return _no(
                f"only {gap:.3f} s since the previous stimulation; the minimum gap between "
                f"{what} is {need:g} s"
            )
        if device is not None and gap + _EPS < device.min_train_gap_s:
            return _no(
                f"only {gap:.3f} s since the previous train; the stimulator needs "
                f"{device.min_train_gap_s:g} s ({device.source or 'device limit'})"
            )
    # --- device -----------------------------------------------------------------------------
    if device is not None:
        if r.intensity_pct_mso > device.max_intensity_pct_mso + _EPS:
            return _no(
                f"intensity {r.intensity_pct_mso:g} % of output is above what the stimulator "
                f"allows here ({device.max_intensity_pct_mso:g} %, {device.source or 'device'})"
            )
        if (
            n > 1
            and device.max_frequency_hz is not None
            and (r.frequency_hz > device.max_frequency_hz + _EPS)
        ):
            return _no(
                f"{r.frequency_hz:g} Hz is faster than the stimulator allows at this setting "
                f"({device.max_frequency_hz:g} Hz, {device.source or 'device'})"
            )
        if device.max_train_pulses is not None and n > device.max_train_pulses:
            return _no(
                f"{n} pulses in one train is more than the stimulator allows "
                f"({device.max_train_pulses}, {device.source or 'device'})"
            )
        if (
            device.max_train_duration_s is not None
            and r.frequency_hz > 0
            and n / r.frequency_hz > device.max_train_duration_s + _EPS
        ):
            return _no(
                f"a {n / r.frequency_hz:g}-s train is longer than the stimulator allows at this "
                f"setting ({device.max_train_duration_s:g} s, {device.source or 'device'})"
            )
    # --- pattern-specific structure ---------------------------------------------------------
    if r.pattern == "rtms":
        if r.frequency_hz <= 0:
            return _no("an rTMS train needs a pulse frequency")
        duration = n / r.frequency_hz
        limit, where = train_limit_s(limits, r.frequency_hz, r.intensity_pct_rmt, table)
        if limit is None:
            return _no(
                f"the safety table has no entry for {r.frequency_hz:g} Hz at "
                f"{r.intensity_pct_rmt:g} % of motor threshold; such trains need a clinic "
                "override (rule max_train_duration_s) signed by the responsible physician"
            )
        if duration > limit + _EPS:
            return _no(
                f"a {duration:g}-s train at {r.frequency_hz:g} Hz and {r.intensity_pct_rmt:g} % "
                f"of motor threshold is longer than the {limit:g} s allowed ({where})"
            )
    elif r.pattern == "tbs":
        if n > p.tbs_max_pulses_per_burst:
            return _no(
                f"a burst of {n} pulses is more than the profile's {p.tbs_max_pulses_per_burst} "
                "pulses per theta burst"
            )
        if n > 1 and r.frequency_hz > p.tbs_max_burst_frequency_hz + _EPS:
            return _no(
                f"{r.frequency_hz:g} Hz within a burst is faster than the profile's "
                f"{p.tbs_max_burst_frequency_hz:g} Hz"
            )
        if same and cur is not None:
            step = r.first_pulse - cur.last_unit_first
            if step + _EPS < p.tbs_min_burst_interval_s:
                return _no(
                    f"bursts {step:.3f} s apart are closer than the profile's "
                    f"{p.tbs_min_burst_interval_s:g} s (5 Hz)"
                )
            span = r.last_pulse - cur.first
        else:
            span = r.last_pulse - r.first_pulse
        if span > p.tbs_max_train_duration_s + _EPS:
            return _no(
                f"a theta-burst train of {span:g} s is longer than the profile's "
                f"{p.tbs_max_train_duration_s:g} s"
            )
    elif (
        same
        and cur is not None
        and r.first_pulse - cur.last + _EPS < (p.min_single_pulse_interval_s)
    ):
        return _no(
            f"pulses {r.first_pulse - cur.last:.3f} s apart are closer than the minimum "
            f"{p.min_single_pulse_interval_s:g} s between single/paired pulses"
        )
    return Decision(True)


def reserve(state: RuntimeState, request: StimRequest) -> RuntimeState:
    """The state once ``request`` is about to be delivered (budget counted in full)."""
    n = request.n_pulses
    ledger = Ledger(state.ledger.session + n, state.ledger.today + n)
    if _same_group(request, state) and state.current is not None:
        cur = replace(
            state.current,
            last=max(state.current.last, request.last_pulse),
            last_unit_first=request.first_pulse,
            pulses=state.current.pulses + n,
        )
    else:
        cur = GroupState(
            request.group,
            request.pattern,
            request.first_pulse,
            request.last_pulse,
            request.first_pulse,
            n,
        )
    tbs = state.tbs_pulses + (n if request.pattern == "tbs" else 0)
    return RuntimeState(ledger, tbs, cur)


def release(state: RuntimeState, undelivered: int, pattern: Pattern = "rtms") -> RuntimeState:
    """Give back pulses that certainly did not go out (the gap rules keep the planned times)."""
    led = Ledger(state.ledger.session - undelivered, state.ledger.today - undelivered)
    tbs = state.tbs_pulses - (undelivered if pattern == "tbs" else 0)
    return replace(state, ledger=led, tbs_pulses=tbs)

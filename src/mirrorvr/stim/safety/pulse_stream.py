"""The pulse-stream checker: the governor judges the pulses, not the labels. Pure.

Whatever a protocol is called (single, paired, rTMS, theta burst, cue-locked, a threshold hunt, a
resume remainder), its compiled pulse *times* come here, and the rules of docs/safety.md are
applied to what those times are:

* two pulses at the same instant are refused (coincident triggers);
* a paired pulse counts as one stimulus only when the stimulator times the pair itself: a
  :class:`PairedDevice` (the interval and power B the device confirmed by read-back, or at
  validate the plan's own on a kind whose driver does it) whose interval is the plan's, and
  it keeps the paired-pulse limits (``paired_limits.csv``: interval range, repetition); its
  second pulse (power B) keeps the same intensity caps as the first; otherwise its two pulses
  are judged as the two pulses they are (10 ms apart = 100 Hz);
* trains are found from the times: stimuli less than :data:`TRAIN_GAP_S` apart form one train;
  its rate is that of its shortest gap and its duration ``n / rate``. Up to 25 Hz (the table's top
  row) the train-duration table (or a signed override) applies; faster trains must be theta
  burst (bursts found by gaps of at least 1/25 s) and keep the theta-burst rules;
* between trains the minimum inter-train interval, between single stimuli the minimum
  single-pulse interval (and the paired-pulse repetition limit); single stimuli that never rest
  for an inter-train interval count as a train on the table's slowest row;
* every stimulus's intensity (% MT, % MSO; theta burst's own cap), the session and day budgets,
  and the device's limits.

Counts are checked first, so a stream is never longer than the hard ceiling when it gets here
(:func:`mirrorvr.stim.safety.plan_check.planned_pulses` computes them without expanding a plan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from mirrorvr.stim.safety.ceilings import PairedLimits, paired_limits
from mirrorvr.stim.safety.limits import Limits
from mirrorvr.stim.safety.runtime import DeviceLimits, train_limit_s
from mirrorvr.stim.safety.train_table import TrainTable

#: stimuli closer than this belong to one train (faster than 1 Hz)
TRAIN_GAP_S = 1.0
#: the table's fastest row; faster trains must be theta burst (or carry a signed override)
TABLE_MAX_HZ = 25.0
#: pulses closer than this are one trigger planned twice: refused, never merged
COINCIDENT_S = 1e-6
#: stimulator kinds whose driver *can* give a device-timed paired pulse (its
#: ``capabilities.device_timed_pairs``; a test holds the two together). Only ``mirrorvr
#: validate`` without a device reads it: a session goes by what the connected device confirmed.
DEVICE_TIMED_PAIR_KINDS: frozenset[str] = frozenset({"magstim-bistim"})
#: a device's interval may differ from the plan's by this much (0.1-ms steps; float sums)
PAIR_INTERVAL_TOLERANCE_MS = 0.01
#: gaps are rounded to this before rates are derived (planned times are sums of floats)
_TICK = 1e-9
_EPS = 1e-6


@dataclass(frozen=True)
class Pulse:
    """One planned pulse.

    ``pct_rmt`` is ``None`` for a threshold-hunting pulse (its % MT is what is being measured);
    ``pair_second`` marks the second pulse of a paired pulse, partner of the pulse before it.
    """

    t: float
    pct_rmt: float | None
    pct_mso: float
    pair_second: bool = False


@dataclass(frozen=True)
class PairedDevice:
    """A stimulator that times paired pulses itself, as it confirmed them.

    ``interval_ms`` and ``power_b_pct_mso`` are what the device reported back after they were
    set (at ``mirrorvr validate``, without a device: what the plan will set, on a kind whose
    driver can; the session checks again with the read-back before arming).
    """

    interval_ms: float
    power_b_pct_mso: float
    source: str = "read back from the device"


@dataclass(frozen=True)
class Finding:
    """A rule the stream breaks: which rule, where (planned time, s) and why."""

    rule: str
    t: float
    message: str


@dataclass
class _Stimulus:
    t: float  # first pulse
    last: float  # last pulse (second of a pair)
    pulses: int
    pct_rmt: float | None
    pct_mso: float
    pct_rmt_b: float | None = None  # power B of a device-timed pair (second pulse)
    pct_mso_b: float = 0.0


def _gap(a: float, b: float) -> float:
    return round((b - a) / _TICK) * _TICK


def _split(items: list[_Stimulus], gap_s: float) -> list[list[_Stimulus]]:
    groups: list[list[_Stimulus]] = []
    for s in items:
        if groups and _gap(groups[-1][-1].last, s.t) < gap_s - _EPS:
            groups[-1].append(s)
        else:
            groups.append([s])
    return groups


def _rate(group: list[_Stimulus]) -> float:
    gaps = [_gap(a.t, b.t) for a, b in pairwise(group)]
    return 1.0 / min(gaps) if gaps and min(gaps) > 0 else float("inf")


def check_pulses(
    pulses: Sequence[Pulse],
    limits: Limits,
    *,
    budget: int | None = None,
    pulses_today: int = 0,
    device: DeviceLimits | None = None,
    paired_device: PairedDevice | None = None,
    table: TrainTable | None = None,
    paired: PairedLimits | None = None,
    counts: bool = True,
) -> list[Finding]:
    """Every rule the pulse stream breaks (empty = every pulse may be given as planned).

    ``pulses_today``: pulses the patient had (or has reserved) earlier today; ``budget``: this
    session's pulse budget (default: the profile's per-session limit); ``counts=False`` leaves
    the budgets to the caller. ``paired_device``: the stimulator's confirmed device-timed pair
    (``None``: it gives none, so the two pulses of a pair are judged as two host-timed pulses).
    """
    p = limits.profile
    pl = paired or paired_limits()
    out: list[Finding] = []
    ps = sorted(pulses, key=lambda x: x.t)
    if not ps:
        return out
    n = len(ps)
    cap = p.max_pulses_per_session if budget is None else budget
    if counts and n > cap:
        out.append(
            Finding(
                "max_pulses_per_session",
                ps[0].t,
                f"{n} pulses planned; this session may give at most {cap}",
            )
        )
    if counts and pulses_today + n > p.max_pulses_per_day:
        out.append(
            Finding(
                "max_pulses_per_day",
                ps[0].t,
                f"{pulses_today} pulses already today + {n} planned exceeds the daily limit of "
                f"{p.max_pulses_per_day}; {max(0, p.max_pulses_per_day - pulses_today)} remain",
            )
        )
    # --- coincident triggers and paired pulses -> stimuli ----------------------------------
    stimuli: list[_Stimulus] = []
    for i, x in enumerate(ps):
        if i and x.t - ps[i - 1].t <= COINCIDENT_S:
            out.append(
                Finding(
                    "coincident_triggers",
                    x.t,
                    f"two pulses are planned at the same instant ({x.t:.6f} s); a stimulator "
                    "cannot give them as planned",
                )
            )
            continue
        if x.pair_second and stimuli:
            prev = stimuli[-1]
            ipi_ms = _gap(prev.t, x.t) * 1000.0
            if paired_device is None:
                out.append(
                    Finding(
                        "paired_pulse_device",
                        prev.t,
                        f"a paired pulse ({ipi_ms:g} ms) needs a stimulator that times the pair "
                        "itself (BiStim² with power B and interval set and read back); this one "
                        "would fire two host-timed triggers",
                    )
                )
            elif abs(ipi_ms - paired_device.interval_ms) > PAIR_INTERVAL_TOLERANCE_MS:
                out.append(
                    Finding(
                        "paired_pulse_device",
                        prev.t,
                        f"a paired pulse of {ipi_ms:g} ms is planned but the stimulator times "
                        f"its pairs {paired_device.interval_ms:g} ms apart "
                        f"({paired_device.source})",
                    )
                )
            elif not pl.min_interval_ms - _EPS <= ipi_ms <= pl.max_interval_ms + _EPS:
                out.append(
                    Finding(
                        "paired_pulse_interval",
                        prev.t,
                        f"a paired-pulse interval of {ipi_ms:g} ms is outside "
                        f"{pl.min_interval_ms:g}–{pl.max_interval_ms:g} ms ({pl.source}, UNVERIFIED)",
                    )
                )
            else:
                prev.last = x.t
                prev.pulses += 1
                # the second pulse is power B: it keeps the same intensity caps as power A, at
                # the higher of what is planned and what the device confirmed it will give
                b_mso = max(x.pct_mso, paired_device.power_b_pct_mso)
                if b_mso > prev.pct_mso_b:
                    prev.pct_mso_b = b_mso
                if x.pct_rmt is not None and x.pct_rmt > (prev.pct_rmt_b or 0.0):
                    prev.pct_rmt_b = x.pct_rmt
                continue
        stimuli.append(_Stimulus(x.t, x.t, 1, x.pct_rmt, x.pct_mso))
    # --- intensity of every stimulus -------------------------------------------------------
    for s in stimuli:
        why = _intensity(s.pct_rmt, s.pct_mso, limits, device)
        if why:
            out.append(Finding(why[0], s.t, why[1]))
            break  # one intensity is the same for every stimulus: say it once
    for s in stimuli:
        if s.pulses < 2:
            continue
        why = _intensity(s.pct_rmt_b, s.pct_mso_b, limits, device)
        if why:
            out.append(Finding("paired_power_b", s.t, f"power B of a paired pulse: {why[1]}"))
            break
    # --- trains found from the times -------------------------------------------------------
    trains = _split(stimuli, TRAIN_GAP_S)
    tbs_pulses = 0
    for tr in trains:
        if len(tr) == 1:
            continue
        found, is_tbs = _check_train(tr, limits, device, table)
        out += found
        if is_tbs:
            tbs_pulses += sum(s.pulses for s in tr)
    if tbs_pulses > p.tbs_max_pulses_per_session:
        out.append(
            Finding(
                "tbs_max_pulses_per_session",
                stimuli[0].t,
                f"{tbs_pulses} theta-burst pulses; the profile allows "
                f"{p.tbs_max_pulses_per_session} per session",
            )
        )
    # --- gaps between trains and single stimuli --------------------------------------------
    for a, b in pairwise(trains):
        gap = _gap(a[-1].last, b[0].t)
        if len(a) > 1 or len(b) > 1:
            need, rule, what = p.min_intertrain_interval_s, "min_intertrain_interval_s", "trains"
        else:
            need, rule, what = (
                p.min_single_pulse_interval_s,
                "min_single_pulse_interval_s",
                "single/paired pulses",
            )
            if (a[0].pulses > 1 or b[0].pulses > 1) and pl.min_pair_interval_s > need:
                need, rule, what = (
                    pl.min_pair_interval_s,
                    "paired_pulse_repetition",
                    "paired pulses",
                )
        if gap + _EPS < need:
            out.append(
                Finding(
                    rule,
                    b[0].t,
                    f"only {gap:.3f} s between {what} at {a[-1].last:.2f} s and {b[0].t:.2f} s; "
                    f"the minimum gap between {what} is {need:g} s",
                )
            )
        if device is not None and gap + _EPS < device.min_train_gap_s:
            out.append(
                Finding(
                    "device_min_train_gap_s",
                    b[0].t,
                    f"only {gap:.3f} s since the previous train; the stimulator needs "
                    f"{device.min_train_gap_s:g} s ({device.source or 'device limit'})",
                )
            )
    # --- single stimuli without a rest count as a train on the slowest row -----------------
    for run in _split([tr[0] for tr in trains if len(tr) == 1], p.min_intertrain_interval_s):
        known = [s for s in run if s.pct_rmt is not None]
        if len(known) < 2:
            continue
        rate = min(_rate(known), 1.0)
        duration = len(known) / rate
        rmt = max(s.pct_rmt for s in known if s.pct_rmt is not None)
        limit, where = train_limit_s(limits, 1.0, rmt, table)
        if limit is not None and duration > limit + _EPS:
            out.append(
                Finding(
                    "max_train_duration_s",
                    known[0].t,
                    f"{len(known)} pulses without a {p.min_intertrain_interval_s:g}-s rest "
                    f"({duration:g} s at up to 1 Hz, {rmt:g} % MT) are longer than the "
                    f"{limit:g} s allowed ({where})",
                )
            )
    return out


def _intensity(
    pct_rmt: float | None, pct_mso: float, limits: Limits, device: DeviceLimits | None
) -> tuple[str, str] | None:
    p = limits.profile
    if pct_rmt is not None and pct_rmt > p.max_intensity_pct_rmt + _EPS:
        return "max_intensity_pct_rmt", (
            f"intensity {pct_rmt:g} % of motor threshold is above the limit of "
            f"{p.max_intensity_pct_rmt:g} %"
        )
    if pct_mso > p.max_intensity_pct_mso + _EPS:
        return "max_intensity_pct_mso", (
            f"intensity {pct_mso:g} % of stimulator output is above the limit of "
            f"{p.max_intensity_pct_mso:g} %"
        )
    if device is not None and pct_mso > device.max_intensity_pct_mso + _EPS:
        return "device_max_intensity_pct_mso", (
            f"intensity {pct_mso:g} % of output is above what the stimulator allows "
            f"({device.max_intensity_pct_mso:g} %, {device.source or 'device'})"
        )
    return None


def _check_train(
    tr: list[_Stimulus], limits: Limits, device: DeviceLimits | None, table: TrainTable | None
) -> tuple[list[Finding], bool]:
    """Findings of one train (two or more stimuli less than 1 s apart), and if it is theta burst."""
    p = limits.profile
    out: list[Finding] = []
    t0 = tr[0].t
    n = sum(s.pulses for s in tr)
    rate = _rate(tr)
    if any(s.pulses > 1 for s in tr):
        out.append(
            Finding(
                "paired_pulse_repetition",
                t0,
                "paired pulses less than 1 s apart form a train; paired pulses may only be "
                "given as single stimuli",
            )
        )
    if any(s.pct_rmt is None for s in tr):
        out.append(
            Finding(
                "threshold_hunt_single_pulses",
                t0,
                "threshold-hunting pulses must be single pulses at least 1 s apart",
            )
        )
        return out, False
    rmt = max(s.pct_rmt for s in tr if s.pct_rmt is not None)
    duration = n / rate if rate != float("inf") else 0.0
    span = tr[-1].last - t0
    if device is not None:
        if device.max_frequency_hz is not None and rate > device.max_frequency_hz * (1 + _EPS):
            out.append(
                Finding(
                    "device_max_frequency_hz",
                    t0,
                    f"{rate:g} Hz is faster than the stimulator allows at this setting "
                    f"({device.max_frequency_hz:g} Hz, {device.source or 'device'})",
                )
            )
        if device.max_train_pulses is not None and n > device.max_train_pulses:
            out.append(
                Finding(
                    "device_max_train_pulses",
                    t0,
                    f"{n} pulses in one train is more than the stimulator allows "
                    f"({device.max_train_pulses}, {device.source or 'device'})",
                )
            )
        if (
            device.max_train_duration_s is not None
            and duration > device.max_train_duration_s + _EPS
        ):
            out.append(
                Finding(
                    "device_max_train_duration_s",
                    t0,
                    f"a {duration:g}-s train is longer than the stimulator allows "
                    f"({device.max_train_duration_s:g} s, {device.source or 'device'})",
                )
            )
    signed = limits.train_override(rate, rmt) is not None
    if rate <= TABLE_MAX_HZ * (1 + _EPS) or signed:
        limit, where = train_limit_s(limits, rate, rmt, table)
        if limit is None:
            out.append(
                Finding(
                    "max_train_duration_s",
                    t0,
                    f"the safety table has no entry for {rate:g} Hz at {rmt:g} % of motor "
                    "threshold; such trains need a signed override (rule max_train_duration_s)",
                )
            )
        elif duration > limit + _EPS:
            out.append(
                Finding(
                    "max_train_duration_s",
                    t0,
                    f"a {duration:g}-s train at {rate:g} Hz and {rmt:g} % of motor threshold "
                    f"is longer than the {limit:g} s allowed ({where}); {n} pulses at {t0:.2f} s",
                )
            )
        return out, False
    # faster than the table: only theta burst (or a signed override) may be this fast
    structure: list[Finding] = []
    bursts = _split(tr, 1.0 / TABLE_MAX_HZ)
    for b in bursts:
        size = sum(s.pulses for s in b)
        if size > p.tbs_max_pulses_per_burst:
            structure.append(
                Finding(
                    "tbs_max_pulses_per_burst",
                    b[0].t,
                    f"a burst of {size} pulses (faster than {TABLE_MAX_HZ:g} Hz, at {b[0].t:.2f} s) "
                    f"is more than the profile's {p.tbs_max_pulses_per_burst} pulses per theta "
                    "burst",
                )
            )
            break
        if len(b) > 1 and _rate(b) > p.tbs_max_burst_frequency_hz * (1 + _EPS):
            structure.append(
                Finding(
                    "tbs_max_burst_frequency_hz",
                    b[0].t,
                    f"{_rate(b):g} Hz within a burst is faster than the theta-burst limit of "
                    f"{p.tbs_max_burst_frequency_hz:g} Hz",
                )
            )
            break
    for a, b in pairwise(bursts):
        if _gap(a[0].t, b[0].t) + _EPS < p.tbs_min_burst_interval_s:
            structure.append(
                Finding(
                    "tbs_min_burst_interval_s",
                    b[0].t,
                    f"bursts {_gap(a[0].t, b[0].t):.3f} s apart are closer than the theta-burst "
                    f"minimum of {p.tbs_min_burst_interval_s:g} s",
                )
            )
            break
    if structure:
        out.append(
            Finding(
                "max_train_duration_s",
                t0,
                f"the safety table has no entry for {rate:g} Hz at {rmt:g} % of motor threshold "
                f"({n} pulses at {t0:.2f} s are not theta burst either); such trains need a "
                "signed override (rule max_train_duration_s)",
            )
        )
        return out + structure, True
    if rmt > p.tbs_max_intensity_pct_rmt + _EPS:
        out.append(
            Finding(
                "tbs_max_intensity_pct_rmt",
                t0,
                f"theta-burst intensity {rmt:g} % of motor threshold is above the profile's "
                f"theta-burst limit of {p.tbs_max_intensity_pct_rmt:g} %",
            )
        )
    if span > p.tbs_max_train_duration_s + _EPS:
        out.append(
            Finding(
                "tbs_max_train_duration_s",
                t0,
                f"a theta-burst train of {span:g} s is longer than the profile's "
                f"{p.tbs_max_train_duration_s:g} s",
            )
        )
    return out, True

"""``mirrorvr safety``: the safety limits a plan runs under, and the train-duration table."""

from __future__ import annotations

import typer
from rich.markup import escape as rich_escape
from rich.table import Table

from mirrorvr.cli.common import PlanArg, err, out


def safety(plan: PlanArg = None) -> None:
    """Show the safety limits a plan runs under (baseline, tightened, overridden) and the
    train-duration table with its verification status (docs/safety.md)."""
    from mirrorvr.config.loader import load_plan, resolve_plan_path
    from mirrorvr.stim.safety.limits import (
        BASELINE,
        HIGHER_IS_LOOSER,
        LOWER_IS_LOOSER,
        effective_limits,
        is_looser,
        loosening_problems,
    )
    from mirrorvr.stim.safety.train_table import default_table

    p = load_plan(resolve_plan_path(plan))
    limits = effective_limits(p.safety)
    overridden = {o.rule: o for o in p.safety.overrides}
    table = Table(title=f"Safety limits: {p.session.name} (profile '{p.safety.name}')")
    for col in ("limit", "in force", "baseline", "how"):
        table.add_column(col, overflow="fold")
    for name in (*HIGHER_IS_LOOSER, *LOWER_IS_LOOSER):
        value, base = getattr(limits.profile, name), getattr(BASELINE, name)
        if name in overridden:
            o = overridden[name]
            how = f"OVERRIDE by {o.approved_by} on {o.approved_on}: {o.reason}"
        elif is_looser(name, float(value), float(base)):
            how = "LOOSER than the baseline without an override: refused"
        elif value != base:
            how = "tightened by the clinic"
        else:
            how = "baseline"
        table.add_row(name, str(value), str(base), rich_escape(how))
    for t in limits.train_overrides:
        o = next(
            o
            for o in p.safety.overrides
            if o.rule == "max_train_duration_s" and o.frequency_hz == t.frequency_hz
        )
        table.add_row(
            f"max_train_duration_s at {t.frequency_hz:g} Hz ≤ {t.up_to_pct_rmt:g} % MT",
            f"{t.max_duration_s:g} s",
            "table",
            rich_escape(f"OVERRIDE by {o.approved_by} on {o.approved_on}: {o.reason}"),
        )
    proto = p.stimulation.protocol
    if proto is not None and proto.paired_pulse_interval_ms:
        from mirrorvr.stim.safety.ceilings import paired_limits

        pl = paired_limits()
        src = f"{pl.source}, UNVERIFIED; a BiStim² sets and reads back the pair"
        span = f"{pl.min_interval_ms:g}–{pl.max_interval_ms:g} ms"
        table.add_row(
            "paired pulse interval",
            span,
            span,
            rich_escape(f"plan: {proto.paired_pulse_interval_ms:g} ms ({src})"),
        )
        gap = f"≥ {pl.min_pair_interval_s:g} s"
        table.add_row("paired pulse repetition", gap, gap, rich_escape(src))
        table.add_row(
            "power B (second pulse)",
            f"≤ {limits.profile.max_intensity_pct_rmt:g} % MT",
            f"≤ {BASELINE.max_intensity_pct_rmt:g} % MT",
            f"plan: {p.stimulation.power_b_pct_rmt:g} % MT (the intensity caps of power A)",
        )
    out.print(table)
    for problem in loosening_problems(p.safety):
        err.print(f"[red]refused:[/red] {rich_escape(str(problem))}")
    tt = default_table()
    grid = Table(
        title="Maximum single-train duration (s): "
        + ("verified" if tt.verified else "[red]UNVERIFIED[/red]")
        + f" — {rich_escape(tt.source)}"
    )
    grid.add_column("% MT", justify="right")
    for f in tt.frequencies:
        grid.add_column(f"{f:g} Hz", justify="right")
    for j, mt in enumerate(tt.intensities):
        grid.add_row(f"{mt:g}", *(row[j] for row in tt.raw))
    out.print(grid)
    out.print(
        "'>x' = longest duration tested, used as x; between rows/columns the stricter one is used"
    )


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command()(safety)

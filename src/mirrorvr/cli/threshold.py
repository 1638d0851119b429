"""``mirrorvr threshold``: a stand-alone motor-threshold hunt (ML-PEST or the 5/10 rule)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mirrorvr.cli.common import StimOpt, TrueMtOpt, out
from mirrorvr.errors import MirrorVRError
from mirrorvr.session.folder import new_session_folder


def threshold(
    method: Annotated[str, typer.Option(help="ml-pest or 5-10.")] = "ml-pest",
    outdir: Annotated[
        Path | None, typer.Option("--out", help="Folder for events.jsonl and threshold.json.")
    ] = None,
    fast: Annotated[
        bool, typer.Option("--fast/--realtime", help="Simulated clock or real time.")
    ] = True,
    stimulator: StimOpt = None,
    emg: Annotated[
        str, typer.Option(help="LSL name of the EMG stream (real stimulator only).")
    ] = "EMG",
    start: Annotated[float, typer.Option(help="First pulse / level, % MSO.")] = 60.0,
    max_trials: Annotated[int, typer.Option(help="ML-PEST: accepted trials to run.")] = 20,
    ci: Annotated[
        float | None, typer.Option(help="ML-PEST: stop when the 95 % CI half-width ≤ this.")
    ] = None,
    max_pulses: Annotated[int, typer.Option(help="Pulses the hunt may use in all.")] = 100,
    isi: Annotated[str, typer.Option(help="Inter-pulse interval MIN,MAX in s (uniform).")] = "4,6",
    criterion: Annotated[float, typer.Option(help="Positive MEP: peak-to-peak > this µV.")] = 50.0,
    max_mso: Annotated[float, typer.Option(help="Never exceed this % MSO.")] = 100.0,
    site: Annotated[str, typer.Option(help="Coil position label of the hunt.")] = "hotspot",
    hotspot: Annotated[
        str | None,
        typer.Option(help="Comma-separated coil positions to search first (hotspot search)."),
    ] = None,
    true_mt: TrueMtOpt = None,
    seed: Annotated[int, typer.Option(help="Seed (simulated patient, pulse jitter).")] = 0,
) -> None:
    """Measure the resting motor threshold from EMG (ML-PEST or the 5/10 rule)."""
    from mirrorvr.config.plan import ThresholdEstimation
    from mirrorvr.run.threshold import ThresholdRun, run_threshold, simulated_true_mt

    try:
        lo, hi = (float(v) for v in isi.split(","))
        cfg = ThresholdEstimation(
            method=method,
            start_pct_mso=start,
            max_trials=max_trials,
            ci_half_width_pct=ci,
            max_pulses=max_pulses,
            isi_s=(lo, hi),
            criterion_uv=criterion,
            emg_stream=emg,
            site=site,
        )
    except ValueError as e:
        raise MirrorVRError(f"threshold options: {e}") from None
    from mirrorvr.run.start import stimulator_option

    given_kind, port = stimulator_option(stimulator)
    kind = given_kind or "ttl-box"
    folder = outdir if outdir is not None else new_session_folder("", parent="thresholds")
    operator = move = None
    if port is not None:

        def operator(pct: float) -> None:
            typer.prompt(f"Set the stimulator to {pct:g} % MSO and press Enter", default="")

        def move(label: str) -> None:
            typer.prompt(f"Place the coil at {label} and press Enter", default="")

    sites = [s.strip() for s in hotspot.split(",") if s.strip()] if hotspot else []
    outcome, hs = run_threshold(
        ThresholdRun(
            out=folder,
            config=cfg,
            realtime=not fast or port is not None,
            stimulator_kind=kind,
            stimulator_port=port,
            true_mt=true_mt if true_mt is not None else 48.0,
            seed=seed,
            max_pct_mso=max_mso,
            hotspot_sites=sites,
            operator=operator,
            move_coil=move,
        )
    )
    table = Table(title=f"Motor threshold ({cfg.method})", show_header=False)
    if hs is not None:
        for s_ in hs.sites:
            med = f"{s_.median_pp_uv:.0f} µV" if s_.median_pp_uv is not None else "-"
            table.add_row(
                f"site {s_.site}",
                f"median MEP {med} ({s_.positive}/{s_.accepted} > {criterion:g} µV)",
            )
        table.add_row("hotspot", str(hs.best))
    est = outcome.estimate
    table.add_row(
        "threshold", f"{est.mt_pct_mso:g} % MSO" if est.mt_pct_mso is not None else "none"
    )
    if est.ci_pct_mso:
        table.add_row("95 % interval", f"{est.ci_pct_mso[0]:.1f}-{est.ci_pct_mso[1]:.1f} % MSO")
    table.add_row(
        "trials / pulses",
        f"{est.n_trials} accepted / {outcome.pulses} ({outcome.rejected} rejected)",
    )
    table.add_row("stopped", f"{outcome.status}: {outcome.reason or est.stop_reason}")
    if port is None:
        true_here = simulated_true_mt(folder)
        if true_here is not None:
            table.add_row("simulated true MT", f"{true_here:g} % MSO at this site")
    out.print(table)
    out.print(f"folder: {folder}")
    mt = outcome.motor_threshold(dt.date.today())
    if mt is None:
        raise typer.Exit(1)
    out.print(
        "[stimulation.motor_threshold]\n"
        f'rmt_pct_mso = {mt.rmt_pct_mso:g}\nmeasured_on = "{mt.measured_on}"\n'
        f'method = "{mt.method}"',
        highlight=False,
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command()(threshold)

"""``mirrorvr emulate | devices``: emulated devices on ptys, and the serial ports here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mirrorvr.cli.common import err, out


def emulate(
    kind: Annotated[str, typer.Argument(help="Device to emulate, e.g. ttl-box.")],
    link: Annotated[Path, typer.Option(help="Symlink to create pointing at the new pty.")],
    log: Annotated[
        Path | None, typer.Option(help="JSON Lines log of every received frame.")
    ] = None,
    emg: Annotated[
        str | None,
        typer.Option(help="Publish the simulated patient's EMG on LSL under this name."),
    ] = None,
    true_mt: Annotated[
        float, typer.Option(help="Simulated patient's true resting motor threshold, % MSO.")
    ] = 48.0,
    panel: Annotated[
        Path | None, typer.Option(help="File holding the stimulator panel's intensity (% MSO).")
    ] = None,
    panel_intensity: Annotated[
        float, typer.Option(help="Panel intensity when no --panel file is given.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated patient.")] = 0,
    fault: Annotated[
        list[str] | None,
        typer.Option(help="Inject a fault: KIND[:PARAM][@N] (see docs/fault-matrix.md)."),
    ] = None,
    line_delay: Annotated[
        bool, typer.Option("--line-delay/--no-line-delay", help="Pace replies like the baud rate.")
    ] = True,
    timing: Annotated[
        str, typer.Option(help="real: arming/recharge/trains take real time; fast: instant.")
    ] = "real",
    firmware: Annotated[str | None, typer.Option(help="Rapid² firmware version, e.g. 9.0.")] = None,
    unlock_code: Annotated[str | None, typer.Option(help="Rapid² (≥ V9) unlock code.")] = None,
    idle_disarm: Annotated[float, typer.Option(help="Idle auto-disarm after S seconds.")] = 60.0,
    stale_interval: Annotated[
        bool,
        typer.Option(
            "--stale-interval",
            help="Magstim: acknowledge the BiStim² interval without applying it (read-back fault).",
        ),
    ] = False,
) -> None:
    """Serve an emulated device on a new pseudo-terminal until interrupted."""
    from mirrorvr.sim.emulate import run_emulator

    body = dict(emg=emg, true_mt=true_mt, panel=panel, panel_intensity=panel_intensity, seed=seed)
    run_emulator(
        kind,
        link,
        log,
        faults=fault or [],
        line_delay=line_delay,
        timing=timing,
        firmware=firmware,
        unlock_code=unlock_code,
        idle_disarm_s=idle_disarm,
        stale_interval=stale_interval,
        **(body if emg else {}),
    )


def devices(
    probe: Annotated[
        bool, typer.Option("--probe", help="Ask each port which stimulator answers.")
    ] = False,
    port: Annotated[
        list[str] | None, typer.Option(help="Probe this port (repeatable; default: all ports).")
    ] = None,
) -> None:
    """List the serial ports this computer has (and, with --probe, which stimulator answers)."""
    from serial.tools import list_ports

    ports = [(p.device, p.description, p.hwid) for p in list_ports.comports()]
    if port:
        known = {d: (d, desc, hw) for d, desc, hw in ports}
        ports = [known.get(p, (p, "", "")) for p in port]
    if not ports:
        out.print("no serial ports found")
        return
    if not probe:
        table = Table("port", "description", "hardware id")
        for dev, desc, hw in ports:
            table.add_row(dev, desc, hw)
        out.print(table)
        return
    _probe_ports(ports)


def _probe_ports(ports: list[tuple[str, str, str]]) -> None:
    from mirrorvr.stim.probe import probe

    err.print(
        "probing sends identification requests (nothing that arms or fires); unplug serial "
        "trigger boxes that are not recognised by their USB id first"
    )
    table = Table("port", "stimulator kind", "what answered")
    for dev, _, hw in ports:
        r = probe(dev, hw)
        table.add_row(r.port, r.kind or "—", r.detail)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    for fn in (emulate, devices):
        app.command()(fn)

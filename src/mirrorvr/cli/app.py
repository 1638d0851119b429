"""The typer app: every command group registered, and ``main()``, the CLI's error boundary."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.markup import escape as rich_escape

from mirrorvr.cli import (
    analysis,
    clinic,
    course,
    devices,
    safety,
    sessions,
    streams,
    threshold,
    trial,
)
from mirrorvr.cli.common import err
from mirrorvr.errors import MirrorVRError

app = typer.Typer(
    name="mirrorvr",
    help="VR mirror therapy + TMS sessions for phantom limb pain, on one clock.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# commands in the order `mirrorvr --help` lists them
_COMMANDS: tuple[Callable[..., None], ...] = (
    sessions.validate,
    sessions.sim,
    sessions.run,
    sessions.resume,
    devices.emulate,
    devices.devices,
    sessions.presets,
    threshold.threshold,
)
for _fn in _COMMANDS:
    app.command()(_fn)
clinic.register(app)
streams.register(app)
analysis.register(app)
safety.register(app)
course.register(app)
trial.register(app)


def main() -> None:
    """Entry point: run the CLI, turning user errors into messages and exit code 2."""
    try:
        app(standalone_mode=False)
    except MirrorVRError as e:
        # escape: messages quote TOML tables such as [screening], which rich would eat
        err.print(f"[red]error:[/red] {rich_escape(str(e))}", highlight=False)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(2)
        raise

"""The typer app: every command group registered, and ``main()``, the CLI's one error boundary.

Exit codes (also in ``mirrorvr --help`` and the README):

* 0 — done; for a session: it completed.
* 1 — a session (or node, or threshold hunt) ran but ended aborted, faulted or without a result.
* 2 — bad usage or input: unknown command or option, bad value, a plan that cannot run, a path
  that cannot be written, a port that cannot be used. One line says what, where, what to do.
* 3 — an internal error (a bug): one line names it and the file holding the details.
* 130 — interrupted (Ctrl-C); any stimulator was disarmed on the way out.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import click
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
    xdf,
)
from mirrorvr.cli.common import err
from mirrorvr.errors import MirrorVRError

EXIT_OK, EXIT_SESSION, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

EXIT_CODES_HELP = (
    "Exit codes: 0 done (a session completed); 1 a session ended aborted or faulted; "
    "2 bad usage or input (what, where and what to do on one line); 3 internal error "
    "(details in a file named on screen); 130 interrupted (Ctrl-C)."
)

app = typer.Typer(
    name="mirrorvr",
    help="VR mirror therapy + TMS sessions for phantom limb pain, on one clock.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
# commands in the order `mirrorvr --help` lists them
for _fn in _COMMANDS:
    app.command()(_fn)
clinic.register(app)
streams.register(app)
xdf.register(app)
analysis.register(app)
safety.register(app)
course.register(app)
trial.register(app)


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """``name`` (ClickException, Exit, Abort) from click and from the click typer bundles.

    typer >= 0.20 ships its own copy of click (``typer._click``) whose exceptions are not
    click's; the public ``typer.BadParameter`` / ``typer.Exit`` lead to whichever is in use.
    """
    found: list[type[BaseException]] = [getattr(click.exceptions, name)]
    for anchor in (typer.BadParameter, typer.Exit, typer.Abort):
        for cls in anchor.__mro__:
            if cls.__name__ == name and cls not in found:
                found.append(cls)
        module = sys.modules.get(anchor.__module__)
        same = getattr(module, name, None) if module is not None else None
        if isinstance(same, type) and issubclass(same, BaseException) and same not in found:
            found.append(same)
    return tuple(found)


USAGE_ERRORS: tuple[type[BaseException], ...] = _click_classes("ClickException")
EXITS: tuple[type[BaseException], ...] = (*_click_classes("Exit"), typer.Exit)
ABORTS: tuple[type[BaseException], ...] = (*_click_classes("Abort"), typer.Abort)


def _usage_line(e: BaseException) -> str:
    """A click usage error as one line: what, in which command, where to look."""
    message = e.format_message() if hasattr(e, "format_message") else str(e)
    ctx = getattr(e, "ctx", None)
    command = ctx.command_path if ctx is not None else "mirrorvr"
    command = command.replace("python -m mirrorvr", "mirrorvr")
    return f"{command}: {message} (see `{command} --help`)"


_OS_ADVICE = {
    errno.EACCES: "choose a place you may write to",
    errno.EPERM: "choose a place you may write to",
    errno.EROFS: "choose a place on a writable disk",
    errno.EEXIST: "a file is in the way: choose another path",
    errno.ENOTDIR: "part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "that is a folder: name a file",
    errno.ENOENT: "check the path",
    errno.ENOSPC: "free some disk space or choose another disk",
    errno.EADDRINUSE: "something else uses that port: choose another with --port",
    errno.EADDRNOTAVAIL: "that address is not on this computer: check --host",
}


def _os_line(e: OSError) -> str:
    """An OSError (unwritable path, busy port) as one line: what, where, what to do."""
    where = e.filename if e.filename is not None else ""
    what = e.strerror or str(e)
    advice = _OS_ADVICE.get(e.errno or 0, "check the path or device")
    return f"{where}: {what}; {advice}" if where else f"{what}; {advice}"


def _internal_error(e: BaseException) -> str:
    """Write the traceback to a file; return one line naming the error and the file."""
    from platformdirs import user_log_dir

    details = "".join(traceback.format_exception(e))
    try:
        folder = Path(user_log_dir("mirrorvr"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{os.getpid()}.txt"
        path.write_text(details, encoding="utf-8")
        where = f"details in {path}"
    except OSError:
        where = "set MIRRORVR_TRACEBACK=1 to see the details"
    return f"internal error: {type(e).__name__}: {e} ({where}; please report it)"


def _error(line: str) -> None:
    # escape: messages quote TOML tables such as [screening], which rich would eat
    err.print(f"[red]error:[/red] {rich_escape(line)}", highlight=False, soft_wrap=True)


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return its exit code (see the module docstring)."""
    try:
        args = list(argv) if argv is not None else None
        rc = app(args=args, prog_name="mirrorvr", standalone_mode=False)
    except MirrorVRError as e:
        _error(str(e))
        return EXIT_USAGE
    except EXITS as e:
        return int(getattr(e, "exit_code", EXIT_SESSION))
    except ABORTS:
        err.print("aborted")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except USAGE_ERRORS as e:
        _error(_usage_line(e))
        return EXIT_USAGE
    except OSError as e:
        _error(_os_line(e))
        return EXIT_USAGE
    except Exception as e:
        if os.environ.get("MIRRORVR_TRACEBACK"):
            raise
        _error(_internal_error(e))
        return EXIT_INTERNAL
    # standalone_mode=False: click returns the code of a typer.Exit instead of raising it
    return rc if isinstance(rc, int) else EXIT_OK


def main() -> None:
    """Entry point (``mirrorvr``): run the CLI and exit with its code."""
    sys.exit(run_cli())

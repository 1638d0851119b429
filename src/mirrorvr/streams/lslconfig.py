"""liblsl configuration: session id, resolve scope and known peers, set before any LSL call.

liblsl reads its configuration once, at the first call that needs it; after that it cannot be
changed in the process. :func:`configure_lsl` must therefore run before any outlet, inlet or
resolver is created. It starts from the file named by the ``LSLAPICFG`` environment variable
(liblsl's own convention, also inherited by child processes), so a test harness or a lab
config file can set the base and the CLI only overrides what it is told to.
"""

from __future__ import annotations

import configparser
import io
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from mirrorvr.errors import MirrorVRError

#: the environment variable liblsl reads a configuration file name from
CONFIG_ENV = "LSLAPICFG"

_lock = threading.Lock()
_applied: str | None = None


class LslConfigError(MirrorVRError):
    """The LSL configuration is invalid or was set too late."""


def config_content(
    *,
    base: str = "",
    session_id: str | None = None,
    resolve_scope: str | None = None,
    known_peers: Sequence[str] | None = None,
    ipv6: bool | None = None,
    log_file: str | None = None,
) -> str:
    """An INI text for liblsl: ``base`` with the given keys overridden (pure).

    ``log_file``: liblsl writes its own log there instead of to the terminal.
    """
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # liblsl keys are case-sensitive
    try:
        cp.read_string(base)
    except configparser.Error as e:
        raise LslConfigError(f"LSL configuration ({CONFIG_ENV}) is not valid INI: {e}") from None

    def put(section: str, key: str, value: str) -> None:
        if not cp.has_section(section):
            cp.add_section(section)
        cp.set(section, key, value)

    if session_id is not None:
        if not session_id.strip() or any(c in session_id for c in "\n\r[]"):
            raise LslConfigError(f"LSL session id {session_id!r} must be a non-empty single word")
        put("lab", "SessionID", session_id)
    if resolve_scope is not None:
        if resolve_scope not in ("machine", "link", "site", "organization", "global"):
            raise LslConfigError(
                f"LSL resolve scope {resolve_scope!r}: use machine, link, site, organization "
                "or global"
            )
        put("multicast", "ResolveScope", resolve_scope)
    if known_peers:
        for peer in known_peers:
            if not peer or any(c in peer for c in " ,{}\n"):
                raise LslConfigError(f"LSL known peer {peer!r} must be one host name or address")
        put("lab", "KnownPeers", "{" + ", ".join(known_peers) + "}")
    if ipv6 is not None:
        put("ports", "IPv6", "allow" if ipv6 else "disable")
    if log_file is not None:
        if any(c in log_file for c in "\n\r"):
            raise LslConfigError(f"LSL log file {log_file!r} must be one line")
        put("log", "file", log_file)
    buf = io.StringIO()
    cp.write(buf)
    return buf.getvalue()


def base_content() -> str:
    """The configuration text named by ``LSLAPICFG`` ("" if unset)."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise LslConfigError(f"{CONFIG_ENV}={path}: cannot read the LSL config file: {e}") from None


def configure_lsl(
    *,
    session_id: str | None = None,
    resolve_scope: str | None = None,
    known_peers: Sequence[str] | None = None,
    ipv6: bool | None = None,
    log_file: Path | None = None,
) -> str:
    """Set liblsl's configuration for this process (``LSLAPICFG`` file + overrides).

    Call it before creating any outlet, inlet or resolver; a second call with the same result
    is a no-op, a different one raises :class:`LslConfigError` (liblsl would ignore it).
    With ``log_file``, liblsl logs there (not to the terminal), and the configuration is also
    written beside it as ``lsl_api.cfg`` and named in ``LSLAPICFG``, so the session's child
    processes (display, emulators) log to the same file. Returns the INI text applied.
    """
    import pylsl

    global _applied
    content = config_content(
        base=base_content(),
        session_id=session_id,
        resolve_scope=resolve_scope,
        known_peers=known_peers,
        ipv6=ipv6,
        log_file=str(log_file.resolve()) if log_file is not None else None,
    )
    with _lock:
        if _applied is not None:
            if _applied != content:
                raise LslConfigError(
                    "the LSL configuration was already set in this process; "
                    "set session id / known peers once, before any stream is opened"
                )
            return content
        pylsl.set_config_content(content)
        _applied = content
        if log_file is not None:
            exported = log_file.with_name("lsl_api.cfg")
            exported.write_text(content, encoding="utf-8")
            os.environ[CONFIG_ENV] = str(exported.resolve())
    return content


def configured() -> str | None:
    """The configuration this process applied through :func:`configure_lsl` (or ``None``)."""
    return _applied

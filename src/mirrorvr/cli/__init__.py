"""The one command line, ``mirrorvr``: a package by command group (parsing and printing only).

Every user-facing error is a :class:`~mirrorvr.errors.MirrorVRError`, printed as a short
message naming file, field or port, with exit code 2 and no traceback. The commands live in
:mod:`mirrorvr.cli.sessions`, ``devices``, ``threshold``, ``clinic``, ``streams``, ``analysis``
and ``safety``; :mod:`mirrorvr.cli.app` builds the app and holds :func:`main`.
"""

from mirrorvr.cli.app import app, main

__all__ = ["app", "main"]

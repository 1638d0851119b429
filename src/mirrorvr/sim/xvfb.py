"""A private X server (Xvfb) for GLX rendering on machines without a display.

OpenXR's OpenGL binding on Linux is Xlib/GLX, so the headset backend needs an X server even
when nothing is shown on a monitor; Xvfb with Mesa's software GLX is enough.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from types import TracebackType

from mirrorvr.errors import DeviceError


class Xvfb:
    """Starts ``Xvfb`` on a free display number; ``display`` is e.g. ``":12"``."""

    def __init__(self, size: tuple[int, int] = (640, 480)) -> None:
        self.size = size
        self.display = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server and return its display name."""
        exe = shutil.which("Xvfb")
        if exe is None:
            raise DeviceError(
                "the OpenXR display needs an X server: set DISPLAY, or install Xvfb "
                "(scripts/bootstrap installs it as root)"
            )
        read_fd, write_fd = os.pipe()
        self._proc = subprocess.Popen(
            [
                exe,
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{self.size[0]}x{self.size[1]}x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
            start_new_session=True,  # Ctrl-C goes to the session, which stops Xvfb last
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            number = f.readline().strip()
        if not number:
            self.stop()
            raise DeviceError("Xvfb did not start (no display number reported)")
        self.display = f":{number}"
        return self.display

    def stop(self) -> None:
        """Stop the server."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def __enter__(self) -> Xvfb:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""Serving the console with uvicorn: in the foreground (CLI) or in a background thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import uvicorn

from mirrorvr.clinic.console.app import create_app
from mirrorvr.clinic.console.auth import Access, ConsoleError
from mirrorvr.clinic.store import ClinicStore


def default_sessions_dir(store: ClinicStore) -> Path:
    """Session folders live beside the database unless told otherwise."""
    return store.path.parent / "sessions"


class ConsoleServer:
    """A uvicorn server for the console app, run in a thread (``start``/``stop``)."""

    def __init__(
        self,
        store: ClinicStore,
        access: Access,
        *,
        port: int = 8765,
        sessions_dir: Path | None = None,
        realtime: bool = True,
    ) -> None:
        self.access = access
        self.port = port
        self.app = create_app(
            store, access, sessions_dir or default_sessions_dir(store), realtime=realtime
        )
        config = uvicorn.Config(
            self.app, host=access.host, port=port, log_level="warning", ws="websockets-sansio"
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address to open, token included (in the fragment: never sent to a server log)."""
        host = (
            "127.0.0.1"
            if self.access.host in ("127.0.0.1", "localhost", "0.0.0.0")
            else self.access.host
        )
        if self.access.lan and self.access.host == "0.0.0.0":
            host = _lan_address()
        return f"http://{host}:{self.port}/#token={self.access.token}"

    def serve(self) -> None:
        """Serve in this thread until interrupted."""
        try:
            self.server.run()
        except OSError as e:
            raise ConsoleError(f"cannot serve on {self.access.host}:{self.port}: {e}") from None

    def start(self, timeout: float = 30.0) -> ConsoleServer:
        """Serve in a background thread; returns once it accepts connections."""
        self._thread = threading.Thread(target=self.server.run, name="console-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConsoleError(f"the console did not start on {self.access.host}:{self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop serving (any live session is stopped first: it ends disarmed)."""
        live = self.app.state.console.live
        if live is not None and not live.ended.is_set():
            live.stop()
            live.join(30)
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lan_address() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent for a UDP connect
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostname()

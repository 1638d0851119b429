"""A multichannel EMG stream from LSL as a feed for phantom motor execution.

:class:`LslEmgFeed` follows an amplifier's stream (type ``EMG``, chosen by name) on its own
thread and buffers the samples; the PME engine takes them with :meth:`~LslEmgFeed.poll` from
the session's thread. Timestamps are liblsl-corrected onto this machine's clock. The feed
reports a problem while the stream is lost or stalled (no samples for ``stall_s``), so the
session pauses rather than moving the phantom on stale data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock

#: seconds without a sample before a connected stream counts as stalled
STALL_S = 1.0
#: how long one pull waits for samples (s)
POLL_S = 0.005


class LslEmgFeed:
    """Follows the EMG stream ``name`` (``channels`` channels) and hands out its samples."""

    def __init__(
        self,
        name: str,
        channels: int,
        *,
        stall_s: float = STALL_S,
        poll_s: float = POLL_S,
        also_close: Callable[[], None] | None = None,
    ) -> None:
        from mirrorvr.streams.inlets import emg_follower
        from mirrorvr.streams.lslconfig import configure_lsl, configured

        if configured() is None:
            configure_lsl()
        self.name = name
        self.channels = channels
        #: closed with the feed (e.g. the simulated amplifier publishing the stream)
        self.also_close = also_close
        self.fs = 0.0
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._data = threading.Condition(self._lock)
        self._first: float | None = None
        self._x: list[NDArray[np.float64]] = []
        self._ts: list[NDArray[np.float64]] = []
        self._last_arrival: float | None = None
        self._status = "waiting"
        self.mismatch: str | None = None
        # liblsl's pull_chunk waits its whole timeout for a full chunk: a short one keeps the
        # decoding latency low (the decoder sees samples within ~poll_s of their arrival)
        self.follower = emg_follower(
            self._on_samples, name=name, on_status=self._on_status, poll_s=poll_s
        )
        self.follower.start()

    def wait_connected(self, timeout: float) -> None:
        """Block until the stream is found and its first samples arrived; ``DeviceError``
        naming it if not (the follower measures the clock offset before its first pull)."""
        end = local_clock() + timeout
        if not self.follower.connected.wait(timeout):
            raise DeviceError(
                f"no EMG stream named {self.name!r} found on LSL within {timeout:g} s: start the "
                "amplifier's LSL app and check [[blocks]] emg_stream in the plan"
            )
        with self._data:
            while self._first is None and local_clock() < end and self.mismatch is None:
                self._data.wait(0.05)
        if self.mismatch is not None:
            raise DeviceError(self.mismatch)
        if self._first is None:
            raise DeviceError(
                f"EMG stream {self.name!r} was found but sent no samples within {timeout:g} s"
            )
        d = self.follower.description
        if d is not None:
            self.fs = float(d.nominal_srate) or self.fs

    def _on_status(self, follower: Any, what: str, details: dict[str, Any]) -> None:
        if what in ("connected", "restored", "resumed", "lost", "stalled", "error"):
            with self._lock:
                self._status = what
                if what == "restored":  # samples follow after the clock offset is measured
                    self._last_arrival = local_clock() + 2.0

    def _on_samples(self, follower: Any, stamps: NDArray[np.float64], values: Any) -> None:
        x = np.asarray(values, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        with self._lock:
            if x.shape[1] != self.channels:
                self.mismatch = (
                    f"stream {self.name!r} has {x.shape[1]} channels, the plan expects "
                    f"{self.channels} (emg_channels)"
                )
                return
            self._x.append(x)
            self._ts.append(np.asarray(stamps, dtype=np.float64))
            self._last_arrival = local_clock()
            if self._first is None:
                self._first = self._last_arrival
                self._data.notify_all()

    def poll(self, until: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Every sample that has arrived since the last poll (``until`` is not waited for)."""
        with self._lock:
            xs, ts = self._x, self._ts
            self._x, self._ts = [], []
        if not ts:
            return np.zeros((0, self.channels)), np.zeros(0)
        return np.concatenate(xs), np.concatenate(ts)

    def problem(self) -> str | None:
        """Lost, stalled, wrong channel count, or never found."""
        with self._lock:
            status, last, mismatch = self._status, self._last_arrival, self.mismatch
        if mismatch:
            return mismatch
        if status in ("lost", "error"):
            return f"stream {self.name!r} lost"
        if last is None:
            return f"stream {self.name!r} not connected"
        if local_clock() - last > self.stall_s:
            return f"stream {self.name!r}: no samples for more than {self.stall_s:g} s"
        return None

    def close(self) -> None:
        """Stop following the stream (and close what came with it)."""
        self.follower.stop()
        if self.also_close is not None:
            self.also_close()

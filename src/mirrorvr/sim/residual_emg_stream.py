"""The simulated residual limb's EMG published on LSL in real time (like an amplifier would).

:class:`ResidualEmgPublisher` renders :class:`~mirrorvr.sim.residual_emg.ResidualLimbEmg` up
to the present every ``chunk_s`` on its own thread and pushes it to an outlet of type ``EMG``
(``channels`` channels in µV, labelled ``E1``…``E8`` around the stump), each sample stamped with
its own LSL time. The simulated patient acts on the same limb object from the session's thread
(the limb locks its executions), so what the patient does shows up in the stream within a
chunk. ``pause``/``stop`` let tests take the stream away.
"""

from __future__ import annotations

import threading

import numpy as np

from mirrorvr.session.clock import local_clock
from mirrorvr.sim.residual_emg import ResidualEmgModel, ResidualLimbEmg


class ResidualEmgPublisher:
    """Publishes the simulated residual limb's EMG on LSL (own thread; context manager)."""

    def __init__(
        self,
        name: str,
        model: ResidualEmgModel | None = None,
        *,
        seed: int = 0,
        patient_seed: int = 0,
        chunk_s: float = 0.01,
        source_id: str | None = None,
    ) -> None:
        import pylsl

        from mirrorvr.streams.lslconfig import configure_lsl, configured

        if configured() is None:
            configure_lsl()
        m = model or ResidualEmgModel()
        info = pylsl.StreamInfo(
            name, "EMG", m.channels, m.fs, pylsl.cf_float32, source_id or f"{name}-sim-residual"
        )
        chans = info.desc().append_child("channels")
        for c in range(m.channels):
            ch = chans.append_child("channel")
            ch.append_child_value("label", f"E{c + 1}")
            ch.append_child_value("unit", "microvolts")
            ch.append_child_value("type", "EMG")
        info.desc().append_child_value("manufacturer", "mirrorvr simulated residual limb")
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)
        self.limb = ResidualLimbEmg(m, t0=local_clock(), seed=seed, patient_seed=patient_seed)
        self.chunk_s = chunk_s
        self.pushed = 0
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._run, name="residual-emg", daemon=True)

    def start(self) -> ResidualEmgPublisher:
        """Start publishing."""
        self._thread.start()
        return self

    def pause(self, paused: bool = True) -> None:
        """Stop pushing (the samples are still rendered and dropped: a dead amplifier link)."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def stop(self) -> None:
        """Stop publishing and destroy the outlet (the stream disappears)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self.outlet = None

    def _run(self) -> None:
        while not self._stop.wait(self.chunk_s):
            x, ts = self.limb.render(local_clock())
            if len(ts) and not self._paused.is_set() and self.outlet is not None:
                self.outlet.push_chunk(
                    np.ascontiguousarray(x, dtype=np.float32), timestamp=ts.tolist()
                )
                self.pushed += len(ts)

    def __enter__(self) -> ResidualEmgPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

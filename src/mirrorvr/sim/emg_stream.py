"""EMG over LSL: the simulated body publishing in real time, and the inlet MEPs are read from.

The body lives in the *emulator's* process: the emulated stimulator calls
:meth:`EmgPublisher.pulse` on every pulse it delivers (for the TTL box, on each rising edge,
at the intensity its panel is set to), so the MEP answers what the device did, not what the
session code meant to do. The publisher renders EMG at 2 kHz a little behind real time
(``lag_s``, 250 ms, so a pulse is known before samples after it are rendered, even when
a loaded machine delays the emulator) and pushes it to an
outlet of type ``EMG`` in µV.

:class:`LslEmgSource` is the :class:`~mirrorvr.threshold.procedure.EmgSource` for live EMG
(simulated or a real amplifier): it follows the stream on its own thread and hands out the
epoch around each pulse once the samples have arrived.

The TTL box cannot tell the emulator its intensity (it is set on the stimulator's panel): the
panel is a small file (``--panel PATH``) that the simulated operator writes when the procedure
asks for an intensity (:func:`panel_operator`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from mirrorvr.errors import DeviceError
from mirrorvr.session.clock import local_clock
from mirrorvr.sim.emg import BodyModel, EmgGenerator

EMG_RATE_HZ = 2000.0


class EmgPublisher:
    """Renders the body's EMG in real time onto an LSL outlet (own thread)."""

    def __init__(
        self,
        name: str,
        model: BodyModel | None = None,
        *,
        seed: int = 0,
        lag_s: float = 0.25,
        chunk_s: float = 0.02,
        source_id: str | None = None,
    ) -> None:
        import pylsl

        from mirrorvr.streams.lslconfig import configure_lsl, configured

        if configured() is None:  # LSLAPICFG (inherited from the parent) before any outlet
            configure_lsl()
        self.model = model or BodyModel(fs=EMG_RATE_HZ)
        info = pylsl.StreamInfo(
            name, "EMG", 1, self.model.fs, pylsl.cf_float32, source_id or f"{name}-sim-emg"
        )
        ch = info.desc().append_child("channels").append_child("channel")
        ch.append_child_value("label", "FDI")
        ch.append_child_value("unit", "microvolts")
        ch.append_child_value("type", "EMG")
        info.desc().append_child_value("manufacturer", "mirrorvr simulated patient")
        self.outlet = pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)
        self.lag_s = lag_s
        self.chunk_s = chunk_s
        self.generator = EmgGenerator(self.model, t0=local_clock(), seed=seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emg-publisher", daemon=True)

    def start(self) -> EmgPublisher:
        """Start publishing."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop publishing and close the outlet."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)

    def pulse(self, t: float, intensity_pct_mso: float) -> None:
        """The emulated device delivered a pulse at LSL time ``t``."""
        with self._lock:
            self.generator.add_pulse(t, intensity_pct_mso)

    def _run(self) -> None:
        while not self._stop.wait(self.chunk_s):
            with self._lock:
                x, ts = self.generator.render(local_clock() - self.lag_s)
            if len(ts):
                self.outlet.push_chunk(x.astype(np.float32).reshape(-1, 1), timestamp=float(ts[-1]))


def read_panel(path: Path, default: float) -> float:
    """The intensity the (emulated) stimulator's panel is set to, % MSO."""
    try:
        return float(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return default


def panel_operator(path: str | Path) -> Any:
    """A simulated operator who sets the panel (writes the panel file atomically)."""
    p = Path(path)

    def set_panel(pct_mso: float) -> None:
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(f"{pct_mso:g}\n", encoding="utf-8")
        os.replace(tmp, p)

    return set_panel


def body_from_options(opts: dict[str, Any]) -> tuple[EmgPublisher, Path | None, float] | None:
    """An EMG publisher from emulator options (``emg``, ``true_mt``, ``seed``, ``panel``)."""
    name = opts.get("emg")
    if not name:
        return None
    model = BodyModel(true_threshold_pct_mso=float(opts.get("true_mt") or 48.0), fs=EMG_RATE_HZ)
    pub = EmgPublisher(str(name), model, seed=int(opts.get("seed") or 0)).start()
    panel = Path(opts["panel"]) if opts.get("panel") else None
    return pub, panel, float(opts.get("panel_intensity") or 0.0)


class LslEmgSource:
    """Live EMG from an LSL stream, on this machine's clock; epochs around pulses on demand."""

    def __init__(self, name: str | None = None, *, keep_s: float = 30.0, timeout_s: float = 10.0):
        from mirrorvr.streams.inlets import emg_follower
        from mirrorvr.streams.lslconfig import configure_lsl, configured

        if configured() is None:
            configure_lsl()
        self.name = name
        self.keep_s = keep_s
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._ts: list[np.ndarray] = []
        self._x: list[np.ndarray] = []
        self._last = -np.inf
        self.follower = emg_follower(self._on_samples, name=name).start()

    def _on_samples(self, follower: Any, stamps: np.ndarray, values: Any) -> None:
        x = np.asarray(values, dtype=float)[:, 0]
        with self._cond:
            self._ts.append(stamps)
            self._x.append(x)
            self._last = float(stamps[-1])
            # keep a bounded history: epochs are only ever asked for just after a pulse
            while len(self._ts) > 1 and self._ts[0][-1] < self._last - self.keep_s:
                self._ts.pop(0)
                self._x.pop(0)
            self._cond.notify_all()

    def wait_connected(self, timeout: float | None = None) -> None:
        """Block until the stream is found (``DeviceError`` naming it if not)."""
        if not self.follower.connected.wait(timeout or self.timeout_s):
            raise DeviceError(
                f"no EMG stream{f' named {self.name!r}' if self.name else ''} found on LSL: "
                "start the amplifier's LSL app (or the simulated patient) and check its name"
            )

    def pulse_delivered(self, t: float, intensity_pct_mso: float) -> None:
        """Nothing to do: the muscle answers the device, not us."""

    def epoch(self, t: float, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Wait for samples past ``t + end_s``, then return ``t + start_s`` … ``t + end_s``."""
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while self._last < t + end_s:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceError(
                        f"EMG stream {self.name or '(any)'}: no samples up to {end_s * 1000:.0f} "
                        f"ms after the pulse within {self.timeout_s:g} s (stream lost or stalled)"
                    )
                self._cond.wait(min(left, 0.1))
            ts = np.concatenate(self._ts) if self._ts else np.zeros(0)
            x = np.concatenate(self._x) if self._x else np.zeros(0)
        sel = (ts >= t + start_s - 0.01) & (ts <= t + end_s + 0.01)
        return x[sel], ts[sel]

    def close(self) -> None:
        """Stop following the stream."""
        self.follower.stop()

    def __enter__(self) -> LslEmgSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

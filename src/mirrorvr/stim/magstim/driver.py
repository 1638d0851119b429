"""Magstim 200², BiStim² and Rapid² drivers.

One command/reply exchange at a time (a lock serialises them), every reply parsed by the
grammar of magstim-serial.md §3 into a :class:`~mirrorvr.stim.magstim.protocol.Reply` or a
typed exception. A keep-alive thread keeps remote control: it sends a status-returning command
whenever none went out for 0.25 s while charged (device rule: ≤ 1 s) or 2.5 s otherwise
(≤ 10 s); it yields to a waiting time-critical command (fire) and never interleaves with one.

Safety behaviour:

- any protocol error, fault bit, lost remote control or read-back mismatch disarms the device
  (best effort) and leaves the driver *faulted*: every later call except ``disarm``/``close``/
  ``status`` raises the fault until the driver is reconnected;
- ``disarm`` writes ``EAy`` at once from the calling thread, without waiting for an exchange in
  flight; the reply is collected by whichever exchange reads next;
- intensities are whole percent: a fractional plan intensity is rounded *down* (never above
  what the plan allows) and the value set is what ``status`` reports.
"""

from __future__ import annotations

import logging
import math
import time
from typing import ClassVar

from mirrorvr.errors import DeviceError
from mirrorvr.stim.base import DisarmOutcome, StimulatorStatus
from mirrorvr.stim.errors import (
    ConflictError,
    DeviceFaultError,
    ReadbackMismatch,
)
from mirrorvr.stim.magstim.link import DISARM_FRAME, MagstimLink
from mirrorvr.stim.magstim.protocol import (
    MODE_ARM,
    MODE_FIRE,
    digits,
    frame,
)
from mirrorvr.stim.priority import realtime_boost
from mirrorvr.stim.transport import is_pty

log = logging.getLogger(__name__)


class MagstimDriver(MagstimLink):
    """Shared machinery of the Magstim family (use a subclass for a model)."""

    kind = "magstim-200"
    model_name: ClassVar[str] = "Magstim 200²"
    max_power: ClassVar[int] = 100

    # ---------------------------------------------------------------- Stimulator API

    def connect(self) -> None:
        """Open the port, take remote control, read the parameters, start the keep-alive."""
        self.transport.open()
        self._is_pty = is_pty(self.port)
        self.transport.reset_input()
        self._fault = None
        self._connected = True
        try:
            self._identify()
            self._remote = True
            self._check_status("Q")
            self.read_parameters()
        except DeviceError as e:
            self._connected = False
            err = self._fail(e)
            self.transport.close()
            raise err from None
        self._start_keepalive()

    def _identify(self) -> None:
        # a unit (or a USB adapter) can be slow to answer the very first command
        self._exchange("Q", timeout=max(2.0, self.reply_timeout_s))

    def read_parameters(self) -> None:
        """Refresh the cached power (``J``)."""
        r = self._command("J")
        self.power_a = r.number(0, 3)

    def arm(self) -> None:
        """Arm and wait until the unit is ready to fire (keep-alive continues meanwhile)."""
        self._raise_if_faulted()
        try:
            self._exchange("E", MODE_ARM)
        except ConflictError:
            pass  # arming an armed unit is a non-fatal conflict (magstim-serial.md §3)
        except DeviceError as e:
            raise self._fail(e) from None
        self._expect_charged = True
        self._wait_ready(self.arm_timeout_s, "arm")

    def _wait_ready(self, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            st = self._command(chr(self.keepalive_frame[0]), self.keepalive_frame[1:-1]).status
            if st is not None and st.ready:
                return
            if time.monotonic() > deadline:
                raise self._fail(
                    DeviceFaultError(
                        f"{self.port}: the {self.model_name} was not ready {timeout:g} s after "
                        f"{what} (status {st.raw if st else 0:02x})"
                    )
                )
            time.sleep(0.02)

    def disarm(self) -> DisarmOutcome:
        """Write the disarm frame now, from this thread; collect its reply if the link is free.

        ``confirmed`` only when the unit acknowledged the disarm with a valid reply; a write that could not be made is ``failed``; a write whose reply was not seen
        (the link busy, lost or garbled) is ``unknown`` (the unit's own watchdog disarms it
        about a second after the last command, magstim-serial.md).
        """
        self._expect_charged = False
        self._ready_known = False
        if not self.transport.is_open:
            return DisarmOutcome("failed", "write disarm", f"{self.port} is closed")
        try:
            # at real-time priority: whichever thread calls, the frame leaves before anything
            # else on the machine can run (the reply is collected at normal priority below)
            with realtime_boost():
                t = self.transport.write(DISARM_FRAME)
        except DeviceError as e:
            log.warning("%s: disarm could not be written: %s", self.port, e)
            return DisarmOutcome("failed", "write disarm", str(e))
        self.last_disarm_write_t = t
        with self._pending_lock:
            self._pending_disarm += 1
        self._disarm_reply = None
        if not self._lock.acquire(timeout=1.0):
            return DisarmOutcome("unknown", "read disarm reply", "the link stayed busy for 1 s")
        try:
            self._drain_pending_disarms()
        except DeviceError as e:
            log.warning("%s: disarm sent, reply not understood: %s", self.port, e)
            with self._pending_lock:
                self._pending_disarm = 0
            return DisarmOutcome("unknown", "read disarm reply", str(e))
        finally:
            self._lock.release()
        st = self._disarm_reply
        if st is None:
            # another thread collected the reply: its status is the latest we know
            return DisarmOutcome("unknown", "read disarm reply", "no reply seen by this call")
        # the reply's status is the state *before* the command (magstim-serial.md §4): a valid
        # reply to the disarm is the unit's acknowledgement that it carried it out
        return DisarmOutcome("confirmed", detail=f"acknowledged (status before: {st.raw:02x})")

    def _power_ok(self, pct: int) -> None:
        if not 0 <= pct <= self.max_power:
            raise DeviceError(
                f"{self.model_name} power must be 0..{self.max_power} % MSO, got {pct}"
            )

    def set_intensity(self, pct_mso: float) -> None:
        """Set power A (whole percent, rounded down) and verify it by reading it back."""
        pct = math.floor(pct_mso + 1e-9)
        self._power_ok(pct)
        self._command("@", digits(pct, 3, "power"))
        self._verify("power A", pct, self._read_power_a())

    def _read_power_a(self) -> int:
        self.read_parameters()
        assert self.power_a is not None
        return self.power_a

    def _verify(self, what: str, sent: int, got: int) -> None:
        if sent != got:
            raise self._fail(
                ReadbackMismatch(
                    f"{self.port}: {what} set to {sent} but the {self.model_name} reports {got}"
                )
            )

    def trigger(self) -> float:
        """Fire one pulse (``EHr``) once the unit reports ready; returns the write time."""
        self._raise_if_faulted()
        if not self._expect_charged:
            raise DeviceError(f"trigger refused: the {self.model_name} on {self.port} is disarmed")
        self._critical.set()
        try:
            with self._lock:
                if not self._ready_known:
                    self._wait_ready(self.ready_timeout_s, "the last pulse (recharge)")
                try:
                    packet = frame("E", MODE_FIRE)
                    self._drain_pending_disarms()
                    self.transport.reset_input()
                    t = self.transport.write(packet)
                    reply = self._read_reply("E")
                    self._note_status(reply, "E", t)
                    self._ready_known = False
                    self._check_status("E")
                except DeviceError as e:
                    raise self._fail(e) from None
                return t
        finally:
            self._critical.clear()

    def status(self) -> StimulatorStatus:
        """A fresh status (one exchange) when possible, else the last one known."""
        if self._connected and self._fault is None:
            try:
                self._command(chr(self.keepalive_frame[0]), self.keepalive_frame[1:-1])
            except DeviceError:
                pass
        st = self.status_byte
        return StimulatorStatus(
            connected=self._connected and self.transport.is_open,
            armed=bool(st and st.charged),
            ready=bool(st and st.ready),
            intensity_pct_mso=self.power_a,
            faults=(str(self._fault),) if self._fault else (),
            extra={
                "status_byte": st.raw if st else None,
                "version": self.version,
                "keepalive_priority": self.keepalive_priority,
            },
        )

    def close(self) -> None:
        """Stop the keep-alive, disarm, hand control back to the unit, close the port."""
        self._stop_keepalive()
        self.disarm()
        if self.transport.is_open and self._connected:
            try:
                with self._lock:
                    self.transport.write(frame("R"))
                    self._read_reply("R")
            except DeviceError:
                pass  # the disarm above is what matters; the unit drops remote by itself
        self._connected = False
        self._remote = False
        self.transport.close()

    # ---------------------------------------------------------------- shared commands

    def temperatures(self) -> tuple[float, float]:
        """Coil temperatures in °C (``F``)."""
        self._raise_if_faulted()
        try:
            t1, t2 = self._temperatures_raw()
        except DeviceError as e:
            raise self._fail(e) from None
        return t1 / 10.0, t2 / 10.0

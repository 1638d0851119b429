"""Byte-exact emulator of a MagVenture MagPro (X100 by default) on its serial port.

Models (magventure-serial.md §3–§7): frames with CRC-8/MAXIM (bad frames are dropped silently,
no error reply is known), both length variants of commands 1, 3, 7 and 9, the status byte,
replies to gets 0, 5, 9 and the undocumented 0A/0B/0C, and the unsolicited messages: 1 on every
amplitude change, 3 on enable/disable, 2 (di/dt) after every pulse, 8 on page changes and train
start/stop. Command 3 fires only when enabled; 4 and 6 act only on the Timing page; trains run
at the rep rate with the inter-train interval counted from last pulse to first. Replies come
20–80 ms after the command in real timing (the typical latency reported), at once in fast
timing. The protocol has no keep-alive, so there is no watchdog; the 60 s idle auto-disarm is
the emulator's model (UNVERIFIED for the MagPro).
"""

from __future__ import annotations

import random
from typing import IO, Any

from mirrorvr.sim.faults import GARBAGE
from mirrorvr.sim.pty_link import PtyLink
from mirrorvr.sim.serial_emulator import SerialEmulator
from mirrorvr.stim.magventure.protocol import (
    FrameReader,
    burst_ipi_index,
    frame,
    status_byte,
    twin_ipi_index,
    u16,
)

OVERTEMP_C = 45


class MagVentureEmulator(SerialEmulator):
    """One MagPro on a pty."""

    name = "magventure"
    baudrate = 38400

    def __init__(
        self,
        link: PtyLink,
        log_file: IO[str] | None = None,
        *,
        model: int = 1,
        seed: int = 0,
        **kw: Any,
    ) -> None:
        super().__init__(link, log_file, **kw)
        self.reader = FrameReader()
        self.rng = random.Random(seed)
        self.model, self.mode, self.direction, self.waveform = model, 0, 0, 1
        self.enabled = False
        self.error = False
        self.amp_a, self.amp_b = 0, 0
        self.serial_number = 0x010203
        self.temp, self.coil = 28, 60
        self.page = 1
        self.rate_x10, self.train_pulses, self.trains, self.iti_x10 = 10, 1, 1, 10
        self.timing_control = 0
        self.delay_in, self.delay_out, self.delay_charge = 0, 0, 0
        self.burst_index, self.ipi_index, self.ratio_index = 3, 170, 80
        self.stim_count = 0
        self.train: list[float] = []
        self.last_activity = 0.0
        self._cur_fault: str | None = None
        self._late = 0.0

    # ------------------------------------------------------------------ output

    def status(self) -> int:
        """The status byte now."""
        return status_byte(self.model, self.enabled, self.waveform, self.mode)

    def emit(self, body: bytes, t_extra: float = 0.0) -> None:
        """Send one message after the reply latency, applying the frame's fault."""
        data = frame(body)
        f = self._cur_fault
        if f == "drop":
            return
        if f == "checksum":
            data = data[:-2] + bytes([data[-2] ^ 0x5A, data[-1]])
        elif f == "garbage":
            data = GARBAGE + data
        latency = 0.0 if self.fast else self.rng.uniform(0.02, 0.08)
        self.send(data, latency + self._late + t_extra)

    # ------------------------------------------------------------------ input

    def feed(self, data: bytes, t: float) -> None:
        """Frame the host bytes (garbage is skipped silently) and act on each command."""
        before = self.reader.discarded
        for body in self.reader.feed(data):
            self.handle(body, t)
        if self.reader.discarded > before:
            self.log(t=t, action="discarded", n=self.reader.discarded - before)

    def handle(self, body: bytes, t: float) -> None:
        """Act on one valid command frame."""
        fault = self.fault_for_frame()
        self._cur_fault = fault.kind if fault else None
        self._late = (fault.param or 1.5) if fault and fault.kind == "late" else 0.0
        rec: dict[str, Any] = {"t": t, "rx": frame(body).hex()}
        if fault is not None:
            rec["fault"] = fault.kind
            if fault.kind == "disconnect":
                self.log(**rec, action="ignored (link lost)")
                self.disconnect(fault.param)
                return
            if fault.kind == "overtemp":
                self.temp = OVERTEMP_C
                self._disable(t, "coil over-temperature")
                self._cur_fault = None
                self.emit(bytes([0x03, self.temp, self.coil, self.status()]))
            elif fault.kind == "error-bits":
                self.error = True
                self._disable(t, "device error")
                self._cur_fault = None
                self.emit(bytes([0xF0, 0x01, self.status()]))  # an ID seen but undecoded ([XL])
                self.emit(bytes([0x03, self.temp, self.coil, self.status()]))
        if fault is not None and fault.kind == "conflict":
            action = self.ignore(body, t)
        else:
            action = self.execute(body, t)
        rec["action"] = action
        self.log(**rec)
        self._cur_fault, self._late = None, 0.0

    def _disable(self, t: float, cause: str) -> None:
        if self.enabled or self.train:
            if self.train:
                self.log(t=t, action="train-stopped", remaining=len(self.train))
                self.train = []
            self.enabled = False
            self.log(t=t, action="disarmed", cause=cause)

    def ignore(self, body: bytes, t: float) -> str:
        """The unit ignores the command but reports its (unchanged) state where it would reply."""
        cid = body[0]
        if cid == 0x01:
            self.emit(bytes([0x01, self.amp_a, self.amp_b, self.status()]))
        elif cid == 0x02:
            self.emit(bytes([0x03, self.temp, self.coil, self.status()]))
        elif cid == 0x07:
            self.emit(bytes([0x08, self.page, int(bool(self.train)), self.status()]))
        elif cid in (0x00, 0x05, 0x09, 0x0A, 0x0B, 0x0C):
            return self.execute(body, t)
        return "ignored (injected conflict)"

    def execute(self, body: bytes, t: float) -> str:
        """Carry out one command."""
        cid, data = body[0], body[1:]
        if cid == 0x00:
            self.emit(self._status_body(0x00))
            return "status"
        if cid == 0x05:
            b = self._status_body(0x05) + bytes(
                [self.amp_a, self.amp_b, 100, 100, self.page, int(bool(self.train))]
            )
            self.emit(b)
            return "long status"
        if cid == 0x01 and len(data) in (1, 2):
            amp_a = data[0]
            amp_b = data[1] if len(data) == 2 else self.amp_b
            if amp_a > 100 or amp_b > 100:
                return "amplitude out of range (ignored)"
            self.amp_a, self.amp_b = amp_a, amp_b
            self.emit(bytes([0x01, self.amp_a, self.amp_b, self.status()]))
            return f"amplitude {amp_a}/{amp_b}"
        if cid == 0x02 and len(data) == 1:
            if data[0] == 1:
                if self.error or self.temp >= OVERTEMP_C:
                    self.emit(bytes([0x03, self.temp, self.coil, self.status()]))
                    return "enable refused (error or coil too hot)"
                if not self.enabled:
                    self.enabled = True
                    self.last_activity = t
                    self.note_armed()
                    self.log(t=t, action="armed")
            else:
                self._disable(t, "host")
            self.emit(bytes([0x03, self.temp, self.coil, self.status()]))
            return "enable" if data[0] else "disable"
        if cid == 0x03 and len(data) in (0, 1):
            if not self.enabled:
                return "trigger ignored (disabled)"
            self._pulse(t)
            return "trigger"
        if cid == 0x04 and not data:
            if self.page != 2 or not self.enabled or self.train:
                return "start ignored (not Timing page, disabled or running)"
            self._start_train(t)
            return "train start"
        if cid == 0x06 and len(data) == 8:
            if self.page != 2:
                return "train parameters ignored (not Timing page)"
            self.rate_x10 = int.from_bytes(data[0:2], "big")
            self.train_pulses = int.from_bytes(data[2:4], "big")
            self.trains = int.from_bytes(data[4:6], "big")
            self.iti_x10 = int.from_bytes(data[6:8], "big")
            return "train parameters"
        if cid == 0x07 and len(data) in (1, 2):
            if data[0] in (1, 2, 3, 4, 7):
                self.page = data[0]
            self.emit(bytes([0x08, self.page, int(bool(self.train)), self.status()]))
            return f"page {self.page}"
        if cid == 0x08 and len(data) == 8:
            self.delay_in = int.from_bytes(data[0:2], "big")
            self.delay_out = int.from_bytes(data[2:4], "big", signed=True)
            self.delay_charge = int.from_bytes(data[4:6], "big")
            return "delays"
        if cid == 0x09 and data[:1] == b"\x00" and len(data) in (1, 10):
            self.emit(bytes([0x09, 0x00, self.model, self.mode, self.direction, self.waveform,
                             self.burst_index, self.ipi_index & 0xFF, self.ipi_index >> 8,
                             self.ratio_index]))  # fmt: skip
            return "pulse setup get"
        if cid == 0x09 and data[:1] == b"\x01" and len(data) == 10:
            model, mode, direction, wave, burst = data[1:6]
            ipi = int.from_bytes(data[6:8], "big") / 10.0
            ratio = int.from_bytes(data[8:10], "big") / 100.0
            try:
                ipi_i = burst_ipi_index(ipi) if wave == 3 else twin_ipi_index(ipi)
            except ValueError:
                return "pulse setup ignored (IPI not a setting)"
            self.model, self.mode, self.direction, self.waveform = model, mode, direction, wave
            self.burst_index, self.ipi_index = burst, ipi_i
            self.ratio_index = (
                100 - round(ratio * 100) if mode == 3 else round((5.0 - ratio) / 0.05)
            )
            return "pulse setup"
        if cid == 0x0A and data == b"\x00":
            self.emit(bytes([0x0A, 0x00]) + u16(self.delay_in)
                      + self.delay_out.to_bytes(2, "big", signed=True) + u16(self.delay_charge))  # fmt: skip
            return "delays get"
        if cid == 0x0B and data == b"\x00":
            self.emit(bytes([0x0B, 0x00, self.timing_control]) + u16(self.rate_x10)
                      + u16(self.train_pulses) + u16(self.trains) + u16(self.iti_x10)
                      + bytes([0, 100, 0]))  # fmt: skip
            return "timing get"
        if cid == 0x0C and data == b"\x00":
            msg = bytearray(14)
            msg[0] = 0x0C
            msg[9:11] = u16(self.stim_count & 0xFFFF)
            msg[13] = self.page
            self.emit(bytes(msg))
            return "page/count get"
        return "unknown command (ignored)"

    def _status_body(self, mid: int) -> bytes:
        return (
            bytes([mid, self.status()])
            + self.serial_number.to_bytes(3, "big")
            + bytes([self.temp, self.coil, self.amp_a, self.amp_b])
        )

    def _pulse(self, t: float, train: bool = False) -> None:
        self.stim_count += 1
        self.last_activity = t
        self.pulse(t, self.amp_a, **({"train": True} if train else {}))
        didt = round(self.amp_a * 1.6)
        self.emit(bytes([0x02, min(didt, 255), 0, self.status()]))

    def _start_train(self, t: float) -> None:
        step = 0.0 if self.fast else 10.0 / max(1, self.rate_x10)
        gap = 0.0 if self.fast else self.iti_x10 / 10.0
        times = []
        start = t
        for _ in range(self.trains):
            times += [start + k * step for k in range(self.train_pulses)]
            start = times[-1] + gap
        self.train = times
        self.log(t=t, action="train-start", pulses=len(times), frequency_hz=self.rate_x10 / 10)
        self.emit(bytes([0x08, self.page, 1, self.status()]))

    def tick(self, now: float) -> None:
        """Train pulses, train end, idle auto-disarm."""
        while self.train and self.train[0] <= now:
            tp = self.train.pop(0)
            self._pulse(tp, train=True)
            if not self.train:
                self.log(t=tp, action="train-end")
                self.emit(bytes([0x08, self.page, 0, self.status()]))
        if self.enabled and not self.train and now - self.last_activity > self.idle_disarm_s:
            self._disable(now, f"idle auto-disarm ({self.idle_disarm_s:g} s)")
            self.emit(bytes([0x03, self.temp, self.coil, self.status()]))

    def state(self) -> dict[str, Any]:
        """Final state (logged at stop)."""
        return {"armed": self.enabled, "page": self.page, "amplitude": self.amp_a}

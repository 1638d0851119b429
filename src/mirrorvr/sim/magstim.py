"""Byte-exact emulator of the Magstim 200², BiStim² and Rapid² host interface.

Models (magstim-serial.md §4–§11, §15): the reply grammar (``?``, ``<cmd>?``, ``<cmd>S``, the
``N`` reply without status byte), status bytes, remote control (``Q``/``R``, the Rapid² ≥ V9
unlock code), arming (standby → armed → ready after 1 s), fire only when ready, recharge
(200²: 2/3/4 s by power, BiStim² 4 s, Rapid² single pulses ≤ 1 Hz), Rapid² trains with the
post-train lockout (≥ 0.5 s, status bit "wait"), coupled frequency/pulses/duration, the
maximum-frequency table, coil temperatures (no arming above 40 °C), the keep-alive watchdog
(armed and no valid command for 1 s → disarm and drop remote control), remote control dropped
after 10 s without commands in standby, and the 60 s idle auto-disarm.

BiStim² pairs: one fire with power B above 0 and an interval above 0 gives two pulses, unit A's
at the fire and unit B's at the interval (ms, or 0.1 ms in high-resolution mode) with power B;
interval 0 is one simultaneous discharge; power B 0 leaves unit B silent (one pulse). Which unit
fires first and what power B 0 does on a real unit are UNVERIFIED (magstim-serial.md has the
commands, not the discharge order). ``stale_interval`` models a unit that acknowledges interval
commands without applying them (its read-back shows the old value).

Replies carry the status as it was *before* the command took effect, except ``Q``/``R``
(MagPy's model; UNVERIFIED on hardware). ``timing="fast"`` makes arming, recharge, trains and
lockouts instant (simulated sessions); the watchdog keeps real time, since the driver's
keep-alive does.
"""

from __future__ import annotations

from typing import IO, Any

from mirrorvr.sim.faults import GARBAGE
from mirrorvr.sim.pty_link import PtyLink
from mirrorvr.sim.serial_emulator import SerialEmulator
from mirrorvr.stim.magstim import energy
from mirrorvr.stim.magstim.protocol import checksum, valid, widths

MODELS = ("200", "bistim", "rapid")
WATCHDOG_S = 1.0
STANDBY_REMOTE_S = 10.0
ARM_TIME_S = 1.0
OVERTEMP_RAW = 400  # 40.0 °C in 0.1 °C
#: the emulated Rapid²'s unlock code (Magstim issues real ones: 4 chars, -, 8 chars, -, 2 hex
#: chars of the code's own CRC; the project has none, so this one is made up)
DEFAULT_UNLOCK_CODE = "MVRX-00000001-4E"


def _reply(body: bytes) -> bytes:
    return body + bytes([checksum(body)])


class MagstimEmulator(SerialEmulator):
    """One Magstim unit on a pty."""

    baudrate = 9600

    def __init__(
        self,
        link: PtyLink,
        log_file: IO[str] | None = None,
        *,
        model: str = "200",
        version: str = "9.0",
        unlock_code: str = DEFAULT_UNLOCK_CODE,
        out_of_range_reply: str = "?",
        stale_interval: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(link, log_file, **kw)
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}")
        self.model = model
        self.name = {"200": "magstim-200", "bistim": "magstim-bistim", "rapid": "magstim-rapid"}[
            model
        ]
        self.version = tuple(int(p) for p in version.split(".")) if model == "rapid" else None
        self.version_text = version
        self.unlock_code = unlock_code
        self.out_of_range_reply = out_of_range_reply.encode()
        self.stale_interval = stale_interval
        self.buf = b""
        self.remote = False
        self.mode = "standby"  # standby | armed | ready
        self.ready_at = 0.0
        self.last_valid_rx = 0.0
        self.last_activity = 0.0  # arm or fire: the 60 s auto-disarm counts from here
        self.power_a, self.power_b, self.interval = 30, 30, 10
        self.hires = False
        self.temps = [240, 240]
        self.error = self.fatal = False
        # Rapid²
        self.freq, self.n_pulses, self.duration, self.wait = 10, 1, 0, 10
        self.enhanced = False
        self.charge_delay = 100
        self.train: list[float] = []  # due times of the running train's remaining pulses
        self.lockout_until = 0.0
        self.last_single = -1e9

    # ------------------------------------------------------------------ bytes in

    def _commands(self) -> str:
        if self.model == "200":
            return "@EQRJF"
        if self.model == "bistim":
            return "@ACEQRYZJF"
        extra = "xon" if (self.version or (0,)) >= (9,) else ""
        return "@EQRFBD[^_bN\\I" + extra

    def _frame_len(self, c: str) -> int | None:
        w = widths(self.version)
        if c in "@AC":
            return 5
        if c == "B":
            return 6
        if c == "D":
            return 2 + w.pulses
        if c == "[":
            return 2 + w.duration
        if c == "n":
            return 2 + (5 if (self.version or (0,)) >= (10,) else 4)
        if c == "Q" and self.model == "rapid" and (self.version or (0,)) >= (9,):
            if len(self.buf) < 2:
                return None
            return 3 if self.buf[1:2] == b"@" else 2 + 16
        return 3

    def feed(self, data: bytes, t: float) -> None:
        """Split host bytes into packets (they may arrive in pieces) and act on each."""
        self.buf += data
        while self.buf:
            c = chr(self.buf[0])
            if c not in self._commands():
                self.log(t=t, rx=self.buf[:1].hex(), action="unknown-command", tx="3f")
                self.buf = self.buf[1:]
                self.send(b"?")
                continue
            n = self._frame_len(c)
            if n is None or len(self.buf) < n:
                return
            pkt, self.buf = self.buf[:n], self.buf[n:]
            self.handle(pkt, t)

    # ------------------------------------------------------------------ one packet

    def handle(self, pkt: bytes, t: float) -> None:
        """Act on one complete host packet, applying any fault that strikes it."""
        cmd = chr(pkt[0])
        fault = self.fault_for_frame()
        rec: dict[str, Any] = {"t": t, "rx": pkt.hex()}
        if fault is not None:
            rec["fault"] = fault.kind
            if fault.kind == "disconnect":
                self.log(**rec, action="ignored (link lost)")
                self.disconnect(fault.param)
                return
            if fault.kind == "overtemp":
                self.temps = [425, 240]
                self.error = True
                self._disarm(t, "over-temperature")
            elif fault.kind == "error-bits":
                self.error = self.fatal = True
                self._disarm(t, "fatal error")
        reply: bytes | None
        if not valid(pkt):
            reply, action = _reply(pkt[:1] + b"?"), "bad-checksum"
        elif fault is not None and fault.kind == "conflict":
            reply, action = _reply(pkt[:1] + b"S"), "conflict (injected)"
        else:
            self.last_valid_rx = t
            reply, action = self.execute(cmd, pkt[1:-1], t)
        delay = 0.0
        if fault is not None and reply is not None:
            if fault.kind == "garbage":
                reply = GARBAGE[:4] + reply
            elif fault.kind == "checksum":
                reply = reply[:-1] + bytes([reply[-1] ^ 0x5A])
            elif fault.kind == "drop":
                reply = None
            elif fault.kind == "late":
                delay = fault.param if fault.param is not None else 1.5
        rec.update(action=action, tx=reply.hex() if reply else None)
        self.log(**rec)
        if reply is not None:
            self.send(reply, delay)

    # ------------------------------------------------------------------ state

    def status(self) -> int:
        """The instrument status byte now."""
        s = 0x08  # coil present
        s |= {"standby": 0x01, "armed": 0x02, "ready": 0x04}[self.mode]
        if self.error:
            s |= 0x20 | (0x40 if self.fatal else 0)
        if self.remote:
            s |= 0x80
        return s

    def rapid_status(self, now: float) -> int:
        """The Rapid status byte now."""
        s = 0x30  # HV PSU connected, coil ready
        if self.enhanced:
            s |= 0x01
        if self.train:
            s |= 0x02
        if now < self.lockout_until:
            s |= 0x04
        if self.duration == 0:
            s |= 0x08
        return s

    def _disarm(self, t: float, cause: str) -> None:
        if self.mode != "standby" or self.train:
            if self.train:
                self.log(t=t, action="train-stopped", remaining=len(self.train))
            self.train = []
            self.mode = "standby"
            self.log(t=t, action="disarmed", cause=cause)

    def _recharge_s(self) -> float:
        if self.fast:
            return 0.0
        if self.model == "bistim":
            return 4.0
        if self.model == "rapid":
            return 2.0 if self.enhanced and self.power_a >= 100 else 1.0
        return 2.0 if self.power_a <= 49 else 3.0 if self.power_a <= 79 else 4.0

    def _max_power(self) -> int:
        return 110 if self.model == "rapid" and self.enhanced else 100

    def _bad(self, cmd: str) -> tuple[bytes, str]:
        return _reply(cmd.encode() + self.out_of_range_reply[:1]), "bad-data"

    def _conflict(self, cmd: str, why: str) -> tuple[bytes, str]:
        return _reply(cmd.encode() + b"S"), f"conflict: {why}"

    def _ack(self, cmd: str, st: int, now: float, extra: bytes = b"") -> bytes:
        body = cmd.encode() + bytes([st])
        if cmd in "\\[DB^_xn" and self.model == "rapid":
            body += bytes([self.rapid_status(now)])
        return _reply(body + extra)

    def execute(self, cmd: str, data: bytes, t: float) -> tuple[bytes | None, str]:
        """Carry out a checksum-valid command; returns (reply, what happened)."""
        st = self.status()  # the status before the command takes effect
        v = self.version or (0,)
        if cmd == "Q":
            if self.model == "rapid" and v >= (9,) and data != self.unlock_code.encode():
                return None, "wrong unlock code (no reply)"
            self.remote = True
            return self._ack(cmd, self.status(), t), "remote on"
        if cmd == "R":
            self._disarm(t, "remote control returned")
            self.remote = False
            return self._ack(cmd, self.status(), t), "remote off"
        if cmd == "N":
            return _reply(b"NV" + self.version_text.encode() + b"\x00"), "version"
        if cmd == "J":
            b = f"{self.power_b:03d}{self.interval:03d}" if self.model == "bistim" else "000000"
            return self._ack(cmd, st, t, f"{self.power_a:03d}".encode() + b.encode()), "parameters"
        if cmd == "F":
            return self._ack(
                cmd, st, t, f"{self.temps[0]:03d}{self.temps[1]:03d}".encode()
            ), "temperature"
        if cmd == "I":
            code = b"E01" if self.error else b"E00"
            return self._ack(cmd, st, t, code), "error code"
        if cmd == "\\":
            w = widths(self.version)
            d = (f"{self.power_a:03d}{self.freq:04d}{self.n_pulses:0{w.pulses}d}"
                 f"{self.duration:0{w.duration}d}{self.wait:0{w.wait}d}")  # fmt: skip
            return self._ack(cmd, st, t, d.encode()), "rapid parameters"
        if cmd == "x":
            return self._ack(cmd, st, t, b"\x00\x00"), "system status"
        if cmd == "o":
            width = 5 if v >= (10,) else 4
            return self._ack(cmd, st, t, f"{self.charge_delay:0{width}d}".encode()), "charge delay"
        if cmd == "E" and data == b"A":
            self._disarm(t, "host")
            return self._ack(cmd, st, t), "disarm"
        # everything below needs remote control
        if not self.remote:
            return self._conflict(cmd, "not in remote control")
        if not data.isdigit() and cmd in "@ACBD[n":
            return self._bad(cmd)
        if cmd == "E":
            return self._mode(data, st, t)
        if self.model == "rapid" and t < self.lockout_until and cmd in "@BD[^_":
            return self._conflict(cmd, "post-train lockout")
        if self.train and cmd in "@BD[^_":
            return self._conflict(cmd, "train running")
        value = int(data) if data.isdigit() else 0
        if cmd == "@":
            if value > self._max_power():
                return self._bad(cmd)
            self.power_a = value
            return self._ack(cmd, st, t), f"power A {value}"
        if cmd == "A":
            if value > 100:
                return self._bad(cmd)
            self.power_b = value
            return self._ack(cmd, st, t), f"power B {value}"
        if cmd == "C":
            if self.stale_interval:
                return self._ack(cmd, st, t), f"interval {value} acknowledged, not applied"
            self.interval = value
            return self._ack(cmd, st, t), f"interval {value}"
        if cmd in "YZ":
            if self.mode != "standby":
                return self._conflict(cmd, "resolution cannot change while armed")
            self.hires = cmd == "Y"
            self.interval = 10
            return self._ack(cmd, st, t), "high resolution " + ("on" if self.hires else "off")
        if cmd == "B":
            if value > 1000 or value > 10 * energy.max_frequency_hz(min(self.power_a, 100)):
                return self._bad(cmd)
            self.freq = value
            if self.duration and value:
                self.n_pulses = max(1, round(value * self.duration / 100))
            return self._ack(cmd, st, t), f"frequency {value / 10:g} Hz"
        if cmd == "D":
            if not 1 <= value <= 6000:
                return self._bad(cmd)
            self.n_pulses = value
            if self.freq:
                self.duration = max(1, round(value * 100 / self.freq))
            return self._ack(cmd, st, t), f"pulses {value}"
        if cmd == "[":
            self.duration = value
            if value and self.freq:
                self.n_pulses = max(1, round(self.freq * value / 100))
            return self._ack(cmd, st, t), "train mode" if value else "single-pulse mode"
        if cmd in "^_":
            self.enhanced = cmd == "^"
            return self._ack(cmd, st, t), "enhanced power " + ("on" if self.enhanced else "off")
        if cmd == "b":
            return self._ack(cmd, st, t), "coil interlock ignored"
        if cmd == "n":
            self.charge_delay = value
            if v >= (10,):
                return self._ack(cmd, st, t, b"\x00\x00"), f"charge delay {value}"
            return self._ack(cmd, st, t), f"charge delay {value}"
        return b"?", "unknown"

    def _mode(self, data: bytes, st: int, t: float) -> tuple[bytes | None, str]:
        if data == b"B":
            if self.mode != "standby":
                return self._conflict("E", "already armed")
            if self.error or max(self.temps) > OVERTEMP_RAW:
                return self._conflict("E", "error or coil over 40 °C")
            self.mode = "armed"
            self.ready_at = t + (0.0 if self.fast else ARM_TIME_S)
            self.last_activity = t
            self.note_armed()
            self.log(t=t, action="armed")
            return self._ack("E", st, t), "arm"
        if data == b"H":
            return self._fire(st, t)
        return self._bad("E")

    def _fire(self, st: int, t: float) -> tuple[bytes | None, str]:
        if self.mode != "ready":
            return self._conflict("E", "not ready")
        if self.model == "rapid":
            if self.train or t < self.lockout_until:
                return self._conflict("E", "train running or post-train lockout")
            if self.duration > 0:  # train mode: one train per trigger
                n, f = self.n_pulses, self.freq / 10.0
                step = 0.0 if self.fast or f <= 0 else 1.0 / f
                self.train = [t + k * step for k in range(n)]
                self.log(t=t, action="train-start", pulses=n, frequency_hz=f)
                self.last_activity = t
                self.tick(t)
                return self._ack("E", st, t), "train"
        if self.model == "bistim":
            self._bistim_fire(t)
        else:
            self.pulse(t, self.power_a)
        self.mode = "armed"
        self.ready_at = t + self._recharge_s()
        self.last_activity = t
        return self._ack("E", st, t), "fire"

    def _bistim_fire(self, t: float) -> None:
        """One trigger of a BiStim²: a pair, a simultaneous discharge, or unit A alone."""
        if self.power_b > 0 and self.interval > 0:
            ms = self.interval / 10.0 if self.hires else float(self.interval)
            self.log(t=t, action="trigger", paired=True, interval_ms=ms)
            self.pulse(t, self.power_a, unit="A", trigger_t=t)
            self.pulse(t + ms / 1000.0, self.power_b, unit="B", trigger_t=t, interval_ms=ms)
        elif self.power_b > 0:
            self.pulse(t, self.power_a, intensity_b=self.power_b, simultaneous=True)
        else:
            self.pulse(t, self.power_a, unit="A")

    # ------------------------------------------------------------------ time

    def tick(self, now: float) -> None:
        """Arming, recharge, train pulses, lockout, watchdog and auto-disarm."""
        while self.train and self.train[0] <= now:
            tp = self.train.pop(0)
            self.pulse(tp, self.power_a, train=True)
            if not self.train:
                f = self.freq / 10.0
                e_wait = energy.min_wait_s(min(self.power_a, 100), f, self.n_pulses)
                lock = 0.0 if self.fast else max(0.5, self.wait / 10.0, e_wait)
                self.lockout_until = tp + lock
                self.last_activity = tp
                self.log(t=tp, action="train-end", lockout_s=lock)
        if self.mode == "armed" and now >= self.ready_at and not self.train:
            self.mode = "ready"
            self.log(t=now, action="ready")
        if self.disconnected and self.mode != "standby" and now - self.last_valid_rx > WATCHDOG_S:
            self._disarm(now, "watchdog (no command for 1 s)")
            self.remote = False
        if self.remote and now - self.last_valid_rx > (
            WATCHDOG_S if self.mode != "standby" else STANDBY_REMOTE_S
        ):
            self._disarm(now, "watchdog (no command for 1 s)")
            self.remote = False
            self.log(t=now, action="remote-lost")
        if self.mode != "standby" and now - self.last_activity > self.idle_disarm_s:
            self._disarm(now, f"idle auto-disarm ({self.idle_disarm_s:g} s)")

    def state(self) -> dict[str, Any]:
        """Final state (logged at stop)."""
        return {"armed": self.mode != "standby", "mode": self.mode, "remote": self.remote}

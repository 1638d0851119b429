"""Which stimulator answers on which port (``mirrorvr devices --probe``).

Probing writes identification requests only — nothing that arms, fires or takes remote control:
MagVenture's get-status frame ``FE 01 00 00 FF`` at 38400 baud (the discovery used by [XL]),
then Magstim's ``NDm`` (software version: only a Rapid² answers) and ``J@u`` (parameters: a
200² or BiStim²) at 9600 baud. Bytes sent to a serial *trigger box* would set its output lines
and could fire a stimulator, so trigger boxes are skipped by USB id and the CLI warns first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mirrorvr.errors import DeviceError
from mirrorvr.stim.magstim.protocol import frame as magstim_frame
from mirrorvr.stim.magstim.protocol import parse_version, valid
from mirrorvr.stim.magventure.protocol import MODELS, FrameReader, Status
from mirrorvr.stim.magventure.protocol import frame as mv_frame
from mirrorvr.stim.transport import SerialTransport

#: USB ids of serial trigger boxes, never probed (Brain Products TriggerBox)
TRIGGER_BOX_IDS = ("1103:0021",)


@dataclass(frozen=True)
class ProbeResult:
    """What answered on one port."""

    port: str
    kind: str | None  # a plan's stimulator kind, or None
    detail: str


def _exchange(t: SerialTransport, data: bytes, wait: float) -> bytes:
    t.reset_input()
    t.write(data)
    end = time.monotonic() + wait
    buf = b""
    while time.monotonic() < end:
        buf += t.read(max(1, t.in_waiting()))
    return buf


def _magventure(port: str) -> ProbeResult | None:
    t = SerialTransport.for_device("magventure", port, timeout=0.02)
    t.open()
    try:
        reader = FrameReader()
        for body in reader.feed(_exchange(t, mv_frame(b"\x00"), 0.3)):
            if body[0] == 0x00 and len(body) >= 9:
                st = Status(body[1])
                model = MODELS[st.model] if st.model < len(MODELS) else f"model {st.model}"
                sn = int.from_bytes(body[2:5], "big")
                return ProbeResult(port, "magventure", f"MagVenture MagPro {model}, serial {sn}")
    finally:
        t.close()
    return None


def _magstim(port: str) -> ProbeResult | None:
    t = SerialTransport.for_device("magstim-200", port, timeout=0.02)
    t.open()
    try:
        r = _exchange(t, magstim_frame("N", b"D"), 0.3).lstrip(b"\x00")
        if r[:2] == b"NV" and b"\x00" in r:
            end = r.index(b"\x00")
            version = parse_version(r[1:end])
            return ProbeResult(
                port, "magstim-rapid", f"Magstim Rapid², firmware V{'.'.join(map(str, version))}"
            )
        r = _exchange(t, magstim_frame("J"), 0.3).lstrip(b"\x00")
        if len(r) >= 12 and r[0] == ord("J") and valid(r[:12]):
            b, interval = r[5:8], r[8:11]
            if b == b"000" and interval == b"000":
                return ProbeResult(
                    port, "magstim-200", "Magstim 200² (or a BiStim² with power B and interval 0)"
                )
            return ProbeResult(port, "magstim-bistim", f"Magstim BiStim² (power B {int(b)} %)")
    finally:
        t.close()
    return None


def probe(port: str, hwid: str = "") -> ProbeResult:
    """Identify the stimulator on ``port`` (never raises for a silent or busy port)."""
    if any(i in hwid.lower() for i in TRIGGER_BOX_IDS):
        return ProbeResult(port, None, "serial trigger box (not probed: bytes would fire it)")
    try:
        return (
            _magventure(port) or _magstim(port) or ProbeResult(port, None, "no stimulator answered")
        )
    except DeviceError as e:
        return ProbeResult(port, None, f"not probed: {e}")

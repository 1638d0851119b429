"""Stimulator drivers by kind: the one place a plan's ``devices.stimulator`` becomes a driver.

Driver families register here (:data:`DRIVERS`): the TTL trigger box, the Magstim family and
the MagVenture MagPro.
"""

from __future__ import annotations

from collections.abc import Callable

from mirrorvr.config.plan import StimulatorDevice
from mirrorvr.errors import DeviceError
from mirrorvr.stim.base import Stimulator
from mirrorvr.stim.ttl_box import TTLBox

DriverFactory = Callable[[StimulatorDevice, str], Stimulator]


def _ttl_box(dev: StimulatorDevice, port: str) -> Stimulator:
    return TTLBox(port, trigger_code=dev.trigger_code, pulse_width_s=dev.pulse_width_ms / 1000.0)


def _magstim_200(dev: StimulatorDevice, port: str) -> Stimulator:
    from mirrorvr.stim.magstim.models import Magstim200

    return Magstim200(port)


def _magstim_bistim(dev: StimulatorDevice, port: str) -> Stimulator:
    from mirrorvr.stim.magstim.models import BiStim

    return BiStim(port)


def _magstim_rapid(dev: StimulatorDevice, port: str) -> Stimulator:
    from mirrorvr.stim.magstim.models import Rapid

    return Rapid(
        port,
        unlock_code=dev.unlock_code,
        voltage=dev.rapid_voltage,
        system_type=dev.rapid_type,
    )


def _magventure(dev: StimulatorDevice, port: str) -> Stimulator:
    from mirrorvr.stim.magventure.driver import MagPro

    return MagPro(port)


DRIVERS: dict[str, DriverFactory] = {
    "ttl-box": _ttl_box,
    "magstim-200": _magstim_200,
    "magstim-bistim": _magstim_bistim,
    "magstim-rapid": _magstim_rapid,
    "magventure": _magventure,
}


def make_stimulator(dev: StimulatorDevice, port: str) -> Stimulator:
    """The driver for ``dev.kind`` on ``port`` (not yet connected)."""
    factory = DRIVERS.get(dev.kind)
    if factory is None:
        raise DeviceError(
            f"no driver for stimulator kind '{dev.kind}' (available: {', '.join(sorted(DRIVERS))})"
        )
    return factory(dev, port)


def parse_stimulator_option(value: str) -> tuple[str, str]:
    """Split ``KIND:PORT`` as given on the command line."""
    kind, sep, port = value.partition(":")
    if not sep or not kind or not port:
        raise DeviceError(
            f"--stimulator takes KIND:PORT (e.g. ttl-box:/dev/ttyUSB0), got '{value}'"
        )
    return kind, port

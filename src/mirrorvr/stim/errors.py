"""Typed errors of the stimulator drivers.

All are :class:`~mirrorvr.errors.DeviceError` subclasses, so the CLI shows them as one clear
line, and each message names the port, what went wrong and what to do. A driver disarms the
device (best effort) before raising any of them from a command path.
"""

from __future__ import annotations

from mirrorvr.errors import DeviceError


class ProtocolError(DeviceError):
    """The device answered something the protocol does not allow here."""


class NoReplyError(ProtocolError):
    """The device did not answer (in full) within the timeout."""


class ChecksumError(ProtocolError):
    """A reply arrived with a wrong checksum / CRC: it was not acted on."""


class InvalidCommandError(ProtocolError):
    """The device did not recognise the command (Magstim ``?``)."""


class InvalidDataError(ProtocolError):
    """The device recognised the command but refused its data (Magstim ``<cmd>?``)."""


class ConflictError(ProtocolError):
    """The command conflicts with the device's state (Magstim ``<cmd>S``)."""


class UnexpectedReplyError(ProtocolError):
    """A reply to a different command, or bytes that are no reply at all."""


class ReadbackMismatch(DeviceError):
    """A parameter read back differs from what was set (the device was disarmed)."""


class DeviceFaultError(DeviceError):
    """The device reports a fault (error bits, over-temperature, lost remote control)."""


class EnergyRuleError(DeviceError):
    """A Rapid² train breaks the device's energy rules (refused before anything was sent)."""


class DisconnectedError(DeviceError):
    """The port vanished (cable pulled, emulator gone)."""

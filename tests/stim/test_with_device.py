"""Hardware tests: run only with ``pytest tests/stim/test_with_device.py --port /dev/ttyUSB0
--device-kind magstim-200`` (and ``--unlock-code`` for a Rapid² ≥ V9).

They connect, read status, set a low intensity with read-back, arm, fire ONE pulse and disarm.
Run them with a coil placed safely away from any person, as the clinic's device SOP requires.
"""

from __future__ import annotations

import time

import pytest

from mirrorvr.config.plan import StimulatorDevice
from mirrorvr.stim.factory import make_stimulator

pytestmark = pytest.mark.hardware


def _device(hardware: tuple[str, str, str | None]):  # type: ignore[no-untyped-def]
    kind, port, code = hardware
    return make_stimulator(StimulatorDevice(kind=kind, unlock_code=code), port)  # type: ignore[arg-type]


def test_connect_status_and_close_leave_it_disarmed(hardware: tuple[str, str, str | None]) -> None:
    with _device(hardware) as stim:
        st = stim.status()
        assert st.connected and not st.faults
    assert not stim.status().connected


def test_one_low_pulse_with_read_back(hardware: tuple[str, str, str | None]) -> None:
    with _device(hardware) as stim:
        stim.set_intensity(10)
        assert stim.status().intensity_pct_mso == 10
        stim.arm()
        stim.trigger()
        time.sleep(0.5)
        stim.disarm()
        assert not stim.status().armed

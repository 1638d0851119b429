"""The session side of the stimulation process (:mod:`mirrorvr.stim.child`).

:class:`StimulationProcess` starts the child, talks to it over three pipes (commands, messages,
e-stop) and watches it; :class:`RemoteStimulator` is the stimulator seam across the boundary
(arm, disarm, intensity, status); :class:`ProcessExecutor` is the stimulation executor whose
trains run in the child: it passes each train through the governor *here*, logs the durable
intent, and hands the train over ahead of time with its exact pulse times. The child re-checks
every pulse with its own guard, journals it, and sends it back; this side logs it in the
session's event log (and so on LSL) with the child's stamp.

E-stop first: :meth:`ProcessExecutor.estop`, :meth:`~ProcessExecutor.halt` and
:meth:`RemoteStimulator.disarm` write one byte on the e-stop pipe, which a thread of the child
blocked on it answers at once — not behind queued trains or a command in progress. Device
faults come up the message pipe as they happen and become the runner's e-stop.

If the child dies, this side logs it (durable), copies what the child journaled but never sent
into the event log, disarms the device through the port itself (best effort) and e-stops the
session. If this side dies, the child disarms and exits (see :mod:`.child`).
"""

from __future__ import annotations

# the parts live in modules of their own; every name stays importable from here
from mirrorvr.stim.process_executor import ProcessExecutor, guard_limits
from mirrorvr.stim.process_link import DISARM_CONFIRM_S, Message, StimulationProcess
from mirrorvr.stim.remote import RemoteStimulator

__all__ = [
    "DISARM_CONFIRM_S",
    "Message",
    "ProcessExecutor",
    "RemoteStimulator",
    "StimulationProcess",
    "guard_limits",
]

"""Phantom motor execution in a session: calibrate, fit, then let decoded EMG move the phantom.

:class:`PmeEngine` follows the runner's steps of ``phantom_motor_execution`` blocks (their data
carry ``exercise="pme"`` and a ``phase``): during calibration it labels the windows of each
contraction with the cued motion and those of each rest with ``rest``; at the fit step it
trains the decoder (LDA, rest threshold) and logs its cross-validated accuracy and confusion
matrix (``pme_model``); from then on every window's decision is logged (``pme``: class,
confidence, proportional speed, phantom posture; the ``mirrorvr-pme`` stream) and moves the
phantom, and each target task is scored (``pme_task``).

It owns no device: EMG comes from an :class:`EmgFeed` (an amplifier's LSL stream, or the
simulated residual limb rendered on the simulated clock) and, in simulation, a
:class:`PmePatient` executes the cued motions and steers the phantom towards the targets.
:class:`PmePresenter` wraps the session's presenter so the engine advances whenever the
runner waits, on the runner's thread: the same code runs on the simulated clock
(deterministic) and in real time (polling every few milliseconds). A lost EMG stream calls
``on_lost`` (the session pauses it: the phantom must not move on stale data).

The code lives in :mod:`mirrorvr.session.pme_feed` (feed and patient protocols, decoder
settings, calibration), :mod:`mirrorvr.session.pme_engine` (the engine) and
:mod:`mirrorvr.session.pme_presenter` (the presenter); this module re-exports their names.
"""

from mirrorvr.session.pme_engine import PATIENT_REACTION_S, PmeEngine
from mirrorvr.session.pme_feed import EmgFeed, FeedFactory, PmePatient, settings_of
from mirrorvr.session.pme_presenter import POLL_S, PmePresenter

__all__ = [
    "PATIENT_REACTION_S",
    "POLL_S",
    "EmgFeed",
    "FeedFactory",
    "PmeEngine",
    "PmePatient",
    "PmePresenter",
    "settings_of",
]

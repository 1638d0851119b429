"""Cue tones through panda3d's audio (OpenAL), started in the frame that shows the cue.

The panda3d wheel's ``p3openal_audio`` has OpenAL Soft 1.19.1 linked in (no system libopenal);
it reaches the sound card through PulseAudio or ALSA, loaded at run time when the machine has
them. Tones are synthesised (:mod:`mirrorvr.render.tone`), written as WAV files to an in-memory
panda3d virtual folder and preloaded, so ``play()`` only starts an OpenAL source.

Without an audio device (a clinic PC without sound, CI) the session still runs: the sounder
says once why tones are off (one log warning) and every cue reports ``played = false`` with
that reason. OpenAL Soft's and ALSA's own messages while probing devices are kept out of the
terminal (they would be a dozen lines for one fact); set ``ALSOFT_LOGLEVEL`` to see them.

Testing without a sound card: OpenAL Soft's ``wave`` backend mixes into a WAV file in real
time (``ALSOFT_DRIVERS=wave`` and an ``ALSOFT_CONF`` file with ``[wave] file = PATH``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping

from panda3d.core import (
    AudioManager,
    AudioSound,
    Filename,
    VirtualFileMountRamdisk,
    VirtualFileSystem,
)

from mirrorvr.render.display import configure_panda
from mirrorvr.render.tone import synthesize_tone, wav_bytes
from mirrorvr.session.clock import Clock
from mirrorvr.session.presenter import ToneOutcome

log = logging.getLogger(__name__)

#: panda3d virtual (in-memory) folder the synthesised tones are written to
_VFS_DIR = "/mirrorvr-tones"
_mounted = False

ToneKey = tuple[tuple[str, float], ...]


def tone_key(params: Mapping[str, float]) -> ToneKey:
    """A hashable name for one set of tone parameters."""
    return tuple(sorted((k, float(v)) for k, v in params.items()))


def _mount() -> None:
    global _mounted
    if not _mounted:
        VirtualFileSystem.get_global_ptr().mount(VirtualFileMountRamdisk(), _VFS_DIR, 0)
        _mounted = True


@contextlib.contextmanager
def _stderr_captured(into: list[str]) -> Iterator[None]:
    """Send file descriptor 2 (C libraries write there, not to Python) to a temporary file;
    its text is appended to ``into`` afterwards."""
    with tempfile.TemporaryFile() as f:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            into.append(f.read().decode(errors="replace"))


def _why(messages: str) -> str:
    """The most telling line of OpenAL's / panda3d's messages about a failed device open."""
    lines = [ln.strip() for ln in messages.splitlines() if ln.strip()]
    for marker in ("(EE)", "No playback backend", ":audio(error)"):
        for ln in lines:
            if marker in ln:
                return re.sub(r"^.*?AL lib: (\(\w\w\) )?", "", ln)
    return lines[-1] if lines else "no detail"


class CueSounder:
    """Opens the default audio output once and plays preloaded cue tones on it."""

    def __init__(self, clock: Clock, tones: Iterable[Mapping[str, float]]) -> None:
        self.clock = clock
        self.available = False
        self.reason = ""
        #: LSL times just before and after the device was opened (its output starts in between)
        self.opened_between: tuple[float, float] | None = None
        self._sounds: dict[ToneKey, AudioSound] = {}
        self._manager: AudioManager | None = None
        configure_panda()
        messages: list[str] = []
        quiet = "ALSOFT_LOGLEVEL" not in os.environ
        t0 = clock.now()
        with _stderr_captured(messages) if quiet else contextlib.nullcontext():
            manager = AudioManager.create_AudioManager()
        t1 = clock.now()
        if manager is None or not manager.is_valid():
            why = _why("".join(messages)) if quiet else "see its messages above"
            self._off(f"no audio output device could be opened (OpenAL: {why})")
            if manager is not None:
                manager.shutdown()
            return
        self._manager = manager
        self.opened_between = (t0, t1)
        _mount()
        vfs = VirtualFileSystem.get_global_ptr()
        for params in tones:
            key = tone_key(params)
            if key in self._sounds:
                continue
            name = Filename(f"{_VFS_DIR}/tone-{len(self._sounds)}-{os.getpid()}.wav")
            samples = synthesize_tone(
                params["frequency_hz"],
                params["duration_ms"],
                params["level_dbfs"],
                params["ramp_ms"],
            )
            vfs.write_file(name, wav_bytes(samples), False)
            sound = manager.get_sound(name, False, AudioManager.SM_sample)
            if sound is None or sound.length() <= 0:
                self.close()
                self._off(f"the cue tone {dict(params)} could not be loaded into OpenAL")
                return
            self._sounds[key] = sound
        self.available = True

    def _off(self, reason: str) -> None:
        self.available = False
        self.reason = reason
        log.warning(
            "warning: cue tones will not play: %s. The session goes on without sound; each "
            "cue event logs tone.played = false.",
            reason,
        )

    def play(self, params: Mapping[str, float]) -> ToneOutcome:
        """Start the tone ``params`` now; its outcome with the LSL time it was started."""
        if not self.available:
            return ToneOutcome(False, reason=self.reason)
        sound = self._sounds.get(tone_key(params))
        if sound is None:
            return ToneOutcome(False, reason=f"tone {dict(params)} was not prepared")
        sound.play()
        t = self.clock.now()
        if sound.status() != AudioSound.PLAYING:
            return ToneOutcome(False, reason="OpenAL did not start the sound")
        return ToneOutcome(True, t)

    def update(self) -> None:
        """Let the audio manager retire finished sounds (once per frame)."""
        if self._manager is not None:
            self._manager.update()

    def close(self) -> None:
        """Stop every sound and close the device (the wave backend finalises its file)."""
        if self._manager is not None:
            for sound in self._sounds.values():
                sound.stop()
            self._sounds.clear()
            self._manager.shutdown()
            self._manager = None
        self.available = False

"""Cue tone onset vs visual cue onset, measured in what OpenAL mixed (its ``wave`` backend).

Runs the real-time presenter in this process (offscreen EGL on llvmpipe, frames paced at
90 fps, ``RealClock``) through a plan of imagery cues with tones, like the display process of
``mirrorvr sim --realtime --display offscreen``. OpenAL Soft (inside panda3d's
``p3openal_audio``) is pointed at its ``wave`` output backend, which mixes in real time into a
WAV file whose sample ``n`` is ``n / rate`` seconds after the device was opened. For each cue:

* **tone offset** = (tone onset found in the WAV) − (cue's frame display time − device open
  time): where OpenAL's *mixing position* put the tone relative to the frame that first showed
  the cue. This is not the loudspeaker: a sound card adds its output buffer latency
  (period × periods of ALSA/PulseAudio) and, like a monitor's scan-out, that is not measured
  here. The open time is known to within ± half the time ``create_AudioManager`` took (printed).
* **spacing error** = tone-to-tone spacing in the WAV − cue-to-cue spacing of display times:
  the same comparison without the open-time uncertainty.
* **play call** = LSL time ``play()`` returned − the frame's display time (our code's share).

OpenAL mixes in blocks of ``period_size`` frames (1024 by default: 23 ms at 44.1 kHz); a sound
started mid-block is heard from the next block, and the wave writer mixes a block once its
end time has passed, so offsets fall within about one block of the call.

    .venv/bin/python benchmarks/cue_tone_offset.py [--cues 40] [--period 1024] [--size 320x180]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cues", type=int, default=40)
    ap.add_argument("--period", type=int, default=1024, help="OpenAL period_size (frames)")
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--every", type=float, default=0.6, help="seconds from cue to cue")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mirrorvr-tone-bench-"))
    wav = tmp / "mixed.wav"
    conf = tmp / "alsoft.conf"
    conf.write_text(f"[general]\nperiod_size = {args.period}\n[wave]\nfile = {wav}\n")
    # before panda3d loads OpenAL: its configuration is read once, when the library starts
    os.environ["ALSOFT_DRIVERS"] = "wave"
    os.environ["ALSOFT_CONF"] = str(conf)

    import numpy as np

    from mirrorvr.analysis.tones import find_tones, read_wav
    from mirrorvr.config.loader import plan_from_dict
    from mirrorvr.render.display import OffscreenDisplay, parse_size
    from mirrorvr.render.presenter import PandaPresenter
    from mirrorvr.session.clock import RealClock
    from mirrorvr.session.timeline import compile_timeline

    cue_s = 0.2
    plan = plan_from_dict(
        {
            "patient": {"id": "BENCH", "amputation_side": "left"},
            "blocks": [
                {
                    "kind": "imagery",
                    "movements": ["fist"],
                    "repetitions": args.cues,
                    "cue_s": cue_s,
                    "imagery_s": max(0.1, (args.every - cue_s) / 2),
                    "rest_s": max(0.0, (args.every - cue_s) / 2),
                }
            ],
            "scene": {"cue_tone": {"enabled": True, "frequency_hz": 880, "duration_ms": 100}},
        }
    )
    clock = RealClock()
    presenter = PandaPresenter(
        clock, None, plan, OffscreenDisplay(parse_size(args.size)), options=None
    )
    sounder = presenter.sounder
    if sounder is None or not sounder.available or sounder.opened_between is None:
        raise SystemExit(f"OpenAL's wave backend did not open: {getattr(sounder, 'reason', '')}")
    t_open0, t_open1 = sounder.opened_between
    t_open = (t_open0 + t_open1) / 2
    start = clock.now() + 0.5
    shown: list[float] = []
    played: list[float] = []
    for step in compile_timeline(plan).steps:
        if step.kind not in ("cue", "window", "rest"):
            continue
        presenter.idle(start + step.t)
        onset = presenter.present(step)
        if step.kind == "cue":
            tone = presenter.cue_tone()
            assert tone is not None and tone.played and tone.t is not None, tone
            shown.append(onset)
            played.append(tone.t)
    presenter.idle(clock.now() + 0.5)
    presenter.close()  # closes the device: the wave writer finalises the file

    x, rate = read_wav(wav)
    tones = find_tones(x, rate)
    if len(tones) != len(shown):
        raise SystemExit(f"{len(tones)} tones in the WAV for {len(shown)} cues")
    heard = np.array([t.onset_s for t in tones])
    cue = np.array(shown)
    offset_ms = 1000 * (heard - (cue - t_open))
    spacing_ms = 1000 * (np.diff(heard) - np.diff(cue))
    call_ms = 1000 * (np.array(played) - cue)

    def fmt(v: np.ndarray) -> str:
        a = np.abs(v)
        return (
            f"median {statistics.median(v.tolist()):+.1f} ms, p95 |x| {np.percentile(a, 95):.1f} "
            f"ms, min {v.min():+.1f}, max {v.max():+.1f}"
        )

    load = os.getloadavg()
    print(
        f"{len(shown)} cues, {args.every:g} s apart, offscreen {args.size}, period_size "
        f"{args.period} ({1000 * args.period / rate:.1f} ms at {rate} Hz), load average "
        f"{load[0]:.1f}/{load[1]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"device open time known to ± {1000 * (t_open1 - t_open0) / 2:.1f} ms")
    print(f"tone offset (OpenAL mixing position − frame display time): {fmt(offset_ms)}")
    print(f"spacing error (WAV tone spacing − cue spacing):            {fmt(spacing_ms)}")
    print(f"play call after the frame's display time:                  {fmt(call_ms)}")
    print(f"tone pitch in the WAV: {statistics.median([t.frequency_hz for t in tones]):.1f} Hz")


if __name__ == "__main__":
    main()

"""The simulated OpenXR runtime seen through the real loader and pyopenxr (no rendering)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.xr_fixtures import run_python, x_display, xr_manifest

__all__ = ["x_display", "xr_manifest"]

PROBE = textwrap.dedent(
    """
    import ctypes, json, xr
    out = {}
    out["extensions"] = sorted(
        e.extension_name.decode() for e in xr.enumerate_instance_extension_properties()
    )
    exts = [xr.KHR_OPENGL_ENABLE_EXTENSION_NAME, xr.KHR_CONVERT_TIMESPEC_TIME_EXTENSION_NAME]
    inst = xr.create_instance(xr.InstanceCreateInfo(enabled_extension_names=exts))
    out["runtime"] = xr.get_instance_properties(inst).runtime_name.decode()
    sid = xr.get_system(inst, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
    views = xr.enumerate_view_configuration_views(inst, sid, xr.ViewConfigurationType.PRIMARY_STEREO)
    out["views"] = [[v.recommended_image_rect_width, v.recommended_image_rect_height] for v in views]
    # an extension function the runtime does not implement: a stub, never a null pointer
    fn = xr.get_instance_proc_addr(inst, "xrEnumerateDisplayRefreshRatesFB")
    stub = ctypes.cast(fn, ctypes.CFUNCTYPE(ctypes.c_int))
    out["unsupported_result"] = int(stub())
    ts = xr.timespec(5, 250)
    t = xr.convert_timespec_time_to_time_khr(inst, ts)
    back = xr.convert_time_to_timespec_time_khr(inst, t)
    out["time"] = [int(t.value if hasattr(t, "value") else t), back.tv_sec, back.tv_nsec]
    try:
        xr.convert_time_to_timespec_time_khr(inst, 5)
        out["bad_time"] = "accepted"
    except xr.TimeInvalidError:
        out["bad_time"] = "time invalid"
    xr.destroy_instance(inst)
    print(json.dumps(out))
    """
)


def _probe(manifest: Path, **env: str) -> dict:
    proc = run_python(PROBE, {"XR_RUNTIME_JSON": str(manifest), **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_loader_negotiates_and_enumerates_the_simulated_headset(xr_manifest: Path) -> None:
    out = _probe(xr_manifest, XRSIM_VIEW_WIDTH="400", XRSIM_VIEW_HEIGHT="444")
    assert out["runtime"] == "mirrorvr simulated headset"
    assert {"XR_KHR_opengl_enable", "XR_KHR_convert_timespec_time", "XR_EXT_hand_tracking"} <= set(
        out["extensions"]
    )
    assert out["views"] == [[400, 444], [400, 444]]
    assert out["unsupported_result"] == -7  # XR_ERROR_FUNCTION_UNSUPPORTED


def test_time_conversion_round_trips_on_an_offset_timebase(xr_manifest: Path) -> None:
    out = _probe(xr_manifest)
    t, sec, nsec = out["time"]
    assert (sec, nsec) == (5, 250)
    assert t != 5_000_000_250  # XrTime is not CLOCK_MONOTONIC: skipping conversion shows
    assert out["bad_time"] == "time invalid"


def test_hand_tracking_can_be_switched_off(xr_manifest: Path) -> None:
    out = _probe(xr_manifest, XRSIM_HAND_TRACKING="0")
    assert "XR_EXT_hand_tracking" not in out["extensions"]

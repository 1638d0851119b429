"""Display backends without ShowBase: an offscreen buffer (EGL or tinydisplay) and a window.

A display owns a panda3d output and its graphics engine; cameras are attached from outside
(:meth:`Display.attach_camera`), so the same scene renders into any display. Input (a real
keyboard in a window; a virtual keyboard the simulated patient presses in any display) comes
through the same data graph (:mod:`mirrorvr.render.input`).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from panda3d.core import (
    DisplayRegion,
    Filename,
    FrameBufferProperties,
    GraphicsEngine,
    GraphicsOutput,
    GraphicsPipe,
    GraphicsPipeSelection,
    LColor,
    NodePath,
    Texture,
    WindowProperties,
    loadPrcFileData,
)

from mirrorvr.errors import MirrorVRError

OffscreenModule = Literal["egl", "tinydisplay"]
_MODULES = {"egl": "p3headlessgl", "tinydisplay": "p3tinydisplay", "window": "pandagl"}

#: process-wide panda3d settings: audio through OpenAL (opened only for cue tones, by
#: render/audio.py), no vsync wait (frames are paced by us), flip right after drawing (so
#: "render returned" means "frame shown"), no model cache writes
_PRC = """
audio-library-name p3openal_audio
sync-video 0
auto-flip 1
model-cache-dir
framebuffer-multisample 0
notify-level-display error
notify-level-egldisplay error
notify-level-device error
notify-level-x11display error
notify-level-glxdisplay error
default-model-extension .egg
"""
_configured = False


class DisplayError(MirrorVRError):
    """A display cannot be opened (says which and what to do)."""


def configure_panda() -> None:
    """Load mirrorvr's panda3d settings once per process, before any pipe is made."""
    global _configured
    if not _configured:
        loadPrcFileData("mirrorvr", _PRC)
        _configured = True


def parse_size(text: str) -> tuple[int, int]:
    """``"1280x720"`` → (1280, 720), with a clear error."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise MirrorVRError(f"--size: '{text}' is not WIDTHxHEIGHT (e.g. 1280x720)") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise MirrorVRError(f"--size: {w}x{h} is out of range (16..8192 per side)")
    return w, h


class Display:
    """A panda3d output that cameras can be attached to and frames rendered into."""

    kind = "display"

    def __init__(self, engine: GraphicsEngine, output: GraphicsOutput, size: tuple[int, int]):
        self.engine = engine
        self.output = output
        self.size = size
        self._capture: Texture | None = None
        output.set_clear_color_active(True)
        output.set_clear_color(LColor(0.78, 0.84, 0.88, 1.0))

    @property
    def aspect(self) -> float:
        """Width / height."""
        return self.size[0] / self.size[1]

    @property
    def renderer(self) -> str:
        """The OpenGL renderer string (e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``)."""
        gsg = self.output.get_gsg()
        return str(gsg.get_driver_renderer()) if gsg is not None else "?"

    def attach_camera(
        self, camera: NodePath, region: tuple[float, float, float, float] = (0, 1, 0, 1)
    ) -> DisplayRegion:
        """Render ``camera``'s view into (a region of) this display; returns the DisplayRegion."""
        dr = self.output.make_display_region(*region)
        dr.set_camera(camera)
        return dr

    def clear_cameras(self) -> None:
        """Detach every camera (to show another scene on this display)."""
        self.output.remove_all_display_regions()

    def set_background(self, rgb: tuple[float, float, float]) -> None:
        """The colour behind everything."""
        self.output.set_clear_color(LColor(*rgb, 1.0))

    def render(self) -> None:
        """Cull, draw and flip one frame (blocks until done)."""
        self.engine.render_frame()

    def enable_capture(self) -> None:
        """Copy every frame to RAM from now on (for screenshots and PNG frames)."""
        if self._capture is None:
            self._capture = Texture("capture")
            self.output.add_render_texture(self._capture, GraphicsOutput.RTM_copy_ram)

    def screenshot(self) -> NDArray[np.uint8]:
        """The last rendered frame as an (height, width, 3) RGB array, top row first."""
        if self._capture is None:
            self.enable_capture()
            self.render()
        tex = self._capture
        assert tex is not None
        data = tex.get_ram_image_as("RGB")
        w, h = tex.get_x_size(), tex.get_y_size()
        img = np.frombuffer(bytes(data), dtype=np.uint8).reshape(h, w, 3)
        return img[::-1].copy()  # textures store the bottom row first

    def save_png(self, path: Path) -> None:
        """Write the last rendered frame to a PNG file."""
        if self._capture is None:
            self.enable_capture()
            self.render()
        assert self._capture is not None
        if not self._capture.write(Filename.from_os_specific(str(path))):
            raise MirrorVRError(f"{path}: could not write the frame (is the folder writable?)")

    def close(self) -> None:
        """Release the output."""
        if self.output is not None:
            self.engine.remove_window(self.output)
            self.engine.render_frame()  # let the engine actually close it
            self.output = None


def _pipe(module: str, what: str) -> GraphicsPipe:
    configure_panda()
    pipe = GraphicsPipeSelection.get_global_ptr().make_module_pipe(module)
    if pipe is None or not pipe.is_valid():
        raise DisplayError(
            f"cannot open the {what} display (panda3d module {module}): install Mesa "
            "(scripts/apt-packages.txt) or try --display none"
        )
    return pipe


def _fb_props() -> FrameBufferProperties:
    fb = FrameBufferProperties()
    fb.set_rgb_color(True)
    fb.set_rgba_bits(8, 8, 8, 0)
    fb.set_depth_bits(24)
    return fb


def _gl_finish() -> Callable[[], None] | None:
    """``glFinish`` of the GL library panda3d's EGL module loaded (``None`` if absent)."""
    try:
        fn: Callable[[], None] = ctypes.CDLL("libGL.so.1").glFinish
        return fn
    except (OSError, AttributeError):
        return None


class OffscreenDisplay(Display):
    """Renders into an offscreen buffer: EGL on Mesa (llvmpipe without a GPU) or tinydisplay.

    :meth:`render` returns when the frame's pixels exist. A pbuffer is never flipped, so
    without a ``glFinish`` Mesa's llvmpipe only *queued* each frame: it rasterised them in bursts
    when its queue filled (memory grew to ≈ 1 GB at 1280×720) or never, and a frame rate
    measured without it counted queued frames, not drawn ones.
    """

    kind = "offscreen"

    def __init__(
        self,
        size: tuple[int, int] = (1280, 720),
        module: OffscreenModule = "egl",
        *,
        finish: bool = True,
    ):
        pipe = _pipe(_MODULES[module], f"offscreen ({module})")
        engine = GraphicsEngine(pipe)
        props = WindowProperties.size(*size)
        flags = GraphicsPipe.BF_refuse_window
        output = engine.make_output(pipe, "mirrorvr-offscreen", 0, _fb_props(), props, flags)
        if output is None:
            raise DisplayError(
                f"cannot create a {size[0]}x{size[1]} offscreen buffer with {module}; "
                "try a smaller --size or the tinydisplay module"
            )
        super().__init__(engine, output, size)
        #: ``finish=False`` only queues frames (benchmarks compare it; nothing else should)
        self._finish = _gl_finish() if module == "egl" and finish else None

    def render(self) -> None:
        """Cull, draw and finish one frame (returns when its pixels are in the buffer)."""
        self.engine.render_frame()
        if self._finish is not None:
            self._finish()


class WindowDisplay(Display):
    """A desktop window (the therapist's preview); needs an X display (Xvfb works)."""

    kind = "window"

    def __init__(self, size: tuple[int, int] = (1280, 720), title: str = "mirrorvr"):
        if not os.environ.get("DISPLAY"):
            raise DisplayError(
                "--display window needs an X display: set DISPLAY, or run under "
                "`xvfb-run -s '-screen 0 1920x1080x24'`, or use --display offscreen"
            )
        pipe = _pipe(_MODULES["window"], "window")
        engine = GraphicsEngine(pipe)
        props = WindowProperties.size(*size)
        props.set_title(title)
        flags = GraphicsPipe.BF_require_window
        output = engine.make_output(pipe, "mirrorvr-window", 0, _fb_props(), props, flags)
        if output is None:
            raise DisplayError(
                f"cannot open a {size[0]}x{size[1]} window on {os.environ['DISPLAY']}"
            )
        super().__init__(engine, output, size)
        engine.open_windows()


#: display name → function making a display of the given size (``--display offscreen|window``)
BACKENDS: dict[str, Callable[[tuple[int, int]], Display]] = {
    "offscreen": lambda size: OffscreenDisplay(size),
    "window": lambda size: WindowDisplay(size),
}

"""The GLX handles OpenXR's Xlib graphics binding needs, read from the current GL context.

Panda3D does not expose its GLX display, context or drawable, but inside a draw callback its
context is current, so ``glXGetCurrent*`` returns them. The frame-buffer config and visual are
looked up from the context's ``GLX_FBCONFIG_ID`` for runtimes that want them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import cache

from mirrorvr.errors import DeviceError

GLX_SCREEN = 0x800C
GLX_FBCONFIG_ID = 0x8013


@dataclass(frozen=True)
class GlxHandles:
    """Raw GLX handles (addresses / XIDs) of the current context."""

    display: int
    context: int
    drawable: int
    fbconfig: int
    visualid: int


@cache
def _libgl() -> ctypes.CDLL:
    name = ctypes.util.find_library("GL") or "libGL.so.1"
    lib = ctypes.CDLL(name)
    lib.glXGetCurrentDisplay.restype = ctypes.c_void_p
    lib.glXGetCurrentContext.restype = ctypes.c_void_p
    lib.glXGetCurrentDrawable.restype = ctypes.c_ulong
    lib.glXQueryContext.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.glXChooseFBConfig.restype = ctypes.POINTER(ctypes.c_void_p)
    lib.glXChooseFBConfig.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.glXGetVisualFromFBConfig.restype = ctypes.c_void_p
    lib.glXGetVisualFromFBConfig.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return lib


def current_glx() -> GlxHandles:
    """Handles of the GLX context current on this thread; raises if there is none."""
    gl = _libgl()
    dpy, ctx, drawable = (
        gl.glXGetCurrentDisplay(),
        gl.glXGetCurrentContext(),
        gl.glXGetCurrentDrawable(),
    )
    if not dpy or not ctx:
        raise DeviceError(
            "no GLX context is current: the OpenXR display needs Panda3D's OpenGL (pandagl) "
            "on an X server (set DISPLAY; Xvfb works)"
        )
    fbconfig, visualid = 0, 0
    value = ctypes.c_int(0)
    if gl.glXQueryContext(dpy, ctx, GLX_FBCONFIG_ID, ctypes.byref(value)) == 0:
        screen = ctypes.c_int(0)
        gl.glXQueryContext(dpy, ctx, GLX_SCREEN, ctypes.byref(screen))
        attribs = (ctypes.c_int * 3)(GLX_FBCONFIG_ID, value.value, 0)
        n = ctypes.c_int(0)
        configs = gl.glXChooseFBConfig(dpy, screen.value, attribs, ctypes.byref(n))
        if configs and n.value > 0:
            fbconfig = configs[0] or 0
            vi = gl.glXGetVisualFromFBConfig(dpy, fbconfig)
            if vi:
                # XVisualInfo starts with (Visual*, VisualID): the id is the second word
                visualid = ctypes.cast(vi, ctypes.POINTER(ctypes.c_ulong))[1]
    return GlxHandles(int(dpy), int(ctx), int(drawable), int(fbconfig), int(visualid))

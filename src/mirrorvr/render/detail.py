"""How much detail the limbs are drawn with: full on a GPU, a cheaper tier on software GL.

A software renderer (Mesa's llvmpipe on a machine without a GPU, as in simulation and on this
project's test machines) pays for every pixel it lights and every triangle it sets up on the
CPU. There the limbs are lit per vertex instead of per pixel, and the hand and the leg are
drawn from coarser meshes of the same pipeline (:data:`SOFTWARE_TRIANGLES`,
``assets/limbs/hand-software``, ``leg-software``)
(``"software"``; measured in docs/performance.md); on a GPU both cost nothing and the limbs
keep the full mesh and per-pixel lighting (``"full"``). The tier is chosen from the renderer's name when a scene is built;
``MIRRORVR_LIMB_DETAIL=full|software`` in the environment overrides it (e.g. to render
screenshots at full detail on llvmpipe).
"""

from __future__ import annotations

import os
from typing import Literal

from mirrorvr.errors import MirrorVRError

Detail = Literal["full", "software"]
DETAILS: tuple[Detail, ...] = ("full", "software")
#: the environment variable that overrides the choice
ENV = "MIRRORVR_LIMB_DETAIL"
#: the software tier's hand: the polygon budget llvmpipe affords at 1280×720 and 90 fps beside
#: the room (each hand's vertex work and triangle set-up halve; measured in docs/performance.md)
SOFTWARE_TRIANGLES = 4000
#: substrings of OpenGL renderer names that rasterise on the CPU
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "software rasterizer", "lavapipe")


def detail_for(renderer: str) -> Detail:
    """The tier for an OpenGL renderer name (``GL_RENDERER``), unless the environment says."""
    forced = os.environ.get(ENV, "").strip().lower()
    if forced:
        if forced not in DETAILS:
            raise MirrorVRError(f"{ENV}={forced!r}: use one of {', '.join(DETAILS)}")
        return forced
    name = renderer.lower()
    return "software" if any(s in name for s in SOFTWARE_RENDERERS) else "full"

"""A skinned limb described as data: skin joints in a bind pose, and shapes hung on them.

One description drives the whole mesh pipeline (:mod:`mirrorvr.render.limb_build`): the shapes
(round cones with an elliptical cross-section, each carried by a joint) are blended into one
signed-distance field and meshed, and the same shapes give every vertex its skin weights. A hand
is one such description (:mod:`mirrorvr.render.hand_spec`); a leg and foot is another.

Weights along a shape follow *knots*: ``(t, {joint: weight})`` pairs at fractions ``t`` of the
shape's length, linearly interpolated — e.g. half parent / half child at a knuckle, all the
carrying joint in the middle of a bone — so neighbouring bones share the skin at every joint and
bending never opens a crack. Across shapes, a vertex's weights are a soft-min over how far it is
from each shape's surface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Knots = tuple[tuple[float, tuple[tuple[int, float], ...]], ...]


@dataclass(frozen=True)
class Shape:
    """A round cone from ``a`` to ``b`` (bind-pose metres) with radii ``ra`` → ``rb``.

    ``up`` orients the cross-section (its component across a→b is the section's z axis): the
    section is ``sx`` times wider along x and ``sz`` times along z than the radius.
    ``group`` names the blend group: shapes in one group melt together with ``blend`` metres of
    smoothing; groups meet the body (group ``""``) with their own ``blend`` and each other hard
    (fingers never web together). ``knots`` give the skin weights along the shape; ``material``
    marks special skin (``"nail"``, ``"sleeve"``); ``weighs`` = False keeps a shape out of the
    weights (details such as nails follow the bone they sit on).
    """

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    ra: float
    rb: float
    knots: Knots
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    sx: float = 1.0
    sz: float = 1.0
    group: str = ""
    blend: float = 0.004
    material: str = ""
    weighs: bool = True
    cut: bool = False  #: hard union even within the group (a sleeve's cuff edge)


@dataclass(frozen=True)
class LimbSpec:
    """Everything the mesh pipeline needs to build one limb (right side; left is its mirror)."""

    name: str
    joint_names: tuple[str, ...]
    #: bind pose of every skin joint: positions (n, 3) and orientations (n, 4, w x y z)
    bind_positions: NDArray[np.float64]
    bind_orientations: NDArray[np.float64]
    #: per skin joint, the joint whose distance from it is the bone's length (−1: none); the
    #: skinning stretches each bone to the tracked length
    length_child: tuple[int, ...]
    shapes: tuple[Shape, ...]
    #: grid spacing of the distance field (metres): the finest detail the surface can hold
    voxel: float = 0.0026
    #: polygon budget after decimation (what the frame goal affords)
    triangles: int = 14000
    #: soft-min temperature of the weights across shapes (metres)
    weight_softness: float = 0.0015
    #: Laplacian diffusion steps of the weights over the surface (smooths seams between shapes)
    weight_smoothing: int = 8
    #: colour tints by region, applied by :mod:`mirrorvr.render.limb_build`
    tints: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    #: evaluate each shape only in its own box of the grid (the same surface: far from a shape
    #: it cannot change the field's sign): what makes a limb as long as a leg affordable
    sparse: bool = False
    #: how far (metres) outside a nail shape its colour still reaches: a coarser grid or a
    #: heavier decimation leaves the surface further from small shapes such as toenails
    nail_edge: float = 0.0006
    #: a foot's floor plane in the bind pose: a point on it and the downward normal; skin near it
    #: that faces down gets the ``"sole"`` tint (the soles are lighter, like the palms)
    sole_plane: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None

    @property
    def joint_count(self) -> int:
        """Number of skin joints."""
        return len(self.joint_names)

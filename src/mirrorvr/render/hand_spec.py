"""The realistic hand-and-forearm as a :class:`~mirrorvr.render.limb_spec.LimbSpec`.

Bind pose: the tracking skeleton's adult right hand (:mod:`mirrorvr.tracking.skeleton`), palm
down, wrist at the origin, fingers spread wider than they ever are at rest so that the surface
keeps a gap between them (the skinning closes it). Shapes, from the anatomy of an adult hand:
metacarpals flattened and melted into one palm with thenar and hypothenar pads, a carpal bar at
the wrist, phalanges of slightly flattened section tapering to the tips, dorsal knuckle bumps,
nail plates, a forearm that widens to the muscle bellies below the elbow, and a sleeve.
"""

from __future__ import annotations

import itertools

import numpy as np

from mirrorvr.render.limb_spec import Knots, LimbSpec, Shape
from mirrorvr.render.skinning import FOREARM_STATIONS, forearm_frames
from mirrorvr.tracking import quat
from mirrorvr.tracking.joints import CHAINS, JOINT_COUNT, Joint, joint_name
from mirrorvr.tracking.skeleton import HandParams, hand_local

#: the bind pose: fingers straight and spread apart (the skeleton's ``spread`` parameter turns
#: the fingers towards each other as it grows — its signs make it an adduction — so apart is
#: negative here: 1.6× its range the other way)
BIND_PARAMS = HandParams(spread=-1.0, thumb_opposition=-0.2)
#: finger phalanx radii at the proximal phalanx (metres); each next phalanx is 0.9× thinner
_FINGER_R = {"index": 0.0093, "middle": 0.0096, "ring": 0.0090, "little": 0.0078}
_THUMB_R = (0.0135, 0.0105, 0.0097)  # metacarpal, proximal, distal
_FOREARM = HAND_FOREARM_JOINTS = tuple(JOINT_COUNT + k for k in range(len(FOREARM_STATIONS)))

V3 = tuple[float, float, float]


def _v(x: np.ndarray) -> V3:
    return (float(x[0]), float(x[1]), float(x[2]))


def _bone_knots(parent: int, joint: int, child: int, length: float, blend: float = 0.011) -> Knots:
    """Half parent at the bone's start, all ``joint`` in the middle, half child at the end."""
    d = min(0.45, blend / length)
    return (
        (0.0, ((parent, 0.5), (joint, 0.5))),
        (d, ((joint, 1.0),)),
        (1.0 - d, ((joint, 1.0),)),
        (1.0, ((joint, 0.5), (child, 0.5))),
    )


def _const(*jw: tuple[int, float]) -> Knots:
    return ((0.0, jw), (1.0, jw))


def _forearm_weight(c: float) -> dict[int, float]:
    """Skin weights at fraction ``c`` from elbow (0) to wrist (1) along the forearm."""
    stations = [*FOREARM_STATIONS, 1.0, 1.06]
    joints: list[dict[int, float]] = [{j: 1.0} for j in _FOREARM]
    joints += [{_FOREARM[-1]: 0.5, int(Joint.WRIST): 0.5}, {int(Joint.WRIST): 1.0}]
    if c <= stations[0]:
        return joints[0]
    for k in range(len(stations) - 1):
        if c <= stations[k + 1]:
            f = (c - stations[k]) / (stations[k + 1] - stations[k])
            out: dict[int, float] = {}
            for j, w in joints[k].items():
                out[j] = out.get(j, 0.0) + w * (1 - f)
            for j, w in joints[k + 1].items():
                out[j] = out.get(j, 0.0) + w * f
            return out
    return joints[-1]


def _forearm_knots(ca: float, cb: float) -> Knots:
    stations = sorted({ca, cb, *(s for s in (*FOREARM_STATIONS, 1.0, 1.06) if ca < s < cb)})
    return tuple(
        ((s - ca) / (cb - ca), tuple(sorted(_forearm_weight(s).items()))) for s in stations
    )


def hand_spec() -> LimbSpec:
    """The hand-and-forearm's description (right hand, bind pose)."""
    p, q = hand_local(BIND_PARAMS)
    rot = quat.to_matrix(q)
    fp, frot = forearm_frames(p, rot)
    shapes: list[Shape] = []
    W = int(Joint.WRIST)

    def ax(j: int, k: int) -> np.ndarray:
        return rot[j][:, k]

    # ---- palm: flattened metacarpals melted together, pads, carpal bar ----------------------
    for name in ("index", "middle", "ring", "little"):
        m, k1 = CHAINS[name][0], CHAINS[name][1]
        length = float(np.linalg.norm(p[k1] - p[m]))
        r = _FINGER_R[name] * 1.12
        shapes.append(
            Shape(
                _v(p[m]),
                _v(p[k1]),
                r * 1.05,
                r,
                _bone_knots(W, m, k1, length, 0.012),
                up=_v(ax(m, 2)),
                sx=1.3,
                sz=0.9,
                blend=0.014,
            )
        )
        # knuckle: the metacarpal head stands out on the back of the hand
        z, y = ax(m, 2), ax(k1, 1)
        shapes.append(
            Shape(
                _v(p[k1] + z * r * 0.35 - y * 0.003),
                _v(p[k1] + z * r * 0.35 + y * 0.002),
                r * 0.62,
                r * 0.55,
                _const((m, 0.75), (k1, 0.25)),
                up=_v(z),
                sx=1.1,
                blend=0.006,
            )
        )
    palm_z = ax(int(Joint.MIDDLE_METACARPAL), 2)
    # thenar (ball of the thumb) and hypothenar pads on the palmar side
    shapes.append(
        Shape(
            (-0.021, 0.018, -0.009),
            (-0.027, 0.046, -0.008),
            0.0125,
            0.011,
            _const((W, 0.35), (2, 0.65)),
            sx=1.1,
            sz=0.9,
            blend=0.012,
        )
    )
    shapes.append(
        Shape(
            (0.021, 0.016, -0.007),
            (0.029, 0.058, -0.006),
            0.0115,
            0.0105,
            _const((21, 0.7), (W, 0.3)),
            sz=0.85,
            blend=0.012,
        )
    )
    shapes.append(
        Shape(
            (-0.015, 0.004, -0.002),
            (0.015, 0.004, -0.002),
            0.014,
            0.014,
            _const(
                (W, 1.0),
            ),
            up=_v(palm_z),
            sx=1.0,
            sz=0.72,
            blend=0.012,
        )
    )
    # the palm's flat middle: one wide, thin plate across the metacarpals smooths the palmar
    # side (the separate metacarpals alone leave ridges)
    mid, idx, lit = (CHAINS[f] for f in ("middle", "index", "little"))
    shapes.append(
        Shape(
            _v((p[mid[0]] + p[W]) * 0.5 + palm_z * -0.002),
            _v(p[mid[1]] * 0.82 + palm_z * -0.002),
            0.026,
            0.029,
            (
                (0.0, ((W, 0.6), (mid[0], 0.4))),
                (1.0, ((idx[0], 0.3), (mid[0], 0.4), (lit[0], 0.3))),
            ),
            up=_v(palm_z),
            sx=1.0,
            sz=0.36,
            blend=0.012,
        )
    )

    # ---- forearm: elbow → wrist, wider at the muscle bellies, and a sleeve -----------------
    elbow, wrist = fp[0], p[W]
    fy = (wrist - elbow) / np.linalg.norm(wrist - elbow)
    up = _v(frot[-1][:, 2])
    length = float(np.linalg.norm(wrist - elbow))

    def along(c: float) -> np.ndarray:
        return elbow + (wrist - elbow) * c

    shapes.append(
        Shape(
            _v(along(0.45)),
            _v(along(1.0) + fy * 0.004),
            0.031,
            0.0215,
            _forearm_knots(0.45, 1.0 + 0.004 / length),
            up=up,
            sx=1.22,
            sz=0.78,
            blend=0.02,
        )
    )
    shapes.append(
        Shape(
            _v(along(0.0) + fy * 0.02),
            _v(along(0.5)),
            0.034,
            0.031,
            _forearm_knots(0.02 / length, 0.5),
            up=up,
            sx=1.1,
            sz=0.92,
            blend=0.02,
        )
    )
    shapes.append(
        Shape(
            _v(along(0.0) + fy * 0.015),
            _v(along(0.42)),
            0.0385,
            0.035,
            _forearm_knots(0.015 / length, 0.42),
            up=up,
            sx=1.1,
            sz=0.93,
            material="sleeve",
            cut=True,
        )
    )

    # ---- fingers: phalanges, nails; each finger its own group (no webbing between them) ---
    for name, chain in CHAINS.items():
        if name == "thumb":
            radii = _THUMB_R
            bones = list(itertools.pairwise(chain))
            parents = [W, chain[0], chain[1]]
            blend_body = 0.012
        else:
            r0 = _FINGER_R[name]
            radii = (r0, r0 * 0.9, r0 * 0.82)
            bones = list(itertools.pairwise(chain[1:]))  # the phalanges (metacarpal is palm)
            parents = [chain[0], chain[1], chain[2]]
            blend_body = 0.006
        for i, ((j, c), parent) in enumerate(zip(bones, parents, strict=True)):
            r = radii[i]
            rb = radii[i + 1] * 0.95 if i + 1 < len(radii) else r * 0.78
            a, b = p[j], p[c]
            y = (b - a) / np.linalg.norm(b - a)
            last = i == len(bones) - 1
            if last:
                b = b - y * rb * 0.9  # the cap's round end reaches the tracked tip
            length = float(np.linalg.norm(b - a))
            shapes.append(
                Shape(
                    _v(a),
                    _v(b),
                    r,
                    rb,
                    _bone_knots(parent, j, c, length),
                    up=_v(ax(j, 2)),
                    sx=1.06,
                    sz=0.9,
                    group=name,
                    blend=blend_body if i == 0 else 0.004,
                )
            )
            if last:
                z = ax(j, 2)
                na = a + (b - a) * 0.42 + z * r * 0.62
                nb = a + (b - a) * 1.0 + z * rb * 0.55
                shapes.append(
                    Shape(
                        _v(na),
                        _v(nb),
                        r * 0.6,
                        rb * 0.72,
                        _const(
                            (j, 1.0),
                        ),
                        up=_v(z),
                        sx=1.35,
                        sz=0.3,
                        group=name,
                        blend=0.0015,
                        material="nail",
                        weighs=False,
                    )
                )

    # ---- skin joints: 26 tracked + 4 forearm twist joints --------------------------------
    names = tuple(joint_name(j) for j in range(JOINT_COUNT)) + tuple(
        f"forearm_{k}" for k in range(len(FOREARM_STATIONS))
    )
    length_child = [-1] * len(names)
    for chain in CHAINS.values():
        for j, c in itertools.pairwise(chain):
            length_child[j] = c
    frames_q = np.concatenate([q, quat.from_matrix(frot)])
    return LimbSpec(
        name="hand",
        joint_names=names,
        bind_positions=np.concatenate([p, fp]),
        bind_orientations=frames_q,
        length_child=tuple(length_child),
        shapes=tuple(shapes),
        voxel=0.0024,
        triangles=8000,
        weight_softness=0.0015,
        tints={"palm": (1.06, 0.97, 0.95)},
    )

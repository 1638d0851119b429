"""The realistic leg and foot as a :class:`~mirrorvr.render.limb_spec.LimbSpec`.

Rigged to the leg skeleton (:mod:`mirrorvr.tracking.leg_skeleton`): its six joints are the skin
joints, in a bind pose halfway through the bundled movements' range (knee extended 25° from the
seated rest, ankle plantarflexed 10°, toes straight), so that linear blend skinning bends each
joint about as far one way as the other. Shapes, from the anatomy of an adult leg (right side;
positions in each joint's frame: +y along the bone, +z anterior / dorsal, +x lateral):

* thigh with the quadriceps in front and the vastus medialis above the knee, under **trousers**
  that end a hand's width above the knee (a cuff edge, like the sleeve);
* knee: the femoral condyles, the patella in front, the tibial tuberosity below it;
* shank: the calf's two gastrocnemius heads (the medial one larger and lower) behind the shin,
  narrowing to the ankle, the Achilles tendon to the heel, and the two malleoli (the lateral
  lower and further back than the medial);
* foot: a round heel, a lateral column on the floor and a medial column that rises into the
  arch, metatarsals spreading to the ball, an instep, a pad under the ball;
* toes: the big toe and four smaller ones (each a group of its own: toes touch but do not web),
  with nails.

No twist joints: the bundled movements and the leg trackers bend knee, ankle and toes about
their hinge axes (inversion is a bend of the foot, not a twist of the shank), so there is no
candy-wrapper to spread; tracked tibial rotation would twist the skin between knee and ankle.
"""

from __future__ import annotations

import math

import numpy as np

from mirrorvr.render.limb_spec import Knots, LimbSpec, Shape
from mirrorvr.tracking import quat
from mirrorvr.tracking.leg_skeleton import (
    LEG_BONES,
    LEG_JOINT_COUNT,
    LegJoint,
    LegParams,
    leg_joint_name,
    leg_local,
)

#: the bind pose: the middle of the knee's and the ankle's range in the bundled movements
BIND_PARAMS = LegParams(knee_ext=math.radians(25.0), dorsiflexion=math.radians(-10.0))

HIP, KNEE, ANKLE, HEEL, BALL, TOE = (int(j) for j in LegJoint)

V3 = tuple[float, float, float]


def _v(x: np.ndarray) -> V3:
    return (float(x[0]), float(x[1]), float(x[2]))


def _const(*jw: tuple[int, float]) -> Knots:
    return ((0.0, jw), (1.0, jw))


def _ramp(a: tuple[tuple[int, float], ...], b: tuple[tuple[int, float], ...]) -> Knots:
    return ((0.0, a), (1.0, b))


def leg_spec() -> LimbSpec:
    """The leg-and-foot's description (right leg, bind pose, hip at the origin)."""
    p, q = leg_local(BIND_PARAMS)
    rot = quat.to_matrix(q)
    shapes: list[Shape] = []

    def at(j: int, x: float, y: float, z: float) -> V3:
        """A point given in joint ``j``'s frame (metres), in the bind pose."""
        return _v(p[j] + rot[j] @ np.array([x, y, z]))

    def up(j: int) -> V3:
        return _v(rot[j][:, 2])

    thigh_len = float(np.linalg.norm(p[KNEE] - p[HIP]))
    shank_len = float(np.linalg.norm(p[ANKLE] - p[KNEE]))

    def along(
        length: float, fa: float, fb: float, blend: float, j: int, parent: int, child: int
    ) -> Knots:
        """Knots of a shape from ``fa`` to ``fb`` (fractions of the bone ``j`` → ``child``):
        half ``parent`` / half ``j`` at the bone's start, all ``j`` in the middle, half ``j`` /
        half ``child`` at its end, each shared over ``blend`` metres."""

        def half(a: int, b: int) -> dict[int, float]:
            return {a: 1.0} if a == b else {a: 0.5, b: 0.5}

        stations = [
            (0.0, half(parent, j)),
            (blend / length, {j: 1.0}),
            (1.0 - blend / length, {j: 1.0}),
            (1.0, half(j, child)),
        ]

        def w(c: float) -> tuple[tuple[int, float], ...]:
            if c <= stations[0][0]:
                d = stations[0][1]
            elif c >= stations[-1][0]:
                d = stations[-1][1]
            else:
                k = next(i for i in range(len(stations) - 1) if c <= stations[i + 1][0])
                (c0, d0), (c1, d1) = stations[k], stations[k + 1]
                f = (c - c0) / (c1 - c0)
                d = {jj: d0.get(jj, 0.0) * (1 - f) + d1.get(jj, 0.0) * f for jj in {*d0, *d1}}
            return tuple(sorted((jj, ww) for jj, ww in d.items() if ww > 0))

        inner = [s for s, _ in stations if fa < s < fb]
        ts = [fa, *inner, fb]
        return tuple(((t - fa) / (fb - fa), w(t)) for t in ts)

    def thigh_knots(ya: float, yb: float) -> Knots:
        return along(thigh_len, ya / thigh_len, yb / thigh_len, 0.07, HIP, HIP, KNEE)

    def shank_knots(ya: float, yb: float) -> Knots:
        return along(shank_len, ya / shank_len, yb / shank_len, 0.06, KNEE, HIP, ANKLE)

    # ---- thigh, under trousers ------------------------------------------------------------
    shapes.append(
        Shape(at(HIP, 0, -0.04, 0), at(HIP, 0, 0.34, 0.0), 0.076, 0.056,
              thigh_knots(-0.04, 0.34), up=up(HIP), sx=1.12, sz=0.86, blend=0.03)
    )  # fmt: skip
    shapes.append(  # quadriceps
        Shape(at(HIP, 0.004, 0.06, 0.028), at(HIP, 0.0, 0.32, 0.018), 0.05, 0.034,
              thigh_knots(0.06, 0.32), up=up(HIP), sx=1.05, sz=0.9, blend=0.04)
    )  # fmt: skip
    shapes.append(  # vastus medialis: the teardrop above the knee, inside
        Shape(at(HIP, -0.028, 0.31, 0.012), at(HIP, -0.026, 0.37, 0.006), 0.03, 0.024,
              thigh_knots(0.31, 0.37), up=up(HIP), blend=0.025)
    )  # fmt: skip
    shapes.append(  # trousers: loose over thigh and quadriceps, ending above the knee
        Shape(at(HIP, 0, -0.06, 0.004), at(HIP, 0, 0.29, 0.006), 0.09, 0.068,
              thigh_knots(-0.06, 0.29), up=up(HIP), sx=1.1, sz=1.0,
              material="sleeve", cut=True)
    )  # fmt: skip

    # ---- knee -----------------------------------------------------------------------------
    knee_w = _const((HIP, 0.5), (KNEE, 0.5))
    shapes.append(  # femoral condyles, across the knee
        Shape(at(HIP, -0.016, thigh_len - 0.025, -0.004), at(HIP, 0.016, thigh_len - 0.025, -0.004),
              0.036, 0.036, _ramp(((HIP, 0.6), (KNEE, 0.4)), ((HIP, 0.6), (KNEE, 0.4))),
              up=up(HIP), sz=0.95, blend=0.03)
    )  # fmt: skip
    front = rot[HIP][:, 2] + rot[KNEE][:, 2]
    front /= np.linalg.norm(front)
    down = rot[HIP][:, 1] + rot[KNEE][:, 1]
    down /= np.linalg.norm(down)
    patella = p[KNEE] + front * 0.03
    shapes.append(
        Shape(_v(patella - down * 0.012), _v(patella + down * 0.01), 0.022, 0.019, knee_w,
              up=_v(front), sx=1.15, sz=0.62, blend=0.02)
    )  # fmt: skip

    # ---- shank: tibial head, calf, narrowing to the ankle, Achilles tendon, malleoli --------
    shapes.append(
        Shape(at(KNEE, 0, 0.0, -0.006), at(KNEE, 0, 0.13, -0.006), 0.048, 0.044,
              shank_knots(0.0, 0.13), up=up(KNEE), sx=1.08, sz=0.92, blend=0.03)
    )  # fmt: skip
    shapes.append(  # tibial tuberosity below the patella
        Shape(at(KNEE, 0.004, 0.05, 0.03), at(KNEE, 0.002, 0.08, 0.026), 0.012, 0.01,
              shank_knots(0.05, 0.08), up=up(KNEE), blend=0.015)
    )  # fmt: skip
    shapes.append(  # gastrocnemius, medial head (larger, lower)
        Shape(at(KNEE, -0.015, 0.07, -0.026), at(KNEE, -0.012, 0.22, -0.03), 0.047, 0.03,
              shank_knots(0.07, 0.21), up=up(KNEE), sz=1.02, blend=0.035)
    )  # fmt: skip
    shapes.append(  # gastrocnemius, lateral head
        Shape(at(KNEE, 0.017, 0.06, -0.024), at(KNEE, 0.014, 0.18, -0.027), 0.043, 0.028,
              shank_knots(0.06, 0.17), up=up(KNEE), blend=0.035)
    )  # fmt: skip
    shapes.append(  # lower shank: soleus and the narrowing towards the ankle
        Shape(at(KNEE, 0, 0.12, -0.008), at(KNEE, 0, shank_len - 0.035, -0.004), 0.043, 0.031,
              shank_knots(0.12, shank_len - 0.035), up=up(KNEE), sx=1.08, sz=0.94, blend=0.04)
    )  # fmt: skip
    heel_top = at(ANKLE, 0.0, -0.046, -0.03)
    shapes.append(  # Achilles tendon: shank → heel
        Shape(at(KNEE, 0, 0.25, -0.026), heel_top, 0.012, 0.012,
              _ramp(((KNEE, 1.0),), ((KNEE, 0.35), (ANKLE, 0.65))),
              up=up(KNEE), sx=1.5, sz=0.8, blend=0.02)
    )  # fmt: skip
    mal = ((KNEE, 0.7), (ANKLE, 0.3))
    for x, y, z, r in ((-0.025, -0.004, 0.004, 0.0115), (0.026, 0.008, -0.01, 0.011)):
        shapes.append(
            Shape(at(KNEE, x, shank_len + y - 0.006, z), at(KNEE, x, shank_len + y + 0.006, z),
                  r, r * 0.95, _const(*mal), up=up(KNEE), sx=0.8, blend=0.012)
        )  # fmt: skip

    # ---- foot (ankle frame: +y forward along the sole, +z up, the floor at z ≈ −0.09) -------
    foot = ANKLE
    shapes.append(  # the ankle: the shank's end melting into the instep
        Shape(at(foot, 0, -0.008, -0.012), at(foot, 0.003, 0.035, -0.036), 0.031, 0.03,
              _ramp(((KNEE, 0.5), (ANKLE, 0.5)), ((ANKLE, 1.0),)), up=up(foot),
              sx=1.12, sz=0.86, blend=0.02)
    )  # fmt: skip
    shapes.append(  # heel
        Shape(at(foot, 0.002, -0.03, -0.058), at(foot, 0.004, 0.004, -0.061), 0.029, 0.027,
              _ramp(((ANKLE, 0.5), (HEEL, 0.5)), ((ANKLE, 1.0),)), up=up(foot), sx=0.95,
              blend=0.02)
    )  # fmt: skip
    shapes.append(  # lateral column: calcaneus → cuboid → fifth metatarsal, on the floor
        Shape(at(foot, 0.014, 0.0, -0.064), at(foot, 0.042, 0.122, -0.075), 0.02, 0.012,
              _const((ANKLE, 1.0)), up=up(foot), sx=1.15, sz=0.8, blend=0.02)
    )  # fmt: skip
    shapes.append(  # medial column: talus → navicular → first metatarsal, rising into the arch
        Shape(at(foot, -0.01, 0.0, -0.04), at(foot, -0.022, 0.146, -0.075), 0.025, 0.0165,
              _ramp(((ANKLE, 1.0),), ((ANKLE, 0.75), (BALL, 0.25))), up=up(foot),
              sz=0.85, blend=0.018)
    )  # fmt: skip
    for base, head in (
        ((-0.002, 0.04, -0.046), (-0.003, 0.151, -0.074)),
        ((0.012, 0.04, -0.05), (0.013, 0.144, -0.075)),
        ((0.025, 0.045, -0.055), (0.028, 0.134, -0.076)),
    ):
        shapes.append(
            Shape(at(foot, *base), at(foot, *head), 0.014, 0.0105,
                  _ramp(((ANKLE, 1.0),), ((ANKLE, 0.75), (BALL, 0.25))), up=up(foot),
                  sx=1.25, sz=0.8, blend=0.014)
        )  # fmt: skip
    shapes.append(  # instep: the top of the foot sloping to the toes
        Shape(at(foot, 0.0, 0.0, -0.036), at(foot, 0.012, 0.122, -0.066), 0.03, 0.023,
              _ramp(((ANKLE, 1.0),), ((ANKLE, 0.8), (BALL, 0.2))), up=up(foot), sx=1.45,
              sz=0.62, blend=0.025)
    )  # fmt: skip
    shapes.append(  # the pad under the ball, across the metatarsal heads
        Shape(at(foot, -0.024, 0.149, -0.079), at(foot, 0.04, 0.128, -0.079), 0.011, 0.0105,
              _const((ANKLE, 0.65), (BALL, 0.35)), up=up(foot), blend=0.012)
    )  # fmt: skip

    # ---- toes (ball frame = the big toe's joint; each toe its own group) --------------------
    ball = np.asarray(p[BALL])

    def toe_pt(x: float, y: float, z: float) -> np.ndarray:
        """A point given in the foot frame (ankle origin), carried by the toes' frame."""
        local_to_ball = np.array([x, y, z]) - (rot[ANKLE].T @ (ball - p[ANKLE]))
        return ball + rot[BALL] @ local_to_ball

    # (name, joint points in the foot frame: base, middle, tip; radii at them)
    toes = (
        ("toe1", ((-0.022, 0.15, -0.075), (-0.023, 0.183, -0.076), (-0.024, 0.212, -0.079)),
         (0.0135, 0.0128, 0.0115)),
        ("toe2", ((-0.001, 0.156, -0.075), (0.001, 0.181, -0.073), (0.003, 0.201, -0.081)),
         (0.0095, 0.009, 0.0082)),
        ("toe3", ((0.0155, 0.149, -0.076), (0.0175, 0.171, -0.074), (0.0195, 0.189, -0.082)),
         (0.0092, 0.0087, 0.0078)),
        ("toe4", ((0.0305, 0.139, -0.077), (0.033, 0.159, -0.075), (0.035, 0.174, -0.083)),
         (0.0088, 0.0083, 0.0074)),
        ("toe5", ((0.0445, 0.127, -0.078), (0.048, 0.143, -0.077), (0.0505, 0.155, -0.083)),
         (0.0082, 0.0076, 0.0068)),
    )  # fmt: skip
    for name, pts, radii in toes:
        a, m, tip = (toe_pt(*pt) for pt in pts)
        y = (tip - m) / np.linalg.norm(tip - m)
        end = tip - y * radii[2] * 0.9  # the round end reaches the toe's tip
        base_w = ((ANKLE, 0.5), (BALL, 0.5))
        shapes.append(
            Shape(_v(a), _v(m), radii[0], radii[1], _ramp(base_w, ((BALL, 1.0),)),
                  up=up(BALL), sx=1.12, sz=0.84, group=name, blend=0.012)
        )  # fmt: skip
        shapes.append(
            Shape(_v(m), _v(end), radii[1], radii[2], _const((BALL, 1.0)), up=up(BALL),
                  sx=1.1, sz=0.84, group=name, blend=0.004)
        )  # fmt: skip
        z = rot[BALL][:, 2]
        r = radii[2]
        # a nail plate standing a little proud of the toe's back (a millimetre at the big toe)
        na, nb = m + (end - m) * 0.35 + z * r * 0.72, end + z * r * 0.58
        shapes.append(
            Shape(_v(na), _v(nb), r * 0.72, r * 0.66, _const((BALL, 1.0)), up=_v(z), sx=1.3,
                  sz=0.35, group=name, blend=0.0015, material="nail", weighs=False)
        )  # fmt: skip

    # ---- skin joints: the six leg joints --------------------------------------------------
    length_child = [-1] * LEG_JOINT_COUNT
    for j, c in LEG_BONES:
        if c != HEEL:  # the heel is a point on the foot, not a bone the foot stretches along
            length_child[j] = int(c)
    return LimbSpec(
        name="leg",
        joint_names=tuple(leg_joint_name(j) for j in range(LEG_JOINT_COUNT)),
        bind_positions=p,
        bind_orientations=q,
        length_child=tuple(length_child),
        shapes=tuple(shapes),
        voxel=0.0024,
        triangles=8000,
        weight_softness=0.003,
        weight_smoothing=8,
        sparse=True,
        nail_edge=0.0015,
        # soles a little lighter and pinker than the top of the foot, as palms are
        tints={"sole": (1.07, 0.98, 0.95)},
        sole_plane=(at(ANKLE, 0.0, 0.0, -0.09), _v(-rot[ANKLE][:, 2])),
    )

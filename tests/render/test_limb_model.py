"""The realistic limbs (hand, leg): their assets are what the build script makes, and they
deform cleanly through every bundled movement."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from panda3d.core import NodePath

from mirrorvr.render.detail import SOFTWARE_TRIANGLES
from mirrorvr.render.limb import (
    HAND_FILE,
    HAND_SOFTWARE_FILE,
    HIDDEN_SHARE,
    LEG_FILE,
    LEG_SOFTWARE_FILE,
    Limb,
    side_model,
)
from mirrorvr.render.limb_gltf import read_limb
from mirrorvr.render.skinning import (
    HAND_SKIN_JOINTS,
    REST_WRIST_RADIUS,
    hand_skin_frames,
    joint_matrices,
    skin_vertices,
)
from mirrorvr.tracking.joints import JOINT_COUNT
from mirrorvr.tracking.leg_motion import LEG_MOVEMENTS, leg_params_at
from mirrorvr.tracking.leg_skeleton import LEG_JOINT_COUNT, LegJoint, LegParams, leg_pose
from mirrorvr.tracking.mirror import MidlinePlane, mirror_hand
from mirrorvr.tracking.motion import MOVEMENTS, params_at
from mirrorvr.tracking.pose import LimbPose
from mirrorvr.tracking.skeleton import RADII, HandParams, hand_pose

ROOT = Path(__file__).resolve().parents[2]


def _build_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "build_limbs", ROOT / "scripts" / "build_limb_assets.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("hand", HAND_FILE),
        ("leg", LEG_FILE),
        ("hand-software", HAND_SOFTWARE_FILE),
        ("leg-software", LEG_SOFTWARE_FILE),
    ],
)
def test_committed_limb_asset_is_what_the_script_builds(name: str, path: Path) -> None:
    pytest.importorskip("skimage")
    pytest.importorskip("fast_simplification")
    text, blob = _build_script().build(name)
    assert path.read_text(encoding="utf-8") == text
    assert path.with_suffix(".bin").read_bytes() == blob
    assert (path.parent / "LICENSE").exists()


@pytest.mark.parametrize(
    ("path", "budget"), [(HAND_FILE, (7000, 9000)), (HAND_SOFTWARE_FILE, (3500, 4500))]
)
def test_asset_holds_a_skinned_hand_within_its_polygon_budget(
    path: Path, budget: tuple[int, int]
) -> None:
    asset = read_limb(path)
    m = asset.mesh
    assert asset.joint_names[:JOINT_COUNT][1] == "wrist"
    assert len(asset.joint_names) == HAND_SKIN_JOINTS
    # the budget the frame goal affords on a GPU, and on a software renderer (docs/scene.md)
    assert budget[0] <= len(m.triangles) <= budget[1]
    assert np.allclose(m.weights.sum(axis=1), 1.0, atol=1e-5)
    assert m.joints.max() < HAND_SKIN_JOINTS
    # every finger bone moves some skin, and the nails and sleeve are marked
    used = set(np.unique(m.joints[m.weights > 0.3]))
    for j in (3, 4, 7, 8, 9, 12, 13, 14, 17, 18, 19, 22, 23, 24):
        assert j in used, j
    assert (m.materials[:, 0] > 0.5).sum() > 10 and (m.materials[:, 1] > 0.5).sum() > 100
    # a closed surface: every edge is shared by exactly two triangles (no holes, no cracks)
    t = m.triangles
    edges = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()


@pytest.mark.parametrize(
    ("path", "budget"), [(LEG_FILE, (7000, 8000)), (LEG_SOFTWARE_FILE, (3500, 4000))]
)
def test_asset_holds_a_skinned_leg_within_its_polygon_budget(
    path: Path, budget: tuple[int, int]
) -> None:
    asset = read_limb(path)
    m = asset.mesh
    assert asset.joint_names == tuple(j.name.lower() for j in LegJoint)
    assert budget[0] <= len(m.triangles) <= budget[1]  # a hand's budgets (docs/scene.md)
    assert np.allclose(m.weights.sum(axis=1), 1.0, atol=1e-5)
    assert m.joints.max() < LEG_JOINT_COUNT
    # thigh, shank, foot and toes each move skin; toenails and trousers are marked
    used = set(np.unique(m.joints[m.weights > 0.5]))
    assert {LegJoint.HIP, LegJoint.KNEE, LegJoint.ANKLE, LegJoint.BALL} <= used
    assert (m.materials[:, 0] > 0.5).sum() > 5 and (m.materials[:, 1] > 0.5).sum() > 100
    # the trousers cover the thigh only: no cloth below the knee
    knee = asset.bind_positions[LegJoint.KNEE]
    cloth = m.positions[m.materials[:, 1] > 0.5]
    assert (cloth[:, 1] < knee[1] - 0.03).all()
    t = m.triangles
    edges = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()


@pytest.mark.parametrize("limb", ["upper", "lower"])
def test_left_model_is_the_right_one_mirrored(limb: str) -> None:
    right, left = side_model("right", limb), side_model("left", limb)  # type: ignore[arg-type]
    assert np.allclose(left.vertices, right.vertices * [-1, 1, 1])
    assert np.allclose(left.bind_pos, right.bind_pos * [-1, 1, 1])
    for rot in (right.bind_rot, left.bind_rot):
        assert np.allclose(np.linalg.det(rot), 1.0)  # proper rotations only


def _triangle_frames(v: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    area = np.linalg.norm(n, axis=1) / 2
    return n, area


@pytest.fixture(scope="module")
def limbs() -> Iterator[dict[str, Limb]]:
    root = NodePath("root")
    yield {s: Limb(root, s) for s in ("right", "left")}  # type: ignore[misc]


@pytest.fixture(scope="module")
def software_limbs() -> Iterator[dict[str, Limb]]:
    root = NodePath("root")
    yield {s: Limb(root, s, detail="software") for s in ("right", "left")}  # type: ignore[misc]


def test_the_software_tier_draws_the_coarser_hand(
    limbs: dict[str, Limb], software_limbs: dict[str, Limb]
) -> None:
    for side in ("right", "left"):
        full, coarse = limbs[side].model, software_limbs[side].model
        assert len(full.triangles) > 1.5 * len(coarse.triangles)
        assert len(coarse.triangles) == SOFTWARE_TRIANGLES
        # the same skeleton and bind pose: one set of joint matrices poses either mesh
        assert np.allclose(full.bind_pos, coarse.bind_pos)
        assert np.allclose(full.bind_rot, coarse.bind_rot)
    # and the leg's
    for side in ("right", "left"):
        full_leg = side_model(side, "lower")  # type: ignore[arg-type]
        coarse_leg = side_model(side, "lower", "software")  # type: ignore[arg-type]
        assert len(coarse_leg.triangles) == SOFTWARE_TRIANGLES < len(full_leg.triangles)
        assert np.allclose(full_leg.bind_pos, coarse_leg.bind_pos)


@pytest.fixture(scope="module")
def legs() -> Iterator[dict[str, Limb]]:
    root = NodePath("root")
    yield {s: Limb(root, s, limb="lower") for s in ("right", "left")}  # type: ignore[misc]


@pytest.fixture(scope="module")
def software_legs() -> Iterator[dict[str, Limb]]:
    root = NodePath("root")
    yield {s: Limb(root, s, limb="lower", detail="software") for s in ("right", "left")}  # type: ignore[misc]


def _pose(limb: str, movement: str, u: float) -> LimbPose:
    if limb == "lower":
        return leg_pose("right", leg_params_at(movement, u))
    return hand_pose("right", params_at(movement, u))


#: triangles that may turn inside out at a crease, as a share of the mesh: the hand's fist and
#: thumb opposition fold ≤ 43 of 8 000 (linear blend skinning folds the inside of a 90° bend);
#: the leg's bends are gentler: none may fold (measured: none); the software renderers' coarser
#: hand folds ≤ 25 of 4 000 (measured)
FOLD_SHARE = {"upper": 0.007, "lower": 0.0, "upper-software": 0.007, "lower-software": 0.0}
#: the meshes each case skins: the hand and the leg, and the software renderers' coarser ones
_FIXTURE = {
    "upper": "limbs",
    "upper-software": "software_limbs",
    "lower": "legs",
    "lower-software": "software_legs",
}


@pytest.mark.parametrize(
    ("limb", "movement"),
    [(k, m) for k in ("upper", "upper-software") for m in MOVEMENTS]
    + [(k, m) for k in ("lower", "lower-software") for m in LEG_MOVEMENTS],
)
def test_mesh_deforms_cleanly_through_every_movement(
    limb: str, movement: str, request: pytest.FixtureRequest
) -> None:
    # CPU reference skinning (the shader's formula) of both sides over the whole movement: no
    # triangle may collapse or stretch apart at any phase, and triangles may turn inside out
    # only where skin folds into a crease (FOLD_SHARE). Not yet zero: see docs/scene.md
    sides: dict[str, Limb] = request.getfixturevalue(_FIXTURE[limb])
    for side, model_limb in sides.items():
        model = model_limb.model
        v0, tri = model.vertices, model.triangles
        n0, a0 = _triangle_frames(v0, tri)
        worst_flip, worst_area, worst_stretch = 0, 1.0, 1.0
        for u in np.linspace(0.0, 1.0, 9):
            hand = _pose(limb.split("-")[0], movement, float(u))
            if side == "left":
                hand = mirror_hand(hand, MidlinePlane.sagittal())
            m = model_limb.skin_matrices(hand)
            v = skin_vertices(v0, model.joints, model.weights, m)
            n, a = _triangle_frames(v, tri)
            # the triangle's bind normal carried by its vertices' blended rotation
            rot = np.einsum("vk,vkij->vij", model.weights, m[model.joints][:, :, :3, :3])
            carried = np.einsum("tij,tj->ti", rot[tri[:, 0]], n0)
            cos = np.einsum("ti,ti->t", n, carried) / np.maximum(
                np.linalg.norm(n, axis=1) * np.linalg.norm(carried, axis=1), 1e-18
            )
            worst_flip = max(worst_flip, int((cos < 0).sum()))
            worst_area = min(worst_area, float((a / a0).min()))
            # edges against the typical edge length: decimation leaves some very short edges
            # whose ratio alone would say little
            e0 = np.linalg.norm(v0[tri[:, 1]] - v0[tri[:, 0]], axis=1)
            e = np.linalg.norm(v[tri[:, 1]] - v[tri[:, 0]], axis=1)
            ref = np.maximum(e0, np.median(e0))
            worst_stretch = max(worst_stretch, float((e / ref).max()))
        assert worst_flip <= FOLD_SHARE[limb] * len(tri), (
            f"{side} {movement}: {worst_flip} turned inside out"
        )
        assert worst_area > 0.005, f"{side} {movement}: a triangle collapsed ({worst_area:.3f})"
        assert worst_stretch < 3.5, f"{side} {movement}: skin tore apart ({worst_stretch:.2f})"


@pytest.mark.parametrize("meshes", ["limbs", "software_limbs"])
def test_a_hand_at_rest_has_no_folded_skin(meshes: str, request: pytest.FixtureRequest) -> None:
    limb = request.getfixturevalue(meshes)["right"]
    model = limb.model
    v0, tri = model.vertices, model.triangles
    n0, _ = _triangle_frames(v0, tri)
    v = skin_vertices(
        v0, model.joints, model.weights, limb.skin_matrices(hand_pose("right", HandParams()))
    )
    n, _ = _triangle_frames(v, tri)
    flipped = int((np.einsum("ti,ti->t", n, n0) < 0).sum())
    assert flipped == 0, flipped


def test_limb_follows_the_tracked_hand_size(limbs: dict[str, Limb]) -> None:
    limb = limbs["right"]
    model = limb.model
    sizes = []
    for scale in (0.85, 1.0, 1.2):
        m = limb.skin_matrices(hand_pose("right", HandParams(), scale=scale))
        v = skin_vertices(model.vertices, model.joints, model.weights, m)
        hand = v[v[:, 1] > 0.29]  # beyond the wrist (at y = 0.30 at home)
        sizes.append(float(hand[:, 1].max() - 0.30))
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[2] / sizes[1] == pytest.approx(1.2, rel=0.05)


def test_a_leg_at_rest_has_no_folded_skin(legs: dict[str, Limb]) -> None:
    # the seated rest bends the knee 25° further than the bind pose: no triangle may turn over
    # against the skin around it (its bind normal carried by its vertices' blended rotation)
    limb = legs["right"]
    model = limb.model
    v0, tri = model.vertices, model.triangles
    n0, _ = _triangle_frames(v0, tri)
    m = limb.skin_matrices(leg_pose("right", LegParams()))
    n, _ = _triangle_frames(skin_vertices(v0, model.joints, model.weights, m), tri)
    rot = np.einsum("vk,vkij->vij", model.weights, m[model.joints][:, :, :3, :3])
    carried = np.einsum("tij,tj->ti", rot[tri[:, 0]], n0)
    assert int((np.einsum("ti,ti->t", n, carried) < 0).sum()) == 0


def test_leg_follows_the_tracked_leg_size(legs: dict[str, Limb]) -> None:
    # bones stretch to the tracked lengths and thickness follows the tracked joint radii: a
    # leg posed at 1.15× is drawn 1.15× as long (hip → toe tip) and thicker at the calf
    limb = legs["right"]
    model = limb.model
    extent, girth = [], []
    for scale in (1.0, 1.15):
        pose = leg_pose("right", LegParams(), scale=scale)
        v = skin_vertices(model.vertices, model.joints, model.weights, limb.skin_matrices(pose))
        extent.append(float(v[:, 1].max() - v[:, 1].min()))
        # the calf: skin carried by the shank a third of the way down
        knee, ankle = pose.positions[LegJoint.KNEE], pose.positions[LegJoint.ANKLE]
        calf = knee + (ankle - knee) * 0.3
        near = np.abs((v - calf) @ ((ankle - knee) / np.linalg.norm(ankle - knee))) < 0.01
        girth.append(float(np.ptp(v[near][:, 0])))
    assert extent[1] / extent[0] == pytest.approx(1.15, rel=0.04)
    assert girth[1] / girth[0] == pytest.approx(1.15, rel=0.06)


def test_the_legs_fast_skinning_is_the_reference_formula(legs: dict[str, Limb]) -> None:
    # SkinRig (rotations from quaternion outer products, bind terms kept) against
    # joint_matrices on quaternion rotations, for stretched, turned and unnormalised poses
    from mirrorvr.render.skinning import joint_matrices
    from mirrorvr.tracking import quat

    model = legs["left"].model
    for u, scale in ((0.3, 1.0), (0.7, 0.8), (0.5, 1.25)):
        pose = mirror_hand(
            leg_pose("right", leg_params_at("foot_circles", u), scale=scale),
            MidlinePlane.sagittal(),
        )
        ref = joint_matrices(
            model.bind_pos,
            model.bind_rot,
            pose.positions,
            quat.to_matrix(pose.orientations),
            model.length_child,
            1.2,
        )
        got = model.rig.matrices(pose.positions, pose.orientations * 1.7, 1.2)
        np.testing.assert_allclose(got, ref, atol=1e-12)


@pytest.mark.parametrize("meshes", ["limbs", "software_limbs"])
def test_the_hands_fast_skinning_is_the_reference_formula(
    meshes: str, request: pytest.FixtureRequest
) -> None:
    # the rig's kept bind terms and quaternion products give the documented formula's matrices
    for side, limb in request.getfixturevalue(meshes).items():
        model = limb.model
        for movement in ("fist", "pronation", "wrist_flexion"):
            hand = hand_pose("right", params_at(movement, 0.6), scale=1.1)
            if side == "left":
                hand = mirror_hand(hand, MidlinePlane.sagittal())
            size = float(hand.radii[1]) / REST_WRIST_RADIUS
            pos, rot = hand_skin_frames(hand.positions, hand.orientations, size)
            width = float(hand.radii.mean()) / float(RADII.mean())
            ref = joint_matrices(
                model.bind_pos, model.bind_rot, pos, rot, model.length_child, width
            )
            np.testing.assert_allclose(limb.skin_matrices(hand), ref, atol=1e-9)


@pytest.mark.parametrize(
    ("hidden", "cut"),
    [
        ((LegJoint.HIP,), HIDDEN_SHARE),  # a transtibial amputation's mirrored shank and foot
        ((LegJoint.HIP, LegJoint.KNEE), HIDDEN_SHARE),  # an ankle one's foot; laterality feet
        # their residual limbs: the complements, cut on the same lines
        ((LegJoint.KNEE, LegJoint.ANKLE, LegJoint.HEEL, LegJoint.BALL, LegJoint.TOE_TIP), 0.2),
        ((LegJoint.ANKLE, LegJoint.HEEL, LegJoint.BALL, LegJoint.TOE_TIP), 0.2),
    ],
)
def test_a_cut_leg_is_closed_and_deforms_cleanly(hidden: tuple[int, ...], cut: float) -> None:
    # what an amputation level draws: cut along a weight line, capped by a dome — still a closed
    # surface (its dome's rim welded to the cut), and no triangle folds through any movement
    model = side_model("right", "lower")
    pos, _, _, _, jnt, wgt, tri = model.cut_mesh(hidden, cut)
    assert len(tri) < len(model.triangles)
    weld = np.unique(np.round(pos, 7), axis=0, return_inverse=True)[1].reshape(-1)[tri]
    edges = np.sort(np.concatenate([weld[:, [0, 1]], weld[:, [1, 2]], weld[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()
    # consistently wound (the dome faces out): every directed edge once, its reverse once
    directed = np.concatenate([weld[:, [0, 1]], weld[:, [1, 2]], weld[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed)
    n0, a0 = _triangle_frames(pos, tri)
    for movement in LEG_MOVEMENTS:
        for u in np.linspace(0.0, 1.0, 5):
            leg = leg_pose("right", leg_params_at(movement, float(u)))
            m = model.rig.matrices(leg.positions, leg.orientations)
            n, a = _triangle_frames(skin_vertices(pos, jnt, wgt, m), tri)
            rot = np.einsum("vk,vkij->vij", wgt, m[jnt][:, :, :3, :3])
            carried = np.einsum("tij,tj->ti", rot[tri[:, 0]], n0)
            assert (np.einsum("ti,ti->t", n, carried) >= 0).all(), (movement, u)
            assert (a / a0).min() > 0.05, (movement, u)

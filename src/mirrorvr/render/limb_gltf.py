"""A skinned limb mesh as glTF 2.0 (``.gltf`` + ``.bin``), written and read with numpy only.

Standard attributes (``POSITION``, ``NORMAL``, ``COLOR_0`` = skin tint, ``JOINTS_0``,
``WEIGHTS_0``), one application attribute ``_MATERIAL`` (nail, sleeve masks), a skin whose
joints are flat nodes in the bind pose with their inverse bind matrices. glTF is y-up: positions
are converted from our z-up frame on writing ((x, y, z) → (x, z, −y)) and back on reading, so
any glTF viewer shows the limb upright. The renderer reads the file itself (no loader plug-in
needed) straight into its own vertex format for GPU skinning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mirrorvr.errors import MirrorVRError
from mirrorvr.render.limb_build import SkinnedMesh
from mirrorvr.render.limb_spec import LimbSpec
from mirrorvr.tracking import quat

_ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125


@dataclass(frozen=True)
class LimbAsset:
    """What the renderer needs: the mesh, joint names, bind pose and bone-length children."""

    mesh: SkinnedMesh
    joint_names: tuple[str, ...]
    bind_positions: NDArray[np.float64]  # (n, 3) z-up
    bind_rotations: NDArray[np.float64]  # (n, 3, 3) columns = joint axes
    length_child: NDArray[np.int64]


def to_gltf(spec: LimbSpec, mesh: SkinnedMesh, bin_name: str) -> tuple[str, bytes]:
    """The ``.gltf`` JSON text and ``.bin`` bytes of ``mesh`` built from ``spec``."""
    c = _ZUP_TO_YUP
    rot = quat.to_matrix(spec.bind_orientations)
    n = spec.joint_count
    bind = np.zeros((n, 4, 4))
    bind[:, :3, :3] = c @ rot
    bind[:, :3, 3] = spec.bind_positions @ c.T
    bind[:, 3, 3] = 1.0
    inv = np.linalg.inv(bind)
    idx_type = _USHORT if len(mesh.positions) < 65536 else _UINT
    arrays = [
        ("POSITION", (mesh.positions @ c.T).astype(np.float32), "VEC3", _FLOAT),
        ("NORMAL", (mesh.normals @ c.T).astype(np.float32), "VEC3", _FLOAT),
        ("COLOR_0", mesh.tints.astype(np.float32), "VEC3", _FLOAT),
        ("JOINTS_0", mesh.joints.astype(np.uint8), "VEC4", _UBYTE),
        ("WEIGHTS_0", mesh.weights.astype(np.float32), "VEC4", _FLOAT),
        ("_MATERIAL", mesh.materials.astype(np.float32), "VEC2", _FLOAT),
        (
            "indices",
            mesh.triangles.astype(np.uint16 if idx_type == _USHORT else np.uint32).reshape(-1),
            "SCALAR",
            idx_type,
        ),
        # glTF matrices are column-major
        ("inverseBind", inv.transpose(0, 2, 1).astype(np.float32).reshape(n, 16), "MAT4", _FLOAT),
    ]
    blob = bytearray()
    views, accessors = [], []
    for i, (name, arr, kind, ctype) in enumerate(arrays):
        while len(blob) % 4:
            blob.append(0)
        data = np.ascontiguousarray(arr).tobytes()
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)})
        blob += data
        acc: dict[str, object] = {
            "bufferView": i,
            "componentType": ctype,
            "count": int(arr.shape[0]),
            "type": kind,
        }
        if name == "POSITION":
            acc["min"] = [float(x) for x in arr.min(axis=0)]
            acc["max"] = [float(x) for x in arr.max(axis=0)]
        accessors.append(acc)
    nodes: list[dict[str, object]] = []
    q_yup = quat.from_matrix(c @ rot)
    for j in range(n):
        w, x, y, z = (float(v) for v in q_yup[j])
        t = [float(v) for v in bind[j, :3, 3]]
        nodes.append({"name": spec.joint_names[j], "translation": t, "rotation": [x, y, z, w]})
    attrs = {name: i for i, (name, *_rest) in enumerate(arrays[:6])}
    nodes.append({"name": spec.name, "mesh": 0, "skin": 0})
    nodes.append({"name": f"{spec.name}-armature", "children": list(range(n))})
    doc = {
        "asset": {"version": "2.0", "generator": "mirrorvr scripts/build_limb_assets.py"},
        "scene": 0,
        "scenes": [{"nodes": [n, n + 1]}],
        "nodes": nodes,
        "meshes": [{"name": spec.name, "primitives": [{"attributes": attrs, "indices": 6}]}],
        "skins": [{"joints": list(range(n)), "inverseBindMatrices": 7}],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"uri": bin_name, "byteLength": len(blob)}],
        "extras": {"length_child": list(spec.length_child)},
    }
    return json.dumps(doc, indent=1) + "\n", bytes(blob)


def read_limb(path: Path) -> LimbAsset:
    """Read a limb written by :func:`to_gltf` (z-up again)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        blob = (path.parent / doc["buffers"][0]["uri"]).read_bytes()
    except (OSError, ValueError, KeyError) as e:
        raise MirrorVRError(
            f"{path}: cannot read the limb model ({e}); run scripts/build_limb_assets.py"
        ) from e
    dtypes = {_FLOAT: np.float32, _UBYTE: np.uint8, _USHORT: np.uint16, _UINT: np.uint32}
    widths = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}

    def acc(i: int) -> NDArray[np.float64]:
        a = doc["accessors"][i]
        v = doc["bufferViews"][a["bufferView"]]
        raw = np.frombuffer(
            blob,
            dtype=dtypes[a["componentType"]],
            count=a["count"] * widths[a["type"]],
            offset=v["byteOffset"],
        )
        return raw.reshape(a["count"], widths[a["type"]])

    c = _ZUP_TO_YUP
    prim = doc["meshes"][0]["primitives"][0]
    at = prim["attributes"]
    mesh = SkinnedMesh(
        positions=acc(at["POSITION"]).astype(np.float64) @ c,
        normals=acc(at["NORMAL"]).astype(np.float64) @ c,
        tints=acc(at["COLOR_0"]).astype(np.float64),
        materials=acc(at["_MATERIAL"]).astype(np.float64),
        joints=acc(at["JOINTS_0"]).astype(np.uint8),
        weights=acc(at["WEIGHTS_0"]).astype(np.float64),
        triangles=acc(prim["indices"]).astype(np.int64).reshape(-1, 3),
    )
    skin = doc["skins"][0]
    inv = acc(skin["inverseBindMatrices"]).astype(np.float64).reshape(-1, 4, 4).transpose(0, 2, 1)
    bind = np.linalg.inv(inv)
    names = tuple(doc["nodes"][j]["name"] for j in skin["joints"])
    return LimbAsset(
        mesh=mesh,
        joint_names=names,
        bind_positions=bind[:, :3, 3] @ c,
        bind_rotations=c.T @ bind[:, :3, :3],
        length_child=np.array(doc["extras"]["length_child"], dtype=np.int64),
    )

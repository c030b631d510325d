"""A tiny procedural body with SMPL's 24-joint tree (tubes along the bones), for tests only.

Not a human: a few hundred vertices in rings around each bone, distance-based
skinning weights, random shape directions. Its arrays follow unrender's
body-model layout (``BODY_FORMAT.md``), keypoint regressors included.
"""

from __future__ import annotations

import json

import numpy as np

from ..io.body_models import SMPL_JOINT_NAMES, SMPL_PARENTS

__all__ = ["procedural_body_arrays", "BODY25_NEAREST_JOINT", "COCO17_NEAREST_JOINT"]

# Rest joints in metres: Y up, facing +Z, the body's left on +X (SMPL's conventions), arms out (T pose).
_JOINTS = np.array([
    [0, 0.90, 0], [0.09, 0.82, 0], [-0.09, 0.82, 0], [0, 1.00, 0], [0.10, 0.48, 0], [-0.10, 0.48, 0],
    [0, 1.13, 0], [0.10, 0.08, 0], [-0.10, 0.08, 0], [0, 1.25, 0], [0.10, 0.02, 0.12], [-0.10, 0.02, 0.12],
    [0, 1.45, 0], [0.07, 1.38, 0], [-0.07, 1.38, 0], [0, 1.60, 0], [0.18, 1.40, 0], [-0.18, 1.40, 0],
    [0.45, 1.40, 0], [-0.45, 1.40, 0], [0.70, 1.40, 0], [-0.70, 1.40, 0], [0.78, 1.40, 0], [-0.78, 1.40, 0],
])

#: The SMPL joint nearest each OpenPose BODY_25 keypoint (nose, neck, right arm, left arm, mid hip, right
#: leg, left leg, eyes, ears, left foot, right foot), for regressors built around joints.
BODY25_NEAREST_JOINT = (15, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 15, 15, 15, 15, 10, 10, 7, 11, 11, 8)
#: The SMPL joint nearest each COCO-17 keypoint (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO17_NEAREST_JOINT = (15, 15, 15, 15, 15, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8)


def _tubes(joints: np.ndarray, parents, ring: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    verts, faces = [], []
    for j, p in enumerate(parents):
        if p < 0:
            continue
        a, b = joints[p], joints[j]
        axis = (b - a) / np.linalg.norm(b - a)
        u = np.cross(axis, [0, 0, 1] if abs(axis[2]) < 0.9 else [1, 0, 0])
        u /= np.linalg.norm(u)
        w = np.cross(axis, u)
        start = sum(len(v) for v in verts)
        angles = 2 * np.pi * np.arange(ring) / ring
        for t in (0.2, 0.5, 0.8):
            centre = a + t * (b - a)
            verts.append(centre + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w))
        for r in range(2):
            for k in range(ring):
                i0, i1 = start + r * ring + k, start + r * ring + (k + 1) % ring
                faces += [(i0, i1, i1 + ring), (i0, i1 + ring, i0 + ring)]
    return np.concatenate(verts), np.array(faces, dtype=np.int64)


def _nearest_regressor(verts: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    """Rows: each point as the mean of its ``k`` nearest vertices (convex)."""
    d = np.linalg.norm(points[:, None] - verts[None], axis=-1)
    near = np.argsort(d, axis=1)[:, :k]
    reg = np.zeros((len(points), len(verts)))
    np.put_along_axis(reg, near, 1.0 / k, axis=1)
    return reg


def procedural_body_arrays(*, num_betas: int = 10, seed: int = 0, ring: int = 6, posedirs_scale: float = 0.0,
                           dtype=np.float64) -> dict[str, np.ndarray]:
    """The arrays of a tube body with SMPL's tree: ``23 * 3 * ring`` vertices (414 for ``ring=6``).

    Args:
        num_betas: the number of random shape directions.
        seed: the random generator's seed (shape and pose-corrective directions).
        posedirs_scale: the scale of random pose correctives (0: none, as the issue's default body).
    """
    rng = np.random.default_rng(seed)
    verts, faces = _tubes(_JOINTS, SMPL_PARENTS, ring, 0.05)
    V, J = len(verts), len(SMPL_PARENTS)
    d2 = ((verts[:, None] - _JOINTS[None]) ** 2).sum(-1)
    weights = np.exp(-(d2 - d2.min(1, keepdims=True)) / 0.01)
    weights /= weights.sum(1, keepdims=True)
    meta = {"name": "procedural tubes", "source": "unrender.body.procedural", "licence": "GPL-3.0-or-later",
            "provenance": f"procedural_body_arrays(seed={seed})", "units": "m", "up": "y", "version": 1}
    return {
        "v_template": verts.astype(dtype),
        "f": faces,
        "shapedirs": (0.01 * rng.standard_normal((V, 3, num_betas))).astype(dtype),
        "posedirs": (posedirs_scale * rng.standard_normal((V * 3, (J - 1) * 9))).astype(dtype),
        "J_regressor": _nearest_regressor(verts, _JOINTS, 6).astype(dtype),
        "weights": weights.astype(dtype),
        "kintree_parents": np.array(SMPL_PARENTS, dtype=np.int64),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "body25_regressor": _nearest_regressor(verts, _JOINTS[list(BODY25_NEAREST_JOINT)], 4).astype(dtype),
        "coco17_regressor": _nearest_regressor(verts, _JOINTS[list(COCO17_NEAREST_JOINT)], 4).astype(dtype),
        "meta": np.array(json.dumps(meta)),
    }

"""OpenPose BODY_25 / COCO-17 keypoint regressors for any SMPL-layout model, from its own geometry.

SMPL's extra keypoints (nose, eyes, ears, toes, heels) ship only as vertex ids
in other code; a model file has none. :func:`keypoint_regressors` builds them
from what every SMPL-layout model holds: the rest template, the skinning
weights and SMPL's 24-joint tree. The frame is SMPL's: Y up, the body facing
+Z, +X on the body's left. Lengths are fractions of the model's own head and
foot sizes, so no height is assumed.

- joint keypoints are rows of ``J_regressor`` as the shipped body has them:
  shoulders, elbows, wrists, hips, knees, ankles; neck the mean of the
  shoulders and mid hip the mean of the hips;
- nose: the foremost midline vertex the head joint dominates;
- eyes: the 4 frontal head vertices nearest (across X and Y) to a point 0.18
  head widths to the side of the nose and 0.24 above it;
- ears: the mean of the 8 most lateral head vertices in a band 0.1 head widths
  above the nose (0.12 head widths high);
- big / small toes: the mean of the 4 foremost vertices the foot joint
  dominates in the inner 30 % / outer 15 % of the toes' width;
- heels: the mean of the 6 rearmost vertices of the foot (ankle or foot joint)
  within 12 % of the foot's length of its lowest point.

Every row is a convex combination of vertices (rows sum to 1), applied to
posed vertices like the joint regressor, so the keypoints follow shape and
pose smoothly.
"""

from __future__ import annotations

import numpy as np

from ..io.body_models import SMPL_JOINT_NAMES, SMPL_PARENTS
from ..io.openpose import KEYPOINT_LAYOUTS

__all__ = ["keypoint_regressors", "has_smpl_tree"]

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def _numpy(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(dtype)


def _arrays_of(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(v_template (V, 3), weights (V, J), J_regressor (J, V), parents (J,))`` of a mapping or a BodyModel."""
    if hasattr(model, "keys"):
        missing = [k for k in ("v_template", "weights", "J_regressor", "kintree_parents") if k not in model]
        if missing:
            raise ValueError(f"model: expected body-model arrays with v_template, weights, J_regressor and "
                             f"kintree_parents, found no {', '.join(missing)}")
        v, w, jr, parents = (model[k] for k in ("v_template", "weights", "J_regressor", "kintree_parents"))
    elif all(hasattr(model, k) for k in ("v_template", "weights", "J_regressor", "parents")):
        v, w, jr, parents = model.v_template, model.weights, model.J_regressor, model.parents
    else:
        raise ValueError(f"model: expected a BodyModel or a mapping of body-model arrays, found {type(model).__name__}")
    v, w, jr = _numpy(v), _numpy(w), _numpy(jr)
    parents = _numpy(parents, np.int64)
    V, J = (len(v) if v.ndim else 0), len(parents)
    if v.ndim != 2 or v.shape[1] != 3 or w.shape != (V, J) or jr.shape != (J, V):
        raise ValueError(f"model: expected v_template (V, 3), weights (V, J), J_regressor (J, V), found "
                         f"{v.shape}, {w.shape}, {jr.shape} with J = {len(parents)}")
    return v, w, jr, parents


def has_smpl_tree(parents) -> bool:
    """Whether ``parents (J,)`` is SMPL's 24-joint tree (what :func:`keypoint_regressors` needs)."""
    p = _numpy(parents, np.int64)
    return p.shape == (24,) and p.tolist() == list(SMPL_PARENTS)


def _mean_of(ids, V: int) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    return np.bincount(ids, minlength=V).astype(np.float64) / len(ids)


def _best(ids: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` of ``ids`` with the highest ``score`` (one per id)."""
    return ids[np.argsort(-score, kind="stable")[:k]]


def _owned(owner: np.ndarray, joints) -> np.ndarray:
    return np.flatnonzero(np.isin(owner, [_J[j] for j in joints]))


def _face(v, owner, joints) -> dict[str, np.ndarray]:
    """Nose, eyes and ears: vertex ids per keypoint."""
    head = _owned(owner, ["head"])
    if len(head) == 0:
        raise ValueError("model: expected vertices the head joint dominates (most weight), found none")
    hv = v[head]
    cx = joints[_J["head"], 0]
    width = np.ptp(hv[:, 0])
    # nose: the foremost of the vertices nearest the midline (the closest 2 % of the head's width)
    off = np.abs(hv[:, 0] - cx)
    mid = head[off <= off.min() + 0.02 * width]
    nose = _best(mid, v[mid, 2], 1)
    n = v[nose[0]]
    out = {"nose": nose}
    front = head[hv[:, 2] > joints[_J["head"], 2]]
    front = front if len(front) else head
    for side, sign in (("left", 1.0), ("right", -1.0)):
        target = np.array([cx + sign * 0.18 * width, n[1] + 0.24 * width])
        out[f"{side}_eye"] = _best(front, -np.linalg.norm(v[front, :2] - target, axis=1), 4)
        band = head[np.abs(hv[:, 1] - (n[1] + 0.1 * width)) < 0.06 * width]
        if len(band) < 8:  # a coarse mesh: the head vertices nearest that height
            band = _best(head, -np.abs(hv[:, 1] - (n[1] + 0.1 * width)), 8)
        out[f"{side}_ear"] = _best(band, sign * (v[band, 0] - cx), 8)
    return out


def _feet(v, owner) -> dict[str, np.ndarray]:
    """Big toes, small toes and heels: vertex ids per keypoint."""
    out = {}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        foot = _owned(owner, [f"{side}_ankle", f"{side}_foot"])
        toes = _owned(owner, [f"{side}_foot"])
        if len(toes) == 0:
            raise ValueError(f"model: expected vertices the {side}_foot joint dominates (most weight), found none")
        lateral = sign * v[toes, 0]  # grows outwards
        lo, hi = lateral.min(), lateral.max()
        inner, outer = toes[lateral <= lo + 0.3 * (hi - lo)], toes[lateral >= hi - 0.15 * (hi - lo)]
        out[f"{side}_big_toe"] = _best(inner, v[inner, 2], 4)
        out[f"{side}_small_toe"] = _best(outer, v[outer, 2], 4)
        fv = v[foot]
        sole = foot[fv[:, 1] <= fv[:, 1].min() + 0.12 * np.ptp(fv[:, 2])]
        out[f"{side}_heel"] = _best(sole, -v[sole, 2], 6)
    return out


def keypoint_regressors(model) -> dict[str, np.ndarray]:
    """BODY_25 and COCO-17 regressors of an SMPL-layout model, built from its rest geometry.

    Args:
        model: a :class:`~unrender.body.BodyModel` or a mapping of body-model
            arrays (``v_template (V, 3)``, ``weights (V, 24)``, ``J_regressor
            (24, V)``, ``kintree_parents (24,)``: SMPL's tree), rest pose facing
            +Z with Y up and +X on the body's left.
    Returns:
        ``{"body25_regressor": (25, V), "coco17_regressor": (17, V)}`` float64,
        non-negative rows summing to 1, in OpenPose's orders
        (:data:`unrender.io.KEYPOINT_LAYOUTS`).
    Raises:
        ValueError: naming what is missing (not SMPL's tree, too few head or foot vertices).
    """
    v, w, jr, parents = _arrays_of(model)
    if not has_smpl_tree(parents):
        raise ValueError(f"model: expected SMPL's 24-joint tree {list(SMPL_PARENTS)}, found {parents.tolist()}")
    V = v.shape[0]
    joints = jr @ v
    owner = w.argmax(1)
    rows = {f"{side}_{part}": jr[_J[f"{side}_{part}"]] for side in ("left", "right")
            for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}
    rows["neck"] = 0.5 * (rows["left_shoulder"] + rows["right_shoulder"])
    rows["mid_hip"] = 0.5 * (rows["left_hip"] + rows["right_hip"])
    for name, ids in {**_face(v, owner, joints), **_feet(v, owner)}.items():
        rows[name] = _mean_of(ids, V)
    out = {}
    for layout in ("body25", "coco17"):
        r = np.clip(np.stack([rows[n] for n in KEYPOINT_LAYOUTS[layout]]), 0.0, None)
        out[f"{layout}_regressor"] = r / r.sum(1, keepdims=True)
    return out

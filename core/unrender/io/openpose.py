"""OpenPose keypoint JSON (``*_keypoints.json``) and the keypoint layouts body fitting uses.

OpenPose writes one file per image::

    {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x0, y0, c0, x1, y1, c1, ...], ...}]}

``pose_keypoints_2d`` holds ``K`` (x, y, confidence) triples in pixels; the
layout follows from ``K``: 25 is OpenPose's BODY_25, 18 its COCO model, 17
the COCO dataset's order (what most other detectors write). An undetected
joint is ``(0, 0, 0)``. :func:`load_openpose` returns every person as a
``(P, K, 3)`` tensor and the layout's name; :func:`convert_layout` moves
keypoints between layouts by joint name (joints a layout lacks get
confidence 0).
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from ._common import as_path, read_bytes, to_numpy

__all__ = [
    "KEYPOINT_LAYOUTS",
    "check_confident_joints",
    "convert_layout",
    "layout_of",
    "load_openpose",
    "save_openpose",
]

KEYPOINT_LAYOUTS: dict[str, tuple[str, ...]] = {
    "body25": (
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
        "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
        "right_big_toe", "right_small_toe", "right_heel",
    ),
    "coco18": (
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
        "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear",
    ),
    "coco17": (
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
        "right_knee", "left_ankle", "right_ankle",
    ),
}
_BY_COUNT = {len(names): layout for layout, names in KEYPOINT_LAYOUTS.items()}


def layout_of(num_keypoints: int) -> str:
    """The layout with ``num_keypoints`` joints; ``ValueError`` naming the known counts otherwise."""
    if num_keypoints not in _BY_COUNT:
        known = ", ".join(f"{n} ({name})" for n, name in sorted(_BY_COUNT.items()))
        raise ValueError(f"keypoints: expected one of {known} joints, found {num_keypoints}")
    return _BY_COUNT[num_keypoints]


def _check_layout(name: str) -> tuple[str, ...]:
    if name not in KEYPOINT_LAYOUTS:
        raise ValueError(f"layout: expected one of {sorted(KEYPOINT_LAYOUTS)}, found {name!r}")
    return KEYPOINT_LAYOUTS[name]


def load_openpose(path, *, layout: str | None = None, device="cpu") -> tuple[torch.Tensor, str]:
    """Read an OpenPose JSON file.

    Args:
        path: the ``.json`` file.
        layout: the expected layout (``"body25"``, ``"coco18"``, ``"coco17"``);
            default: whatever the joint count says.
    Returns:
        ``(keypoints (P, K, 3) float32 [x, y, confidence], layout)``; ``P`` may be 0.
    """
    p = as_path(path)
    if p.suffix.lower() != ".json":
        raise ValueError(f"{path}: expected an OpenPose .json file, found {p.suffix or 'no extension'!r}")
    _, data = read_bytes(p)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{p} is not JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("people"), list):
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{p}: expected an OpenPose file with a 'people' list, found {found}")
    people = []
    for i, person in enumerate(doc["people"]):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(flat, list) or len(flat) % 3 or not flat:
            raise ValueError(f"{p}: people[{i}].pose_keypoints_2d: expected a non-empty list of (x, y, confidence) "
                             f"triples, found {str(flat)[:60]}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in flat):
            raise ValueError(f"{p}: people[{i}].pose_keypoints_2d: expected finite numbers, found "
                             f"{next(v for v in flat if not (isinstance(v, (int, float)) and math.isfinite(v)))!r}")
        people.append(np.asarray(flat, dtype=np.float64).reshape(-1, 3))
    counts = {a.shape[0] for a in people}
    if len(counts) > 1:
        raise ValueError(f"{p}: expected every person with the same number of joints, found {sorted(counts)}")
    found = layout_of(counts.pop()) if people else (layout or "body25")
    if layout is not None and found != layout:
        _check_layout(layout)
        raise ValueError(f"{p}: expected {layout} keypoints ({len(KEYPOINT_LAYOUTS[layout])} joints), found {found} "
                         f"({len(KEYPOINT_LAYOUTS[found])} joints)")
    k = len(KEYPOINT_LAYOUTS[found])
    arr = np.stack(people) if people else np.zeros((0, k, 3))
    conf = arr[..., 2]
    if ((conf < 0) | (conf > 1)).any():
        raise ValueError(f"{p}: expected confidences in [0, 1], found {conf.min():g} .. {conf.max():g}")
    return torch.as_tensor(arr, dtype=torch.float32, device=device), found


def save_openpose(path, keypoints, layout: str) -> None:
    """Write ``keypoints`` ``(P, K, 3)`` (or ``(K, 3)`` for one person) as an OpenPose JSON file."""
    names = _check_layout(layout)
    a = to_numpy("keypoints", keypoints).astype(np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1:] != (len(names), 3):
        raise ValueError(f"keypoints: expected (P, {len(names)}, 3) for {layout}, found shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("keypoints: expected finite values, found NaN or infinity")
    doc = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": person.reshape(-1).tolist()}
                                      for person in a]}
    as_path(path).write_text(json.dumps(doc))


def convert_layout(keypoints: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Keypoints ``(..., K_source, C)`` -> ``(..., K_target, C)`` by joint name; missing joints are zeros
    (confidence 0). BODY_25's ``neck`` and ``mid_hip``, which COCO-17 lacks, are the midpoints of the
    shoulders and hips when both are there (confidence the smaller of the two)."""
    src, dst = _check_layout(source), _check_layout(target)
    if keypoints.shape[-2] != len(src):
        raise ValueError(f"keypoints: expected {len(src)} joints for {source}, found {keypoints.shape[-2]}")
    out = keypoints.new_zeros(*keypoints.shape[:-2], len(dst), keypoints.shape[-1])
    index = {n: i for i, n in enumerate(src)}
    for j, name in enumerate(dst):
        if name in index:
            out[..., j, :] = keypoints[..., index[name], :]
        elif name in ("neck", "mid_hip"):
            side = "shoulder" if name == "neck" else "hip"
            left, right = index.get(f"left_{side}"), index.get(f"right_{side}")
            if left is not None and right is not None:
                a, b = keypoints[..., left, :], keypoints[..., right, :]
                out[..., j, :] = 0.5 * (a + b)
                if keypoints.shape[-1] == 3:
                    out[..., j, 2] = torch.minimum(a[..., 2], b[..., 2])
    return out


def check_confident_joints(keypoints: torch.Tensor, layout: str, *, minimum: int, threshold: float = 0.1,
                           name: str = "keypoints") -> None:
    """``ValueError`` naming the person and the joints missing when a person has fewer than
    ``minimum`` joints with confidence above ``threshold``. ``keypoints``: ``(P, K, 3)``."""
    names = _check_layout(layout)
    for i, person in enumerate(keypoints):
        ok = person[:, 2] > threshold
        if int(ok.sum()) < minimum:
            missing = [n for n, good in zip(names, ok.tolist()) if not good]
            raise ValueError(f"{name}: person {i} has {int(ok.sum())} joints with confidence above {threshold:g}, "
                             f"expected at least {minimum}; missing: {', '.join(missing[:12])}"
                             f"{' ...' if len(missing) > 12 else ''}")

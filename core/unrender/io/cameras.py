"""Cameras as JSON: every camera class of :mod:`unrender.cameras`, one camera or a batch.

Layout (what :func:`save_cameras` writes)::

    {
      "format": "unrender cameras 1",
      "convention": "PyTorch3D world-to-view, row vectors: X_view = X_world @ R + T",
      "class": "PerspectiveCameras",
      "R": 3x3, "T": 3, "center": 3,          (one camera; a batch: N x 3 x 3, N x 3, N x 3)
      "focal_length": [fx, fy], "principal_point": [px, py], "in_ndc": true, "image_size": [H, W],
      "blender": {"matrix_world": 4x4, "type": "PERSP", "lens": ..., ...}
    }

The intrinsics are the class's constructor arguments (:data:`CAMERA_FIELDS`):
``FoVPerspectiveCameras``: ``fov``, ``degrees``, ``znear``, ``zfar``,
``aspect_ratio``; ``FoVOrthographicCameras``: ``znear``, ``zfar``, ``min_x``,
``max_x``, ``min_y``, ``max_y``, ``scale_xyz``; ``PerspectiveCameras`` and
``OrthographicCameras``: ``focal_length``, ``principal_point``, ``in_ndc``,
``image_size`` (null when unset). Per-camera values are lists over the batch
when ``R`` is ``N x 3 x 3``. ``blender`` is the equivalent Blender camera (a
list for a batch; a string saying why where Blender cannot express the camera);
it is written for the reader's information and ignored on loading, as are
``center`` and ``convention``. Files without ``class`` (written before the
class was recorded) are ``FoVPerspectiveCameras``; fields a file leaves out
take the class's defaults.

Values must be JSON numbers (strings such as ``"1"`` are refused) and every
``R`` a rotation: orthonormal with determinant +1 within
:data:`ROTATION_TOLERANCE` (largest entry of ``|R^T R - I|`` and ``|det R - 1|``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from ._common import as_path, json_numbers, read_bytes

__all__ = ["CAMERA_FIELDS", "CAMERAS_FORMAT", "ROTATION_TOLERANCE", "camera_fields", "camera_record", "load_cameras", "save_cameras"]

CAMERAS_FORMAT = "unrender cameras 1"
#: How far a stored ``R`` may be from a rotation (float32 files are about 1e-7 away; hand-written
#: four-decimal matrices about 1e-4).
ROTATION_TOLERANCE = 1e-3
_CONVENTION = "PyTorch3D world-to-view, row vectors: X_view = X_world @ R + T"

# class name -> (per-camera tensor field, per-camera shape), in constructor keywords; plus plain settings
_INTRINSICS = (("focal_length", (2,)), ("principal_point", (2,)), ("image_size", (2,)))
CAMERA_FIELDS: dict[str, tuple[tuple[tuple[str, tuple], ...], tuple[str, ...]]] = {
    "FoVPerspectiveCameras": ((("fov", ()), ("znear", ()), ("zfar", ()), ("aspect_ratio", ())), ("degrees",)),
    "FoVOrthographicCameras": ((("znear", ()), ("zfar", ()), ("min_x", ()), ("max_x", ()), ("min_y", ()),
                                ("max_y", ()), ("scale_xyz", (3,))), ()),
    "PerspectiveCameras": (_INTRINSICS, ("in_ndc",)),
    "OrthographicCameras": (_INTRINSICS, ("in_ndc",)),
}


def _classes() -> dict[str, type]:
    from .. import cameras as c

    return {name: getattr(c, name) for name in CAMERA_FIELDS}


def camera_fields(cameras) -> dict[str, Any]:
    """The constructor keywords of a camera batch (``R``, ``T``, intrinsics, settings), as stored.

    ``type(cameras)(**camera_fields(cameras))`` rebuilds the same cameras;
    replace ``R`` / ``T`` (or an intrinsic) to build a moved copy.
    """
    name = type(cameras).__name__
    if name not in CAMERA_FIELDS:
        raise ValueError(f"cameras: expected one of {', '.join(CAMERA_FIELDS)}, found {name}")
    fields, settings = CAMERA_FIELDS[name]
    out: dict[str, Any] = {"R": cameras.R, "T": cameras.T}
    out.update({k: getattr(cameras, k) for k, _ in fields})
    for k in settings:
        v = getattr(cameras, k)
        out[k] = v() if callable(v) else v
    return out


def _blender(cam) -> dict | str:
    from ..cameras import blender_from_cameras

    try:
        size = cam.get_image_size()
        bl = blender_from_cameras(cam.cpu(), None if size is not None else (512, 512))
    except (ValueError, TypeError, AttributeError) as exc:  # cameras Blender cannot express
        return f"not convertible: {exc}"
    rec = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in asdict(bl).items()}
    rec["matrix_world"] = [list(map(float, row)) for row in np.asarray(bl.matrix_world, dtype=np.float64)]
    return rec


def _list(x: torch.Tensor, one: bool):
    x = x.detach().cpu()
    x = x.to(torch.float32) if x.is_floating_point() else x
    return (x[0] if one else x).tolist()


def camera_record(cameras) -> dict[str, Any]:
    """The JSON record of a camera batch (layout in the module docstring); one camera is unbatched."""
    one = len(cameras) == 1
    fields = camera_fields(cameras)
    rec: dict[str, Any] = {"format": CAMERAS_FORMAT, "convention": _CONVENTION, "class": type(cameras).__name__}
    for k, v in fields.items():
        if isinstance(v, torch.Tensor):
            v = v.expand(len(cameras), *v.shape[1:]) if v.shape[0] == 1 else v
            rec[k] = _list(v, one)
        else:
            rec[k] = v
        if k == "T":
            rec["center"] = _list(cameras.get_camera_center(), one)
    blender = [_blender(cameras[i]) for i in range(len(cameras))]
    rec["blender"] = blender[0] if one else blender
    return rec


def save_cameras(path, cameras) -> None:
    """Write a camera batch (any class of :mod:`unrender.cameras`) as ``.json``."""
    from ..cameras import CamerasBase

    p = as_path(path)
    if p.suffix.lower() != ".json":
        raise ValueError(f"{path}: expected a file ending in .json, found {p.suffix or 'no extension'!r}")
    if not isinstance(cameras, CamerasBase):
        raise ValueError(f"cameras: expected unrender cameras, found {type(cameras).__name__}")
    p.write_text(json.dumps(camera_record(cameras), indent=2))


def _tensor(p, rec: dict, key: str, tail: tuple, n: int | None, dtype=torch.float32) -> torch.Tensor:
    try:
        t = torch.as_tensor(json_numbers(rec[key]), dtype=dtype)
    except ValueError:
        raise ValueError(f"{p}: expected '{key}' to hold numbers, found {str(rec[key])[:60]}") from None
    per_cam = tail if n is None else (n, *tail)
    if tuple(t.shape) != per_cam:
        raise ValueError(f"{p}: expected '{key}' of shape {per_cam}, found {tuple(t.shape)}")
    return t if n is not None else t[None]


def _check_rotations(p, R: torch.Tensor) -> None:
    """``R: (N, 3, 3)``: each orthonormal with det +1 within ``ROTATION_TOLERANCE``."""
    R = R.double()
    if not bool(torch.isfinite(R).all()):
        raise ValueError(f"{p}: expected 'R' to hold finite numbers, found NaN or infinity")
    err = (R.transpose(1, 2) @ R - torch.eye(3, dtype=R.dtype)).abs().amax(dim=(1, 2))
    det = torch.linalg.det(R)
    bad = (err > ROTATION_TOLERANCE) | ((det - 1).abs() > ROTATION_TOLERANCE)
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        which = "" if len(R) == 1 else f" (camera {i})"
        raise ValueError(f"{p}: expected 'R' to be a rotation (orthonormal, determinant +1, within "
                         f"{ROTATION_TOLERANCE}){which}, found |R^T R - I| up to {float(err[i]):.3g} "
                         f"and determinant {float(det[i]):.6g}")


def load_cameras(path, *, device="cpu"):
    """Read a camera batch written by :func:`save_cameras` (or by older versions: ``R``, ``T``, ``fov``)."""
    p, data = read_bytes(path)
    try:
        rec = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{p} is not JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(rec, dict) or "R" not in rec or "T" not in rec:
        found = sorted(rec) if isinstance(rec, dict) else type(rec).__name__
        raise ValueError(f"{p}: expected a JSON object with 'R' (3x3) and 'T' (3), found {found}")
    name = rec.get("class", "FoVPerspectiveCameras")
    if name not in CAMERA_FIELDS:
        raise ValueError(f"{p}: expected 'class' among {', '.join(CAMERA_FIELDS)}, found {name!r}")
    R_shape = np.shape(rec["R"])
    n = R_shape[0] if len(R_shape) == 3 else None
    kw: dict[str, Any] = {"R": _tensor(p, rec, "R", (3, 3), n), "T": _tensor(p, rec, "T", (3,), n)}
    _check_rotations(p, kw["R"])
    fields, settings = CAMERA_FIELDS[name]
    for k, tail in fields:
        if rec.get(k) is not None:
            kw[k] = _tensor(p, rec, k, tail, n, torch.int64 if k == "image_size" else torch.float32)
    for k in settings:
        if k in rec:
            if not isinstance(rec[k], bool):
                raise ValueError(f"{p}: expected '{k}' true or false, found {rec[k]!r}")
            kw[k] = rec[k]
    try:
        return _classes()[name](**kw, device=device)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None

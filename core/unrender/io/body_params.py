"""Fitted body parameters as JSON: what Blender (or any tool) needs to rebuild a posed, rigged body.

Layout (what :func:`save_body_parameters` writes)::

    {"format": "unrender body parameters 1", "model": "default",
     "betas": [...], "body_pose": [[x, y, z], ...], "global_orient": [x, y, z], "transl": [x, y, z],
     "joint_names": [...], "parents": [...], "rest_joints": [[x, y, z], ...],
     "frame": "camera", "focal": 1000.0, "image_size": [W, H], "extra": {...}}

Rotations are axis-angle in SMPL's convention (each joint's rotation in the
world-aligned rest frame, the body Y up and facing +Z). ``frame`` says where
``global_orient`` and ``transl`` place the body: ``"camera"`` is an OpenGL
camera at the origin looking down -Z with Y up (what ``fit-smpl-keypoints``
writes, with ``focal`` in pixels and ``image_size``), ``"target"`` the frame of
the fitted scan.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import torch

from ._common import as_path, read_bytes

__all__ = ["BODY_PARAMETERS_FORMAT", "BodyParameters", "load_body_parameters", "save_body_parameters"]

BODY_PARAMETERS_FORMAT = "unrender body parameters 1"


@dataclass
class BodyParameters:
    """One fitted body: shape ``betas (S,)``, ``body_pose (J-1, 3)``, ``global_orient (3,)``,
    ``transl (3,)`` (float64), the model (a path or ``"default"``), its skeleton (``joint_names``,
    ``parents``, shaped ``rest_joints (J, 3)``) and the frame (see the module docstring)."""

    betas: torch.Tensor
    body_pose: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_joints: torch.Tensor
    model: str = "default"
    frame: str = "camera"
    focal: float | None = None
    image_size: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"betas": self.betas, "body_pose": self.body_pose, "global_orient": self.global_orient,
                "transl": self.transl}


def _vector(path, key, value, shape) -> torch.Tensor:
    try:
        t = torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: '{key}': expected numbers of shape {shape}, found {str(value)[:60]}") from None
    if any(isinstance(v, bool) for v in _flat(value)):
        raise ValueError(f"{path}: '{key}': expected numbers, found booleans")
    want = tuple(t.shape[i] if s is None else s for i, s in enumerate(shape)) if t.dim() == len(shape) else shape
    if t.dim() != len(shape) or tuple(t.shape) != want:
        raise ValueError(f"{path}: '{key}': expected shape {shape}, found {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{path}: '{key}': expected finite numbers")
    return t


def _flat(value):
    if isinstance(value, list):
        for v in value:
            yield from _flat(v)
    else:
        yield value


def load_body_parameters(path) -> BodyParameters:
    """Read a body-parameters JSON file (``ValueError`` naming the key for anything malformed)."""
    p, data = read_bytes(as_path(path))
    try:
        d = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{p} is not JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(d, dict) or d.get("format") != BODY_PARAMETERS_FORMAT:
        found = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"{p}: expected 'format': {BODY_PARAMETERS_FORMAT!r}, found {found!r}")
    missing = [k for k in ("betas", "body_pose", "global_orient", "transl", "joint_names", "parents", "rest_joints")
               if k not in d]
    if missing:
        raise ValueError(f"{p}: missing {', '.join(missing)}")
    names = d["joint_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) < 1:
        raise ValueError(f"{p}: 'joint_names': expected a list of names, found {str(names)[:60]}")
    J = len(names)
    parents = d["parents"]
    if (not isinstance(parents, list) or len(parents) != J or not all(isinstance(i, int) for i in parents)
            or parents[0] != -1 or any(not 0 <= parents[j] < j for j in range(1, J))):
        raise ValueError(f"{p}: 'parents': expected {J} indices, -1 first, each before its joint, found "
                         f"{str(parents)[:60]}")
    focal = d.get("focal")
    if focal is not None and not (isinstance(focal, (int, float)) and math.isfinite(focal) and focal > 0):
        raise ValueError(f"{p}: 'focal': expected a positive number, found {focal!r}")
    size = d.get("image_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(isinstance(s, int) and s > 0
                                                                                  for s in size)):
        raise ValueError(f"{p}: 'image_size': expected [W, H], found {size!r}")
    return BodyParameters(
        betas=_vector(p, "betas", d["betas"], (None,)),
        body_pose=_vector(p, "body_pose", d["body_pose"], (J - 1, 3)),
        global_orient=_vector(p, "global_orient", d["global_orient"], (3,)),
        transl=_vector(p, "transl", d["transl"], (3,)),
        joint_names=tuple(names),
        parents=tuple(parents),
        rest_joints=_vector(p, "rest_joints", d["rest_joints"], (J, 3)),
        model=str(d.get("model", "default")),
        frame=str(d.get("frame", "camera")),
        focal=None if focal is None else float(focal),
        image_size=None if size is None else (size[0], size[1]),
        extra=d.get("extra") if isinstance(d.get("extra"), dict) else {},
    )


def save_body_parameters(path, params: BodyParameters) -> None:
    """Write ``params`` as JSON (the layout of the module docstring)."""
    rec = {
        "format": BODY_PARAMETERS_FORMAT,
        "model": params.model,
        "betas": params.betas.detach().double().cpu().tolist(),
        "body_pose": params.body_pose.detach().double().cpu().reshape(-1, 3).tolist(),
        "global_orient": params.global_orient.detach().double().cpu().reshape(3).tolist(),
        "transl": params.transl.detach().double().cpu().reshape(3).tolist(),
        "joint_names": list(params.joint_names),
        "parents": [int(i) for i in params.parents],
        "rest_joints": params.rest_joints.detach().double().cpu().tolist(),
        "frame": params.frame,
        "focal": params.focal,
        "image_size": list(params.image_size) if params.image_size is not None else None,
        "extra": params.extra,
    }
    as_path(path).write_text(json.dumps(rec, indent=1))

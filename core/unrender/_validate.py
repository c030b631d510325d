"""Input checks shared by every public function.

Each check raises ``ValueError`` whose message names the argument, what was
expected and what was found, so a user sees the problem without a traceback
into torch internals.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

__all__ = [
    "check_tensor",
    "check_finite",
    "check_faces",
    "check_lengths",
    "check_meshes",
    "check_points",
    "check_positive_int",
    "check_same_batch",
    "parse_resolution",
    "parse_bounds",
    "parse_real",
]


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__}"


def check_tensor(
    name: str,
    x,
    shape: Sequence[int | None | str] | None = None,
    *,
    floating: bool | None = None,
    integer: bool | None = None,
) -> torch.Tensor:
    """Check that ``x`` is a tensor with the given shape pattern.

    ``shape`` entries are ints (exact), ``None`` (any size) or ``"..."`` as the
    first entry (any number of leading dimensions).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, found {_describe(x)}")
    if shape is not None:
        pattern = list(shape)
        dims = list(x.shape)
        if pattern and pattern[0] == "...":
            pattern = pattern[1:]
            ok = len(dims) >= len(pattern)
            dims = dims[len(dims) - len(pattern):] if ok else dims
        else:
            ok = len(dims) == len(pattern)
        ok = ok and all(p is None or p == d for p, d in zip(pattern, dims))
        if not ok:
            want = "(" + ", ".join("*" if p is None else str(p) for p in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, found shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, found dtype {x.dtype}")
    if integer and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise ValueError(f"{name}: expected an integer tensor, found dtype {x.dtype}")
    return x


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Raise if ``x`` holds NaN or infinite values."""
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name}: expected finite values, found {bad} NaN or infinite entries")
    return x


def check_points(name: str, x, dim: int = 3, *, allow_empty: bool = True) -> torch.Tensor:
    """Check a ``(..., N, dim)`` floating tensor of finite coordinates."""
    check_tensor(name, x, ["...", None, dim], floating=True)
    if not allow_empty and x.shape[-2] == 0:
        raise ValueError(f"{name}: expected at least one point, found none")
    return check_finite(name, x)


def check_faces(name: str, faces, num_verts: int, *, allow_padding: bool = False) -> torch.Tensor:
    """Check an integer ``(..., F, 3)`` face index tensor against ``num_verts``.

    With ``allow_padding`` rows equal to ``-1`` (PyTorch3D's padding) are allowed.
    """
    check_tensor(name, faces, ["...", None, 3], integer=True)
    if faces.numel():
        lo, hi = int(faces.min()), int(faces.max())
        if allow_padding:
            valid = faces[(faces >= 0).all(-1)]
            pad = faces[(faces < 0).any(-1)]
            if pad.numel() and not bool((pad == -1).all()):
                raise ValueError(f"{name}: face rows must be all >= 0 or all -1 (padding), found mixed rows")
            lo = int(valid.min()) if valid.numel() else 0
            hi = int(valid.max()) if valid.numel() else -1
        if lo < 0 or hi >= num_verts:
            raise ValueError(
                f"{name}: face indices must lie in [0, {num_verts - 1}], found range [{lo}, {hi}]"
            )
    return faces


def check_meshes(name: str, meshes, *, non_empty: bool = False, with_faces: bool = False):
    """Check that ``meshes`` is an ``unrender.Meshes`` batch.

    ``non_empty``: the batch holds at least one mesh; ``with_faces``: every mesh
    has at least one face (voxelisation and inside tests need a surface).
    """
    from .structures import Meshes  # structures import this module

    if not isinstance(meshes, Meshes):
        raise ValueError(
            f"{name}: expected a Meshes (unrender.Meshes; Meshes.from_pytorch3d converts PyTorch3D's), "
            f"found {type(meshes).__name__}"
        )
    if non_empty and len(meshes) == 0:
        raise ValueError(f"{name}: expected at least one mesh, found an empty batch")
    if with_faces:
        for b, n in enumerate(meshes.num_faces_per_mesh().tolist()):
            if n == 0:
                raise ValueError(f"{name}: expected every mesh to have faces, found mesh {b} with 0 faces")
    return meshes


def check_lengths(name: str, lengths, B: int, P: int, device) -> torch.Tensor:
    """``(B,)`` int64 valid counts of a padded ``(B, P, ...)`` batch, each in ``[0, P]``; None -> all ``P``."""
    if lengths is None:
        return torch.full((B,), P, dtype=torch.int64, device=device)
    check_tensor(name, lengths, [B], integer=True)
    lengths = lengths.to(device=device, dtype=torch.int64)
    if B and (int(lengths.min()) < 0 or int(lengths.max()) > P):
        raise ValueError(
            f"{name}: expected values in [0, {P}], found range [{int(lengths.min())}, {int(lengths.max())}]"
        )
    return lengths


def check_same_batch(name: str, y: torch.Tensor, ref_name: str, x: torch.Tensor) -> None:
    """Check that ``(N, P, D)`` tensor ``y`` matches ``x`` in batch size, point dimension, device and dtype."""
    for what, a, b in (
        ("batch size", y.shape[0], x.shape[0]),
        ("point dimension", y.shape[2], x.shape[2]),
        ("device", y.device, x.device),
        ("dtype", y.dtype, x.dtype),
    ):
        if a != b:
            raise ValueError(f"{name}: expected {what} {b} (that of {ref_name}), found {a}")


def check_positive_int(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Check an int in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: expected an int, found {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        rng = f"[{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name}: expected an int in {rng}, found {value}")
    return value


def parse_resolution(name: str, value, minimum: int = 1) -> tuple[int, int, int]:
    """An int or a 3-sequence of ints ``(D, H, W)`` -> ``(D, H, W)``, each ``>= minimum``."""
    if isinstance(value, torch.Tensor) and value.numel() in (1, 3) and not value.is_floating_point():
        value = value.tolist()
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 3
        or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value)
    ):
        raise ValueError(f"{name}: expected an int or a (D, H, W) tuple of ints, found {value!r}")
    if min(value) < minimum:
        raise ValueError(f"{name}: expected every entry >= {minimum}, found {tuple(int(v) for v in value)}")
    return tuple(int(v) for v in value)


def parse_bounds(name: str, value, batch: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    """``(2, 3)`` or ``(batch, 2, 3)`` corners ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``
    -> ``(batch, 2, 3)``, checked finite and with ``max > min`` on every axis."""
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(
                f"{name}: expected a (2, 3) array [[xmin, ymin, zmin], [xmax, ymax, zmax]], found {value!r}"
            ) from None
    if value.dim() == 2:
        check_tensor(name, value, [2, 3])
        value = value.expand(batch, 2, 3)
    else:
        check_tensor(name, value, [batch, 2, 3])
    if value.dtype == torch.bool or value.is_complex():
        raise ValueError(f"{name}: expected real box corners, found dtype {value.dtype}")
    value = value.to(dtype=dtype, device=device)
    check_finite(name, value)
    if batch and not bool((value[:, 1] > value[:, 0]).all()):
        raise ValueError(
            f"{name}: expected max corner > min corner on every axis, found {value.tolist()} (empty or inverted box)"
        )
    return value


def parse_real(name: str, value) -> float:
    """A finite number (Python, NumPy or one-element tensor) -> float."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a finite number, found {type(value).__name__} {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name}: expected a finite number, found {out}")
    return out

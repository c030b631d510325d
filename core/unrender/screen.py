"""Screen conventions: image sizes and pixel centres in NDC, PyTorch3D's.

* Sizes are ``(H, W)``: rows first, as in tensors ``(..., H, W)``.
* NDC: +X points left, +Y up; the shorter image side spans [-1, 1] and the
  longer one proportionally more (``W > H``: x spans ``[-W/H, W/H]``).
* Pixel centres are PyTorch3D's ``PixToNonSquareNdc``: pixel index ``i``
  along a side of ``S1`` pixels (the other side ``S2``) has its centre at
  ``((2 i + 1) / S1 - 1) * range / 2`` with ``range = 2 S1 / S2`` if
  ``S1 > S2`` else 2 (computed in PyTorch3D's operation order). Image row 0 is the top (largest y) and column 0 the
  left (largest x), so images index these centres in decreasing order.

Cameras, the mesh and point rasterisers and the contour renderer all take
their sizes and pixel centres from here.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["parse_image_size", "parse_image_sizes", "pix_to_ndc", "pixel_centers_ndc", "ndc_to_pixel"]


def parse_image_size(value, name: str = "image_size") -> tuple[int, int]:
    """``S`` or ``(H, W)`` (ints, numpy ints or an int tensor of 1 or 2 entries) -> ``(H, W)`` ints > 0."""
    if isinstance(value, torch.Tensor) and value.numel() in (1, 2) and not value.is_floating_point():
        value = value.tolist()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in value)
    ):
        raise ValueError(f"{name}: expected an int or an (H, W) pair of ints, found {value!r}")
    if min(value) <= 0:
        raise ValueError(f"{name}: expected sizes > 0, found {tuple(int(s) for s in value)}")
    return int(value[0]), int(value[1])


def parse_image_sizes(value, device=None, name: str = "image_size") -> torch.Tensor | None:
    """One size per camera: ``(H, W)`` or ``(N, 2)`` positive whole numbers -> ``(B, 2)`` int64
    tensor (``B`` = 1 or N); None stays None."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        t = value.detach().to(device)
    else:
        try:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), device=device)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected (H, W) or an (N, 2) array of positive ints, found {value!r}") from None
    if t.dim() == 1:
        t = t[None]
    if t.dim() != 2 or t.shape[1] != 2:
        raise ValueError(f"{name}: expected (H, W) or shape (N, 2), found shape {tuple(t.shape)}")
    if t.is_floating_point() and not bool((t == t.round()).all()):
        raise ValueError(f"{name}: expected whole numbers of pixels (H, W), found {t.tolist()}")
    t = t.round().to(torch.int64) if t.is_floating_point() else t.to(torch.int64)
    if t.numel() and not bool((t >= 1).all()):
        raise ValueError(f"{name}: expected (H, W) >= 1, found {t.tolist()}")
    return t


def pix_to_ndc(size: int, other: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """``(size,)`` NDC centre of pixel index ``i`` along a side of ``size`` pixels (the
    other side has ``other``), increasing in ``i``: PyTorch3D's ``PixToNonSquareNdc``
    in its operation order, evaluated in ``dtype`` (float32: bit for bit PyTorch3D's)."""
    rng = torch.tensor(2.0 * size / other if size > other else 2.0, dtype=dtype)
    off = rng / 2
    i = torch.arange(size, dtype=dtype)
    return ((i * rng + off) / size - off).to(device)


def pixel_centers_ndc(H: int, W: int, dtype=torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """NDC ``(x (W,), y (H,))`` of the pixel centres in image order: ``x[c]`` of column
    ``c`` (column 0 is the left edge, largest x) and ``y[r]`` of row ``r`` (row 0 the top)."""
    return pix_to_ndc(W, H, dtype, device).flip(0), pix_to_ndc(H, W, dtype, device).flip(0)


def ndc_to_pixel(x: torch.Tensor, y: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """NDC ``x, y (...)`` -> fractional ``(column, row) (...)`` in image order, the inverse of
    :func:`pixel_centers_ndc` (pixel centres land on whole numbers)."""
    s = min(H, W)
    return (W - 1 - x * s) / 2, (H - 1 - y * s) / 2

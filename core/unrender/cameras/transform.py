"""A small batched 4x4 transform in PyTorch3D's row-vector convention.

A point ``p`` (row vector, homogeneous ``[x, y, z, 1]``) maps to
``[x', y', z', w'] = [x, y, z, 1] @ M`` and then ``(x', y', z') / w'``; ``M`` is
``(N, 4, 4)``, so the translation sits in the last *row*. ``a.compose(b)``
applies ``a`` first, then ``b`` (matrix ``M_a @ M_b``), as in PyTorch3D's
``Transform3d``. This is what the camera methods return where PyTorch3D returns
a ``Transform3d``; ``get_matrix()`` gives the same ``(N, 4, 4)`` numbers.
"""

from __future__ import annotations

import torch

__all__ = ["Transform", "apply_homogeneous"]


def _broadcast_batch(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(
            f"{name}: expected a batch of 1 or {a.shape[0]} to match the transform, found {b.shape[0]}"
        )


def apply_homogeneous(points: torch.Tensor, matrix: torch.Tensor, eps: float | None = None) -> torch.Tensor:
    """``points (P, 3) | (B, P, 3)`` through ``matrix (N, 4, 4)`` -> ``(N or B, P, 3)``, or ``(P, 3)``
    when ``points`` is 2-D and ``N == 1`` (PyTorch3D's shape rule).

    ``eps`` clamps ``|w|`` from below (keeping its sign, ``w == 0`` counts as
    positive) before the division, which keeps gradients finite near the
    camera plane.
    """
    if not isinstance(points, torch.Tensor) or points.dim() not in (2, 3) or points.shape[-1] != 3:
        found = f"shape {tuple(points.shape)}" if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points: expected a tensor of shape (P, 3) or (N, P, 3), found {found}")
    if points.dim() == 3:
        _broadcast_batch("points", matrix, points)
    m = matrix.to(points.dtype) if points.is_floating_point() else matrix
    pts = points if points.is_floating_point() else points.to(m.dtype)
    # [x y z 1] @ M without building the homogeneous copy: x @ M[:3] + M[3].
    out = torch.matmul(pts, m[:, :3, :])
    out += m[:, 3:, :]  # in place on a fresh tensor: safe for autograd
    w = out[..., 3:]
    if eps is not None:
        sign = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
        w = sign * w.abs().clamp(min=eps)
    out = out[..., :3] / w
    if points.dim() == 2 and out.shape[0] == 1:
        out = out[0]
    return out


class Transform:
    """A batch of ``N`` 4x4 transforms in row-vector convention.

    Args:
        matrix: ``(N, 4, 4)`` or ``(4, 4)`` float tensor (kept as given, so
            gradients flow through it).
    """

    def __init__(self, matrix: torch.Tensor):
        if not isinstance(matrix, torch.Tensor) or matrix.shape[-2:] != (4, 4) or matrix.dim() not in (2, 3):
            found = f"shape {tuple(matrix.shape)}" if isinstance(matrix, torch.Tensor) else type(matrix).__name__
            raise ValueError(f"matrix: expected a tensor of shape (N, 4, 4) or (4, 4), found {found}")
        self._matrix = matrix if matrix.dim() == 3 else matrix[None]

    def get_matrix(self) -> torch.Tensor:
        """``(N, 4, 4)`` matrix (row-vector convention)."""
        return self._matrix

    @property
    def device(self) -> torch.device:
        return self._matrix.device

    @property
    def dtype(self) -> torch.dtype:
        return self._matrix.dtype

    def __len__(self) -> int:
        return self._matrix.shape[0]

    def compose(self, *others: "Transform") -> "Transform":
        """This transform followed by ``others`` in order."""
        m = self._matrix
        for o in others:
            if not isinstance(o, Transform):
                raise ValueError(f"others: expected Transform objects, found {type(o).__name__}")
            _broadcast_batch("others", m, o.get_matrix())
            m = m @ o.get_matrix().to(m.dtype)
        return Transform(m)

    def inverse(self) -> "Transform":
        """The inverse transform (``torch.linalg.inv`` of each matrix)."""
        return Transform(torch.linalg.inv(self._matrix))

    def transform_points(self, points: torch.Tensor, eps: float | None = None) -> torch.Tensor:
        """``(P, 3)`` or ``(N, P, 3)`` points -> same layout (see :func:`apply_homogeneous`)."""
        return apply_homogeneous(points, self._matrix, eps)

    def transform_normals(self, normals: torch.Tensor) -> torch.Tensor:
        """Directions through the inverse transpose of the 3x3 part: ``(P, 3)`` or ``(N, P, 3)``."""
        if not isinstance(normals, torch.Tensor) or normals.dim() not in (2, 3) or normals.shape[-1] != 3:
            found = f"shape {tuple(normals.shape)}" if isinstance(normals, torch.Tensor) else type(normals).__name__
            raise ValueError(f"normals: expected a tensor of shape (P, 3) or (N, P, 3), found {found}")
        if normals.dim() == 3:
            _broadcast_batch("normals", self._matrix, normals)
        inv_t = torch.linalg.inv(self._matrix[:, :3, :3].to(normals.dtype)).transpose(1, 2)
        out = torch.matmul(normals, inv_t)
        if normals.dim() == 2 and out.shape[0] == 1:
            out = out[0]
        return out

    def to(self, device=None, dtype=None) -> "Transform":
        return Transform(self._matrix.to(device=device, dtype=dtype))

    def clone(self) -> "Transform":
        return Transform(self._matrix.clone())

    def __repr__(self) -> str:
        return f"Transform(N={len(self)}, dtype={self.dtype}, device={self.device})"

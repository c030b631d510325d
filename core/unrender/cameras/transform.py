"""Batched 4x4 transforms in PyTorch3D's row-vector convention: ``Transform3d``.

A point ``p`` (row vector, homogeneous ``[x, y, z, 1]``) maps to
``[x', y', z', w'] = [x, y, z, 1] @ M`` and then ``(x', y', z') / w'``; ``M`` is
``(N, 4, 4)``, so the translation sits in the last *row*. ``a.compose(b)``
applies ``a`` first, then ``b`` (matrix ``M_a @ M_b``), as in PyTorch3D's
``Transform3d``. The camera methods return these; ``get_matrix()`` gives the
same ``(N, 4, 4)`` numbers as PyTorch3D.

``Transform3d`` keeps PyTorch3D's call forms: ``Transform3d(dtype, device,
matrix)``, ``Translate(x, y, z)`` / ``Translate(xyz)``, ``Scale(s)`` /
``Scale(x, y, z)``, ``Rotate(R)``, ``RotateAxisAngle(angle, axis)``, the
chaining methods ``translate`` / ``scale`` / ``rotate`` / ``rotate_axis_angle``,
``compose``, ``inverse`` (each part inverted in closed form), ``stack``,
indexing, ``transform_points`` / ``transform_normals``. ``Transform`` is the
same class under unrender's earlier name.
"""

from __future__ import annotations

import copy as copy_module
import math

import torch

__all__ = ["Transform3d", "Transform", "Translate", "Scale", "Rotate", "RotateAxisAngle", "apply_homogeneous"]


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


class Transform3d:
    """A batch of ``N`` 4x4 transforms in row-vector convention (PyTorch3D's ``Transform3d``).

    Args:
        dtype, device: of the identity made when ``matrix`` is None.
        matrix: ``(N, 4, 4)`` or ``(4, 4)`` float tensor (kept as given, so
            gradients flow through it); its dtype and device win. It may also
            come first (``Transform(matrix)``, unrender's earlier form).

    ``a.compose(b, c)`` keeps the parts and multiplies them on
    :meth:`get_matrix` (``M_a @ M_b @ M_c``); batches of 1 broadcast against N.
    """

    def __init__(self, dtype: torch.dtype = torch.float32, device="cpu", matrix: torch.Tensor | None = None) -> None:
        if isinstance(dtype, torch.Tensor) and matrix is None:  # ``Transform(matrix)``, the earlier call form
            dtype, matrix = torch.float32, dtype
        if matrix is None:
            matrix = torch.eye(4, dtype=dtype, device=device)
        if not isinstance(matrix, torch.Tensor) or matrix.shape[-2:] != (4, 4) or matrix.dim() not in (2, 3):
            found = f"shape {tuple(matrix.shape)}" if isinstance(matrix, torch.Tensor) else type(matrix).__name__
            raise ValueError(f"matrix: expected a tensor of shape (N, 4, 4) or (4, 4), found {found}")
        self._matrix = matrix if matrix.dim() == 3 else matrix[None]
        self._transforms: list[Transform3d] = []

    def get_matrix(self) -> torch.Tensor:
        """``(N, 4, 4)`` matrix of the whole composition (row-vector convention)."""
        m = self._matrix
        for o in self._transforms:
            om = o.get_matrix()
            _broadcast_batch("others", m, om)
            m = m @ om.to(m.dtype)
        return m

    def _get_matrix_inverse(self) -> torch.Tensor:
        """Inverse of this part's own matrix (subclasses: closed form)."""
        return torch.linalg.inv(self._matrix)

    @property
    def device(self) -> torch.device:
        return self._matrix.device

    @property
    def dtype(self) -> torch.dtype:
        return self._matrix.dtype

    def __len__(self) -> int:
        return self.get_matrix().shape[0]

    def __getitem__(self, index) -> "Transform3d":
        """Transforms at ``index`` (int, slice, list, bool or long tensor) as a new batch (not cloned)."""
        if isinstance(index, int):
            index = [index]
        return Transform3d(matrix=self.get_matrix()[index])

    def compose(self, *others: "Transform3d") -> "Transform3d":
        """This transform followed by ``others`` in order."""
        for o in others:
            if not isinstance(o, Transform3d):
                raise ValueError(f"others: expected Transform3d objects, found {type(o).__name__}")
            _broadcast_batch("others", self._matrix, o.get_matrix())
        out = Transform3d(matrix=self._matrix)
        out._transforms = self._transforms + list(others)
        return out

    def inverse(self, invert_composed: bool = False) -> "Transform3d":
        """The inverse transform. Each part is inverted on its own (a rotation by its
        transpose, a translation by negation), or the composed matrix at once with
        ``invert_composed=True``, as in PyTorch3D."""
        if invert_composed:
            return Transform3d(matrix=torch.linalg.inv(self.get_matrix()))
        inv = Transform3d(matrix=self._get_matrix_inverse())
        if not self._transforms:
            return inv
        out = Transform3d(dtype=self.dtype, device=self.device)
        out._transforms = [t.inverse() for t in reversed(self._transforms)] + [inv]
        return out

    def stack(self, *others: "Transform3d") -> "Transform3d":
        """One batch holding this transform's and then each of ``others``' matrices."""
        return Transform3d(matrix=torch.cat([t.get_matrix() for t in (self, *others)], 0))

    def transform_points(self, points: torch.Tensor, eps: float | None = None) -> torch.Tensor:
        """``(P, 3)`` or ``(N, P, 3)`` points -> same layout (see :func:`apply_homogeneous`)."""
        return apply_homogeneous(points, self.get_matrix(), eps)

    def transform_normals(self, normals: torch.Tensor) -> torch.Tensor:
        """Directions through the inverse transpose of the 3x3 part: ``(P, 3)`` or ``(N, P, 3)``."""
        if not isinstance(normals, torch.Tensor) or normals.dim() not in (2, 3) or normals.shape[-1] != 3:
            found = f"shape {tuple(normals.shape)}" if isinstance(normals, torch.Tensor) else type(normals).__name__
            raise ValueError(f"normals: expected a tensor of shape (P, 3) or (N, P, 3), found {found}")
        m = self.get_matrix()
        if normals.dim() == 3:
            _broadcast_batch("normals", m, normals)
        inv_t = torch.linalg.inv(m[:, :3, :3].to(normals.dtype)).transpose(1, 2)
        out = torch.matmul(normals, inv_t)
        if normals.dim() == 2 and out.shape[0] == 1:
            out = out[0]
        return out

    def translate(self, *args, **kwargs) -> "Transform3d":
        """This transform followed by ``Translate(*args)``."""
        return self.compose(Translate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def scale(self, *args, **kwargs) -> "Transform3d":
        """This transform followed by ``Scale(*args)``."""
        return self.compose(Scale(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate(self, *args, **kwargs) -> "Transform3d":
        """This transform followed by ``Rotate(*args)``."""
        return self.compose(Rotate(*args, device=self.device, dtype=self.dtype, **kwargs))

    def rotate_axis_angle(self, *args, **kwargs) -> "Transform3d":
        """This transform followed by ``RotateAxisAngle(*args)``."""
        return self.compose(RotateAxisAngle(*args, device=self.device, dtype=self.dtype, **kwargs))

    def to(self, device=None, copy: bool = False, dtype=None) -> "Transform3d":
        """A transform on ``device`` (and ``dtype``); ``self`` when nothing changes and not ``copy``."""
        device = self.device if device is None else torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        if not copy and device == self.device and dtype == self.dtype:
            return self
        out = copy_module.copy(self)
        out._matrix = self._matrix.to(device=device, dtype=dtype)
        out._transforms = [t.to(device, copy=copy, dtype=dtype) for t in self._transforms]
        return out

    def cpu(self) -> "Transform3d":
        return self.to("cpu")

    def cuda(self) -> "Transform3d":
        return self.to("cuda")

    def clone(self) -> "Transform3d":
        """A deep copy (every tensor cloned)."""
        out = copy_module.copy(self)
        out._matrix = self._matrix.clone()
        out._transforms = [t.clone() for t in self._transforms]
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={len(self)}, dtype={self.dtype}, device={self.device})"


Transform = Transform3d  # unrender's earlier name


def _coord(name: str, c, dtype, device) -> torch.Tensor:
    t = c if isinstance(c, torch.Tensor) else torch.tensor(c, dtype=dtype, device=device)
    t = t.to(device=device if device is not None else t.device, dtype=dtype)
    if t.dim() > 1:
        raise ValueError(f"{name}: expected a number or a (N,) tensor, found shape {tuple(t.shape)}")
    return t.reshape(-1)


def _xyz(x, y, z, dtype, device, name: str, allow_singleton: bool = False) -> torch.Tensor:
    """PyTorch3D's forms -> ``(N, 3)``: one ``(N, 3)`` tensor, or ``x, y, z`` numbers / ``(N,)``
    tensors broadcast together (or one of them for all three when ``allow_singleton``)."""
    if isinstance(x, torch.Tensor) and x.dim() == 2:
        if x.shape[1] != 3 or y is not None or z is not None:
            raise ValueError(f"{name}: expected one (N, 3) tensor (and no y, z), found shape {tuple(x.shape)}")
        return x.to(device=device if device is not None else x.device, dtype=dtype)
    if y is None and z is None:
        if not allow_singleton:
            raise ValueError(f"{name}: expected a (N, 3) tensor or x, y and z, found only x")
        y = z = x
    if y is None or z is None:
        raise ValueError(f"{name}: expected x, y and z together, found {'y' if y is None else 'z'} missing")
    if device is None:
        device = next((c.device for c in (x, y, z) if isinstance(c, torch.Tensor)), torch.device("cpu"))
    xyz = [_coord(f"{name}.{k}", c, dtype, device) for k, c in zip("xyz", (x, y, z))]
    n = max(c.shape[0] for c in xyz)
    if any(c.shape[0] not in (1, n) for c in xyz):
        raise ValueError(f"{name}: expected x, y and z of sizes 1 or {n}, found {[c.shape[0] for c in xyz]}")
    return torch.stack([c.expand(n) for c in xyz], 1)


class Translate(Transform3d):
    """Translations: ``Translate(xyz (N, 3))`` or ``Translate(x, y, z)`` (numbers or ``(N,)`` tensors)."""

    def __init__(self, x, y=None, z=None, dtype: torch.dtype = torch.float32, device=None) -> None:
        xyz = _xyz(x, y, z, dtype, device, "Translate")
        eye = torch.eye(4, dtype=dtype, device=xyz.device).expand(xyz.shape[0], 4, 4)
        row = torch.cat([xyz, torch.ones_like(xyz[:, :1])], 1)
        super().__init__(matrix=torch.cat([eye[:, :3], row[:, None]], 1))

    def _get_matrix_inverse(self) -> torch.Tensor:
        mask = self._matrix.new_ones([1, 4, 4])
        mask[0, 3, :3] = -1.0
        return self._matrix * mask


class Scale(Transform3d):
    """Scaling: ``Scale(s)`` (number, ``(N,)`` or ``(N, 3)``) or ``Scale(x, y, z)``."""

    def __init__(self, x, y=None, z=None, dtype: torch.dtype = torch.float32, device=None) -> None:
        xyz = _xyz(x, y, z, dtype, device, "Scale", allow_singleton=True)
        diag = torch.cat([xyz, torch.ones_like(xyz[:, :1])], 1)
        super().__init__(matrix=torch.diag_embed(diag))

    def _get_matrix_inverse(self) -> torch.Tensor:
        return torch.diag_embed(torch.reciprocal(torch.diagonal(self._matrix, dim1=1, dim2=2)))


class Rotate(Transform3d):
    """Rotation by ``R`` ``(3, 3)`` or ``(N, 3, 3)`` (row vectors: ``p' = p @ R``)."""

    def __init__(self, R: torch.Tensor, dtype: torch.dtype = torch.float32, device=None, orthogonal_tol: float = 1e-5) -> None:
        if not isinstance(R, torch.Tensor) or R.dim() not in (2, 3) or R.shape[-2:] != (3, 3):
            found = f"shape {tuple(R.shape)}" if isinstance(R, torch.Tensor) else type(R).__name__
            raise ValueError(f"R: expected a tensor of shape (3, 3) or (N, 3, 3), found {found}")
        R = R.to(device=device if device is not None else R.device, dtype=dtype)
        R = R if R.dim() == 3 else R[None]
        m = torch.zeros(R.shape[0], 4, 4, dtype=dtype, device=R.device)
        m[:, 3, 3] = 1.0
        m = m + torch.nn.functional.pad(R, (0, 1, 0, 1))
        super().__init__(matrix=m)

    def _get_matrix_inverse(self) -> torch.Tensor:
        return self._matrix.permute(0, 2, 1).contiguous()


class RotateAxisAngle(Rotate):
    """Rotation by ``angle`` (number or ``(N,)``, degrees unless ``degrees=False``) about ``axis`` X, Y or Z
    (counter-clockwise looking down the axis, right-handed)."""

    def __init__(self, angle, axis: str = "X", degrees: bool = True, dtype: torch.dtype = torch.float32, device=None) -> None:
        axis = str(axis).upper()
        if axis not in ("X", "Y", "Z"):
            raise ValueError(f"axis: expected 'X', 'Y' or 'Z', found {axis!r}")
        a = _coord("angle", angle, dtype, device)
        a = a / 180.0 * math.pi if degrees else a
        c, s, o, z = torch.cos(a), torch.sin(a), torch.ones_like(a), torch.zeros_like(a)
        rows = {"X": (o, z, z, z, c, -s, z, s, c), "Y": (c, z, s, z, o, z, -s, z, c), "Z": (c, -s, z, s, c, z, z, z, o)}[axis]
        R = torch.stack(rows, -1).reshape(-1, 3, 3).transpose(1, 2)  # column-vector matrix -> row vectors
        super().__init__(R, dtype=dtype, device=a.device)

"""Batched, differentiable cameras in PyTorch3D's conventions.

Conventions (identical to PyTorch3D's ``pytorch3d.renderer.cameras``, so the
two agree number for number):

* **World -> view**: row vectors, ``X_view = X_world @ R + T`` with
  ``R: (N, 3, 3)`` and ``T: (N, 3)``. The camera centre is ``C = -T @ R^-1``.
* **View space**: ``+X`` left, ``+Y`` up, ``+Z`` into the screen (away from the
  camera; visible points have ``Z > 0``). Right-handed.
* **NDC**: ``+X`` left, ``+Y`` up, origin at the image centre. For a square
  image both axes span ``[-1, 1]``. For a **non-square** image the *shorter*
  side spans ``[-1, 1]`` and the longer one ``[-s, s]`` with
  ``s = long / short``; NDC units are therefore the same on both axes (square
  pixels), and a field of view or focal length given in NDC applies to the
  shorter side. ``z`` in NDC is camera specific (see each class); the
  rasteriser uses :meth:`CamerasBase.project_to_ndc_with_depth`, whose ``z`` is
  the view-space depth.
* **Screen** (``transform_points_screen``): pixels, ``+x`` right, ``+y`` down,
  origin at the top-left *corner* of the image, so the centre of pixel
  ``(row i, column j)`` is at ``(j + 0.5, i + 0.5)``:
  ``x_screen = W / 2 - x_ndc * min(H, W) / 2`` and likewise for ``y`` with ``H``.
  ``image_size`` is always ``(H, W)``.
* Cameras given **in screen space** (``in_ndc=False``, Perspective and
  Orthographic only) take the focal length and principal point in pixels, the
  principal point in the screen frame above; they need ``image_size``.

The classes match PyTorch3D's methods (``get_world_to_view_transform``,
``get_full_projection_transform``, ``transform_points``,
``transform_points_ndc``, ``transform_points_screen``, ``unproject_points``,
``get_camera_center``, ...) and their ``get_matrix()`` numbers; transforms are
:class:`~unrender.cameras.transform.Transform3d` objects. Differences from
PyTorch3D, all deliberate:

* A camera keeps the floating dtype of its tensor inputs (float64 stays
  float64; default dtype otherwise) and projects points in the points' dtype.
* Bad input raises ``ValueError`` naming the argument: focal lengths must be
  positive, ``fov`` in ``(0, 180)`` degrees, ``znear < zfar`` (``znear > 0``
  for perspective), ``max_x > min_x``, ``max_y > min_y``, finite values,
  ``R (N, 3, 3)``/``(3, 3)``, ``T (N, 3)``/``(3,)``. A 2-D ``R`` and a 1-D
  ``T`` count as a batch of one.
* No ``K`` override argument; ``to()`` moves in place (as PyTorch3D) and also
  takes a ``dtype``. Methods take ``R=``, ``T=`` (and ``image_size=`` where it
  matters) as overrides that, unlike PyTorch3D, do not overwrite the stored
  values; other keyword arguments (what renderers pass through) are ignored, as
  in PyTorch3D.
* Extra: :meth:`CamerasBase.project_to_ndc_with_depth`, what a mesh rasteriser
  needs (PyTorch3D's ``MeshRasterizer.transform`` numbers in one call).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..tensor_properties import TensorProperties, broadcast_batch
from ..screen import parse_image_sizes
from .transform import Transform3d, apply_homogeneous

__all__ = [
    "CamerasBase",
    "FoVPerspectiveCameras",
    "PerspectiveCameras",
    "FoVOrthographicCameras",
    "OrthographicCameras",
    "get_world_to_view_transform",
    "camera_position_from_spherical_angles",
    "look_at_rotation",
    "look_at_view_transform",
]


# --------------------------------------------------------------------------- input parsing


def _to_tensor(name: str, value, dtype, device) -> torch.Tensor:
    """Numbers / sequences / arrays / tensors -> tensor (tensors keep autograd; only cast when needed)."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise ValueError(f"{name}: expected real numbers, found a tensor of dtype {value.dtype}")
        return value.to(device=device, dtype=dtype)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value), dtype=dtype, device=device)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, a sequence of numbers or a tensor, found {value!r}") from None
    return torch.as_tensor(arr, dtype=dtype, device=device)


def _common_dtype(values) -> torch.dtype:
    dts = [v.dtype for v in values if isinstance(v, torch.Tensor) and v.is_floating_point()]
    if not dts:
        return torch.get_default_dtype()
    out = dts[0]
    for d in dts[1:]:
        out = torch.promote_types(out, d)
    return out


def _common_device(values, device):
    if device is not None:
        return torch.device(device)
    for v in values:
        if isinstance(v, torch.Tensor):
            return v.device
    return torch.device("cpu")


def _shape_str(tail: tuple) -> str:
    return "(" + ", ".join(["N", *map(str, tail)]) + ")"


def _batched(name: str, x: torch.Tensor, tail: tuple) -> torch.Tensor:
    """``tail``-shaped -> ``(1, *tail)``; ``(B, *tail)`` kept; anything else raises."""
    if tuple(x.shape) == tail:
        return x[None]
    if x.dim() == len(tail) + 1 and tuple(x.shape[1:]) == tail:
        return x
    alt = f" or {tail}" if tail else " or a number"
    raise ValueError(f"{name}: expected shape {_shape_str(tail)}{alt}, found shape {tuple(x.shape)}")


def _check_finite(name: str, x: torch.Tensor) -> None:
    if x.numel() and not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name}: expected finite values, found NaN or infinite entries")


def _parse_points(name: str, points, n_cams: int) -> torch.Tensor:
    if not isinstance(points, torch.Tensor) or points.dim() not in (2, 3) or points.shape[-1] != 3:
        found = f"shape {tuple(points.shape)}" if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"{name}: expected a tensor of shape (P, 3) or (N, P, 3), found {found}")
    if points.dim() == 3 and points.shape[0] not in (1, n_cams) and n_cams != 1:
        raise ValueError(
            f"{name}: expected a batch size of 1 or {n_cams} (one per camera), found {points.shape[0]}"
        )
    return points


_DEFAULT_R = np.eye(3)
_DEFAULT_T = np.zeros(3)
_DEFAULT_PP = np.zeros(2)
_DEFAULT_PP_ARG = ((0.0, 0.0),)  # the signature's default, PyTorch3D's


def _eye4(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(4, dtype=like.dtype, device=like.device).expand(n, 4, 4).clone()


# --------------------------------------------------------------------------- base class


class CamerasBase(TensorProperties):
    """Common machinery of the four camera classes (``N`` cameras in a batch).

    Subclasses set ``_FIELDS`` (batched tensors, first dim ``N``) and implement
    ``_projection_matrix`` and ``is_perspective``. Batch size, indexing,
    ``to`` / ``clone`` / ``detach`` come from
    :class:`~unrender.tensor_properties.TensorProperties`.
    """

    _FIELDS: tuple[str, ...] = ("R", "T")
    _NAME = "cameras"

    R: torch.Tensor
    T: torch.Tensor

    # ----------------------------------------------------------------- construction
    def _setup(self, device, specs: dict[str, tuple[object, tuple]]) -> None:
        """``specs``: name -> (value, per-camera shape). Sets broadcast attributes and ``_N``.

        Plain numbers are remembered in ``_py`` so that their checks run in Python, not as tensor ops.
        """
        values = [v for v, _ in specs.values()]
        dtype = _common_dtype(values)
        dev = _common_device(values, device)
        self._py = {k: float(v) for k, (v, _) in specs.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self._defaults = {k for k, (v, _) in specs.items() if v is _DEFAULT_R or v is _DEFAULT_T or v is _DEFAULT_PP}
        # all plain numbers in one tensor (one allocation instead of one each)
        scalars = dict(zip(self._py, torch.tensor(list(self._py.values()), dtype=dtype, device=dev).unbind())
                       ) if self._py else {}
        fields = {name: _batched(name, scalars[name] if name in scalars else _to_tensor(name, value, dtype, dev), tail)
                  for name, (value, tail) in specs.items()}
        super().__init__(**fields)

    def _v(self, name: str):
        """The input as a Python number when it was one, else the (broadcast) tensor."""
        return self._py.get(name, getattr(self, name))

    def _validate(self, conditions: list[tuple[str, object, object]], finite: Sequence[str] = ()) -> None:
        """Raise for the first failed ``(name, ok, expectation)``; ``R``, ``T`` and ``finite`` must be finite.

        ``ok`` is a Python bool (checks on plain numbers) or a bool tensor; the
        tensors are reduced together, so a valid camera costs at most one host
        sync. ``expectation`` is a string or a callable building it on failure.
        NaN fails every comparison, so compared fields need no separate check.
        """
        names = [k for k in ("R", "T", *finite) if k not in self._defaults and k not in self._py]
        # a sum is finite iff every entry is (barring overflow past 3e38, which a camera never reaches)
        tensors = [torch.isfinite(sum(getattr(self, k).sum() for k in names))] if names else []
        tensors += [ok.all() for _, ok, _ in conditions if isinstance(ok, torch.Tensor)]
        if all(bool(ok) for _, ok, _ in conditions if not isinstance(ok, torch.Tensor)) and (
                not tensors or bool(torch.stack(tensors).all() if len(tensors) > 1 else tensors[0])):
            return
        checks = [(k, torch.isfinite(getattr(self, k)), "finite values") for k in names] + list(conditions)
        for name, ok, what in checks:
            if not bool(ok.all() if isinstance(ok, torch.Tensor) else ok):
                v = getattr(self, name, None)
                found = v.detach().tolist() if isinstance(v, torch.Tensor) and v.numel() <= 12 else "other values"
                raise ValueError(f"{name}: expected {what() if callable(what) else what}, found {found}")

    def _broadcast_image_size(self, image_size) -> torch.Tensor | None:
        size = parse_image_sizes(image_size, self.device)
        if size is not None and size.shape[0] not in (1, self._N):
            raise ValueError(f"image_size: expected 1 or {self._N} (H, W) rows, found {size.shape[0]}")
        return size

    @property
    def dtype(self) -> torch.dtype:
        return self.R.dtype

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self._N}, dtype={self.dtype}, device={self.device})"

    # ----------------------------------------------------------------- facts
    def is_perspective(self) -> bool:
        raise NotImplementedError

    def in_ndc(self) -> bool:
        return True

    def get_znear(self):
        """``znear`` ``(N,)`` for the FoV cameras, ``None`` for the others (as PyTorch3D)."""
        return getattr(self, "znear", None)

    def get_image_size(self):
        """``(N, 2)`` or ``(1, 2)`` int64 ``(H, W)``, or ``None`` if not set."""
        return getattr(self, "image_size", None)

    # ----------------------------------------------------------------- matrices
    def _rt(self, R=None, T=None) -> tuple[torch.Tensor, torch.Tensor]:
        if R is None and T is None:
            return self.R, self.T
        R = self.R if R is None else _batched("R", R, (3, 3))
        T = self.T if T is None else _batched("T", T, (3,))
        if R.shape[0] != T.shape[0] and 1 not in (R.shape[0], T.shape[0]):
            raise ValueError(f"T: expected the batch size of R ({R.shape[0]}) or 1, found {T.shape[0]}")
        n = max(R.shape[0], T.shape[0])
        return R.expand(n, 3, 3), T.to(R.dtype).expand(n, 3)

    def _w2v_matrix(self, R=None, T=None) -> torch.Tensor:
        R, T = self._rt(R, T)
        m = _eye4(R.shape[0], R)
        m[:, :3, :3] = R
        m[:, 3, :3] = T
        return m

    def _projection_matrix(self) -> torch.Tensor:
        """``(N, 4, 4)`` view -> camera projection space, row-vector convention."""
        raise NotImplementedError

    def _ndc_matrix(self, image_size=None) -> torch.Tensor | None:
        """``(N, 4, 4)`` camera projection space -> NDC, or ``None`` when already NDC."""
        return None

    def _view_to_ndc_matrix(self, image_size=None) -> torch.Tensor:
        p = self._projection_matrix()
        s = self._ndc_matrix(image_size)
        return p if s is None else p @ s

    def get_world_to_view_transform(self, R=None, T=None, **kwargs) -> Transform3d:
        """World -> view: matrix ``[[R, 0], [T, 1]]`` ``(N, 4, 4)``. ``R``/``T`` override the stored ones."""
        return Transform3d(matrix=self._w2v_matrix(R, T))

    def get_projection_transform(self, **kwargs) -> Transform3d:
        """View -> camera projection space (NDC, or screen for ``in_ndc=False``)."""
        return Transform3d(matrix=self._projection_matrix())

    def get_ndc_camera_transform(self, image_size=None, **kwargs) -> Transform3d:
        """Camera projection space -> NDC (identity for NDC cameras)."""
        s = self._ndc_matrix(image_size)
        return Transform3d(matrix=_eye4(self._N, self.R) if s is None else s)

    def get_full_projection_transform(self, R=None, T=None, **kwargs) -> Transform3d:
        """World -> camera projection space."""
        return Transform3d(matrix=self._w2v_matrix(R, T) @ self._projection_matrix())

    # ----------------------------------------------------------------- projecting
    def transform_points(self, points: torch.Tensor, eps: float | None = None, R=None, T=None,
                         **kwargs) -> torch.Tensor:
        """World points -> camera projection space (NDC, or screen for ``in_ndc=False``).

        Args:
            points: ``(P, 3)`` or ``(N, P, 3)`` world coordinates.
            eps: clamp ``|w|`` to at least ``eps`` before the perspective
                division (stable gradients near the camera plane).
        Returns:
            ``(N, P, 3)``, or ``(P, 3)`` for 2-D ``points`` and one camera.
        """
        _parse_points("points", points, self._N)
        return apply_homogeneous(points, self._w2v_matrix(R, T) @ self._projection_matrix(), eps)

    def transform_points_ndc(self, points: torch.Tensor, eps: float | None = None, R=None, T=None,
                             image_size=None, **kwargs) -> torch.Tensor:
        """World points -> NDC (``+X`` left, ``+Y`` up), same shapes as :meth:`transform_points`."""
        _parse_points("points", points, self._N)
        return apply_homogeneous(points, self._w2v_matrix(R, T) @ self._view_to_ndc_matrix(image_size), eps)

    def transform_points_screen(self, points: torch.Tensor, eps: float | None = None, with_xyflip: bool = True,
                                image_size=None, R=None, T=None, **kwargs) -> torch.Tensor:
        """World points -> screen pixels (``+x`` right, ``+y`` down, origin at the top-left corner).

        ``z`` is the NDC ``z`` of the camera. ``image_size`` ``(H, W)`` or
        ``(N, 2)`` defaults to the camera's. ``with_xyflip=False`` keeps
        PyTorch3D's unflipped variant ``(x_ndc * s - W / 2, ...)``.
        """
        size = self._broadcast_image_size(image_size) if image_size is not None else self.get_image_size()
        if size is None:
            raise ValueError("image_size: expected (H, W) for the conversion to screen pixels, found None")
        ndc = self.transform_points_ndc(points, eps=eps, R=R, T=T, image_size=size)
        h, w = size[:, 0].to(ndc.dtype), size[:, 1].to(ndc.dtype)
        s = torch.minimum(h, w) / 2
        if ndc.dim() == 2:
            h, w, s = h[0], w[0], s[0]
        else:
            h, w, s = h[:, None], w[:, None], s[:, None]
        x, y, z = ndc.unbind(-1)
        if with_xyflip:
            return torch.stack([w / 2 - s * x, h / 2 - s * y, z], -1)
        return torch.stack([s * x - w / 2, s * y - h / 2, z], -1)

    def project_to_ndc_with_depth(self, points: torch.Tensor, eps: float | None = None, R=None, T=None,
                                  image_size=None, **kwargs) -> torch.Tensor:
        """World points -> ``(x_ndc, y_ndc, z_view)``: what a mesh rasteriser consumes.

        Same numbers as PyTorch3D's ``MeshRasterizer.transform`` (NDC ``x, y``
        with the NDC ``z`` replaced by the view-space depth, for every camera
        type), in one matrix product.

        Args:
            points: ``(P, 3)`` or ``(N, P, 3)`` world coordinates.
        Returns:
            ``(N, P, 3)`` (``(P, 3)`` for 2-D points and one camera).
        """
        _parse_points("points", points, self._N)
        w2v = self._w2v_matrix(R, T)
        full = w2v @ self._view_to_ndc_matrix(image_size)
        # one product gives [x, y, z_view, w]
        m = torch.cat([full[:, :, :2], w2v[:, :, 2:3], full[:, :, 3:4]], dim=2).to(points.dtype)
        out = torch.matmul(points, m[:, :3, :])
        out += m[:, 3:, :]
        w = out[..., 3:4]
        if eps is not None:
            sign = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
            w = sign * w.abs().clamp(min=eps)
        res = torch.cat([out[..., :2] / w, out[..., 2:3]], dim=-1)
        if points.dim() == 2 and res.shape[0] == 1:
            res = res[0]
        return res

    def unproject_points(self, xy_depth: torch.Tensor, world_coordinates: bool = True,
                         scaled_depth_input: bool = False, from_ndc: bool = False, R=None, T=None,
                         **kwargs) -> torch.Tensor:
        """Inverse of :meth:`transform_points` given the depth of each point.

        Args:
            xy_depth: ``(P, 3)`` or ``(N, P, 3)``: ``x, y`` in the camera's
                projection space (NDC; screen for ``in_ndc=False`` cameras
                unless ``from_ndc``) and the view-space depth ``z``.
            world_coordinates: return world points (else view points).
            scaled_depth_input: ``z`` is the projected ``z`` that
                :meth:`transform_points` returns instead of the depth.
            from_ndc: ``x, y`` are NDC even for a screen-space camera.
        Returns:
            points with the shape :meth:`transform_points` would give.
        """
        _parse_points("xy_depth", xy_depth, self._N)
        p = self._view_to_ndc_matrix() if (from_ndc and not self.in_ndc()) else self._projection_matrix()
        p = p.to(xy_depth.dtype)
        two_d = xy_depth.dim() == 2
        x, y, z = (xy_depth[None] if two_d else xy_depth).unbind(-1)

        def e(i, j):
            return p[:, i, j, None]

        if scaled_depth_input:  # invert z_proj = (a Z + b) / (c Z + d)
            z = (e(3, 2) - z * e(3, 3)) / (z * e(2, 3) - e(2, 2))
        w = e(2, 3) * z + e(3, 3)
        X = (x * w - e(2, 0) * z - e(3, 0)) / e(0, 0)
        Y = (y * w - e(2, 1) * z - e(3, 1)) / e(1, 1)
        out = torch.stack([X, Y, z.expand_as(X)], -1)
        if world_coordinates:
            Rm, Tm = self._rt(R, T)
            out = torch.matmul(out - Tm[:, None].to(out.dtype), torch.linalg.inv(Rm.to(out.dtype)))
        return out[0] if two_d and out.shape[0] == 1 else out

    def get_camera_center(self, R=None, T=None, **kwargs) -> torch.Tensor:
        """``(N, 3)`` camera centres in world coordinates: ``C @ R + T = 0``."""
        Rm, Tm = self._rt(R, T)
        return -torch.matmul(Tm[:, None], torch.linalg.inv(Rm))[:, 0]

    # ----------------------------------------------------------------- intrinsics in NDC
    def ndc_intrinsics(self, image_size=None) -> torch.Tensor:
        """``(N, 4)`` ``(fx, fy, px, py)`` of this camera in NDC.

        Perspective: ``x_ndc = fx * X / Z + px``; orthographic:
        ``x_ndc = fx * X + px`` (view coordinates), likewise for ``y``. The
        converters to Blender and OpenCV read the camera through this.
        """
        m = self._view_to_ndc_matrix(image_size)
        row = 2 if self.is_perspective() else 3
        return torch.stack([m[:, 0, 0], m[:, 1, 1], m[:, row, 0], m[:, row, 1]], -1)


# --------------------------------------------------------------------------- FoV cameras


class FoVPerspectiveCameras(CamerasBase):
    """OpenGL-style perspective cameras from a vertical field of view.

    ``x_ndc = X / (Z tan(fov / 2) aspect_ratio)``, ``y_ndc = Y / (Z tan(fov / 2))``,
    ``z_ndc = zfar / (zfar - znear) - zfar znear / ((zfar - znear) Z)`` (``0`` at
    ``znear``, ``1`` at ``zfar``). ``aspect_ratio`` is the *pixel* aspect
    (keep 1 for square pixels); on a non-square image ``fov`` spans the
    **shorter** side of the image (NDC ``[-1, 1]``).

    Args:
        znear, zfar: ``(N,)`` or numbers, ``0 < znear < zfar``.
        aspect_ratio: ``(N,)`` or a number ``> 0``.
        fov: ``(N,)`` or a number in ``(0, 180)`` degrees (``(0, pi)`` with ``degrees=False``).
        R: ``(N, 3, 3)``; T: ``(N, 3)``.
    """

    _FIELDS = ("znear", "zfar", "aspect_ratio", "fov", "R", "T")

    def __init__(self, znear=1.0, zfar=100.0, aspect_ratio=1.0, fov=60.0, degrees: bool = True,
                 R=None, T=None, device=None):
        R = _DEFAULT_R if R is None else R
        T = _DEFAULT_T if T is None else T
        self._setup(device, dict(znear=(znear, ()), zfar=(zfar, ()), aspect_ratio=(aspect_ratio, ()),
                                 fov=(fov, ()), R=(R, (3, 3)), T=(T, (3,))))
        if not isinstance(degrees, bool):
            raise ValueError(f"degrees: expected a bool, found {degrees!r}")
        self.degrees = degrees
        top = 180.0 if degrees else math.pi
        unit = "degrees" if degrees else "radians"
        zn, zf, fv = self._v("znear"), self._v("zfar"), self._v("fov")
        self._validate([
            ("znear", zn > 0, "znear > 0"),
            ("zfar", zf > zn, lambda: f"zfar > znear ({self.znear.tolist()})"),
            ("aspect_ratio", self._v("aspect_ratio") > 0, "a positive aspect ratio"),
            ("fov", (fv > 0) & (fv < top), f"an angle in (0, {top:g}) {unit}"),
        ])

    def is_perspective(self) -> bool:
        return True

    def _projection_matrix(self) -> torch.Tensor:
        fov = self.fov * (math.pi / 180.0) if self.degrees else self.fov
        t = torch.tan(fov / 2)
        n, f = self.znear, self.zfar
        m = torch.zeros(self._N, 4, 4, dtype=self.dtype, device=self.device)
        m[:, 0, 0] = 1.0 / (t * self.aspect_ratio)
        m[:, 1, 1] = 1.0 / t
        m[:, 2, 2] = f / (f - n)
        m[:, 3, 2] = -(f * n) / (f - n)
        m[:, 2, 3] = 1.0
        return m


class FoVOrthographicCameras(CamerasBase):
    """OpenGL-style orthographic cameras from a view box.

    ``x_ndc = sx (2 X - (max_x + min_x)) / (max_x - min_x)`` (likewise ``y``),
    ``z_ndc = (sz Z - znear) / (zfar - znear)`` (``scale_xyz = (sx, sy, sz)``).
    On a non-square image NDC ``[-1, 1]`` is the shorter side, so
    ``[min_y, max_y]`` maps to the shorter side too.

    Args:
        znear, zfar: ``(N,)`` or numbers, ``znear < zfar``.
        max_y, min_y, max_x, min_x: ``(N,)`` or numbers, ``max > min``.
        scale_xyz: ``(N, 3)`` or ``(3,)``.
        R: ``(N, 3, 3)``; T: ``(N, 3)``.
    """

    _FIELDS = ("znear", "zfar", "max_y", "min_y", "max_x", "min_x", "scale_xyz", "R", "T")

    def __init__(self, znear=1.0, zfar=100.0, max_y=1.0, min_y=-1.0, max_x=1.0, min_x=-1.0,
                 scale_xyz=((1.0, 1.0, 1.0),), R=None, T=None, device=None):
        R = _DEFAULT_R if R is None else R
        T = _DEFAULT_T if T is None else T
        self._setup(device, dict(znear=(znear, ()), zfar=(zfar, ()), max_y=(max_y, ()), min_y=(min_y, ()),
                                 max_x=(max_x, ()), min_x=(min_x, ()), scale_xyz=(scale_xyz, (3,)),
                                 R=(R, (3, 3)), T=(T, (3,))))
        v = self._v
        self._validate([
            ("zfar", v("zfar") > v("znear"), lambda: f"zfar > znear ({self.znear.tolist()})"),
            ("max_x", v("max_x") > v("min_x"), lambda: f"max_x > min_x ({self.min_x.tolist()})"),
            ("max_y", v("max_y") > v("min_y"), lambda: f"max_y > min_y ({self.min_y.tolist()})"),
            ("scale_xyz", self.scale_xyz != 0, "non-zero scales"),
        ], finite=("scale_xyz",))

    def is_perspective(self) -> bool:
        return False

    def _projection_matrix(self) -> torch.Tensor:
        wx, wy = self.max_x - self.min_x, self.max_y - self.min_y
        n, f = self.znear, self.zfar
        m = torch.zeros(self._N, 4, 4, dtype=self.dtype, device=self.device)
        m[:, 0, 0] = 2.0 / wx * self.scale_xyz[:, 0]
        m[:, 1, 1] = 2.0 / wy * self.scale_xyz[:, 1]
        m[:, 3, 0] = -(self.max_x + self.min_x) / wx
        m[:, 3, 1] = -(self.max_y + self.min_y) / wy
        m[:, 2, 2] = self.scale_xyz[:, 2] / (f - n)
        m[:, 3, 2] = -n / (f - n)
        m[:, 3, 3] = 1.0
        return m


# --------------------------------------------------------------------------- intrinsics cameras


class _IntrinsicsCameras(CamerasBase):
    """Shared set-up of Perspective- and OrthographicCameras (focal length + principal point)."""

    _FIELDS = ("focal_length", "principal_point", "R", "T", "image_size")

    def __init__(self, focal_length=1.0, principal_point=_DEFAULT_PP_ARG, R=None, T=None, device=None,
                 in_ndc: bool = True, image_size=None):
        R = _DEFAULT_R if R is None else R
        T = _DEFAULT_T if T is None else T
        if not isinstance(in_ndc, bool):
            raise ValueError(f"in_ndc: expected a bool, found {in_ndc!r}")
        fl = focal_length
        if isinstance(fl, (int, float)) and not isinstance(fl, bool):
            fl_tail = ()  # a plain number: checked in Python below
        else:
            if not isinstance(fl, torch.Tensor):
                try:
                    fl = np.asarray(fl, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ValueError(f"focal_length: expected a number, a sequence of numbers or a tensor, found {fl!r}") from None
            if fl.ndim == 0:
                fl = fl.reshape(1, 1)
            elif fl.ndim == 1:  # one focal length per camera
                fl = fl[:, None]
            if fl.ndim != 2 or fl.shape[1] not in (1, 2):
                raise ValueError(f"focal_length: expected a number or shape (N,), (N, 1) or (N, 2), found shape {tuple(fl.shape)}")
            fl_tail = (fl.shape[1],)
        if principal_point is _DEFAULT_PP_ARG:
            principal_point = _DEFAULT_PP
        self._setup(device, dict(focal_length=(fl, fl_tail), principal_point=(principal_point, (2,)),
                                 R=(R, (3, 3)), T=(T, (3,))))
        f = self.focal_length
        self.focal_length = (f[:, None] if f.dim() == 1 else f).expand(self._N, 2)
        self.image_size = None
        self._validate([("focal_length", self._v("focal_length") > 0, "positive focal lengths")],
                       finite=("principal_point",))
        self._in_ndc = in_ndc
        self.image_size = self._broadcast_image_size(image_size)
        if self.image_size is not None and self.image_size.shape[0] != self._N:
            self.image_size = self.image_size.expand(self._N, 2)
        if not in_ndc and self.image_size is None:
            raise ValueError("image_size: expected (H, W) for a camera given in screen space (in_ndc=False), found None")

    def in_ndc(self) -> bool:
        return self._in_ndc

    def get_principal_point(self) -> torch.Tensor:
        """``(N, 2)`` principal point in the space the camera is defined in."""
        return self.principal_point

    def _ndc_matrix(self, image_size=None) -> torch.Tensor | None:
        if self._in_ndc:
            return None
        size = self._broadcast_image_size(image_size) if image_size is not None else self.image_size
        if size is None:
            raise ValueError("image_size: expected (H, W) for a screen-space camera, found None")
        h, w = size[:, 0].to(self.dtype), size[:, 1].to(self.dtype)
        s = torch.minimum(h, w) / 2
        m = torch.zeros(self._N, 4, 4, dtype=self.dtype, device=self.device)
        m[:, 0, 0] = 1.0 / s
        m[:, 1, 1] = 1.0 / s
        m[:, 2, 2] = 1.0
        m[:, 3, 3] = 1.0
        # the principal point is in image axes (+x right, +y down) while points are +X left, +Y up
        m[:, 3, 0] = (w / 2 - 2 * self.principal_point[:, 0]) / s
        m[:, 3, 1] = (h / 2 - 2 * self.principal_point[:, 1]) / s
        return m


class PerspectiveCameras(_IntrinsicsCameras):
    """Pinhole cameras from a focal length and principal point.

    ``x = fx X / Z + px``, ``y = fy Y / Z + py``, ``z = 1 / Z`` (view
    coordinates ``X, Y, Z``). With ``in_ndc=True`` (default) the result is NDC:
    ``fx, fy, px, py`` are in NDC units (half the *shorter* image side is 1).
    With ``in_ndc=False`` they are pixels, the principal point in screen axes
    (``+x`` right, ``+y`` down, origin at the top-left image corner), and
    ``image_size`` is required; :meth:`transform_points` then returns
    PyTorch3D's intermediate screen values and :meth:`transform_points_ndc`
    the NDC ones.

    Args:
        focal_length: number, ``(N,)``, ``(N, 1)`` or ``(N, 2)``, positive.
        principal_point: ``(N, 2)`` or ``(2,)``.
        R: ``(N, 3, 3)``; T: ``(N, 3)``.
        in_ndc: parameters in NDC (True) or pixels (False).
        image_size: ``(H, W)`` or ``(N, 2)``.
    """

    def is_perspective(self) -> bool:
        return True

    def _projection_matrix(self) -> torch.Tensor:
        m = torch.zeros(self._N, 4, 4, dtype=self.dtype, device=self.device)
        m[:, 0, 0] = self.focal_length[:, 0]
        m[:, 1, 1] = self.focal_length[:, 1]
        m[:, 2, 0] = self.principal_point[:, 0]
        m[:, 2, 1] = self.principal_point[:, 1]
        m[:, 2, 3] = 1.0
        m[:, 3, 2] = 1.0
        return m


class OrthographicCameras(_IntrinsicsCameras):
    """Orthographic cameras from a focal length (scale) and principal point.

    ``x = fx X + px``, ``y = fy Y + py``, ``z = Z``. NDC / screen parameters as
    for :class:`PerspectiveCameras`.

    Args: as :class:`PerspectiveCameras`.
    """

    def is_perspective(self) -> bool:
        return False

    def _projection_matrix(self) -> torch.Tensor:
        m = torch.zeros(self._N, 4, 4, dtype=self.dtype, device=self.device)
        m[:, 0, 0] = self.focal_length[:, 0]
        m[:, 1, 1] = self.focal_length[:, 1]
        m[:, 3, 0] = self.principal_point[:, 0]
        m[:, 3, 1] = self.principal_point[:, 1]
        m[:, 2, 2] = 1.0
        m[:, 3, 3] = 1.0
        return m


# --------------------------------------------------------------------------- world-to-view helpers


def get_world_to_view_transform(R: torch.Tensor, T: torch.Tensor) -> Transform3d:
    """``R (N, 3, 3)``, ``T (N, 3)`` -> the world -> view :class:`Transform3d` (``X @ R + T``)."""
    R = _batched("R", R, (3, 3))
    T = _batched("T", T, (3,))
    if R.shape[0] != T.shape[0]:
        raise ValueError(f"T: expected the batch size of R ({R.shape[0]}), found {T.shape[0]}")
    m = _eye4(R.shape[0], R)
    m[:, :3, :3] = R
    m[:, 3, :3] = T.to(R.dtype)
    return Transform3d(matrix=m)


def _vec3_args(names: Sequence[str], values: Sequence, device) -> list[torch.Tensor]:
    dtype = _common_dtype(values)
    dev = _common_device(values, device)
    out = {n: _batched(n, _to_tensor(n, v, dtype, dev), (3,)) for n, v in zip(names, values)}
    for n, v in out.items():
        _check_finite(n, v)
    out, _ = broadcast_batch(out)
    return list(out.values())


def _normalize(v: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp(min=eps)


def camera_position_from_spherical_angles(distance, elevation, azimuth, degrees: bool = True, device=None) -> torch.Tensor:
    """``(N, 3)`` positions at ``distance`` from the origin.

    ``x = d cos(elev) sin(azim)``, ``y = d sin(elev)``, ``z = d cos(elev) cos(azim)``
    (``+Y`` up; azimuth 0 looks from ``+Z``). Inputs are numbers or ``(N,)``.
    """
    vals = [distance, elevation, azimuth]
    dtype = _common_dtype(vals)
    dev = _common_device(vals, device)
    names = ("dist", "elev", "azim")
    ts = {}
    for n, v in zip(names, vals):
        t = _to_tensor(n, v, dtype, dev).reshape(-1)
        _check_finite(n, t)
        ts[n] = t
    ts, _ = broadcast_batch(ts)
    d, e, a = ts["dist"], ts["elev"], ts["azim"]
    if degrees:
        e, a = e * (math.pi / 180.0), a * (math.pi / 180.0)
    return torch.stack([d * torch.cos(e) * torch.sin(a), d * torch.sin(e), d * torch.cos(e) * torch.cos(a)], -1)


def look_at_rotation(camera_position, at=((0, 0, 0),), up=((0, 1, 0),), device=None) -> torch.Tensor:
    """``(N, 3, 3)`` world -> view rotations of cameras at ``camera_position`` looking at ``at``.

    The view ``+Z`` axis points from the camera to ``at``, ``+X`` is
    ``up x Z``, ``+Y`` is ``Z x X``; when ``up`` is (nearly) parallel to the
    viewing direction the ``X`` axis falls back to ``Y x Z`` as in PyTorch3D.
    Inputs: ``(3,)``, ``(1, 3)`` or ``(N, 3)``.
    """
    cam, at, up = _vec3_args(("camera_position", "at", "up"), (camera_position, at, up), device)
    d = at - cam
    if bool((d.detach().norm(dim=-1) == 0).any()):
        raise ValueError("at: expected a point different from the camera position, found the same point")
    if bool((up.detach().norm(dim=-1) == 0).any()):
        raise ValueError("up: expected a non-zero vector, found (0, 0, 0)")
    z = _normalize(d)
    x = _normalize(torch.cross(up, z, dim=-1))
    y = _normalize(torch.cross(z, x, dim=-1))
    degenerate = (x.abs() <= 5e-3).all(dim=-1, keepdim=True)
    if bool(degenerate.any()):
        x = torch.where(degenerate, _normalize(torch.cross(y, z, dim=-1)), x)
    # rows are the view axes in world coordinates; R maps world rows to view rows, so transpose
    return torch.stack([x, y, z], dim=1).transpose(1, 2)


def look_at_view_transform(dist=1.0, elev=0.0, azim=0.0, degrees: bool = True, eye=None, at=((0, 0, 0),),
                           up=((0, 1, 0),), device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R (N, 3, 3), T (N, 3))`` for cameras looking at ``at``.

    The camera sits at ``eye`` if given, else at
    :func:`camera_position_from_spherical_angles` ``(dist, elev, azim) + at``.
    ``T = -C @ R`` so that the camera centre ``C`` maps to the view origin.
    """
    if eye is not None:
        eye, at, up = _vec3_args(("eye", "at", "up"), (eye, at, up), device)
        cam = eye
    else:
        at_t, up_t = _vec3_args(("at", "up"), (at, up), device)
        pos = camera_position_from_spherical_angles(dist, elev, azim, degrees=degrees, device=at_t.device)
        pos = pos.to(torch.promote_types(pos.dtype, at_t.dtype))
        n = max(pos.shape[0], at_t.shape[0], up_t.shape[0])
        for name, t in (("dist/elev/azim", pos), ("at", at_t), ("up", up_t)):
            if t.shape[0] not in (1, n):
                raise ValueError(f"{name}: expected a batch size of 1 or {n}, found {t.shape[0]}")
        at = at_t.to(pos.dtype).expand(n, 3)
        up = up_t.to(pos.dtype).expand(n, 3)
        cam = pos.expand(n, 3) + at
    R = look_at_rotation(cam, at, up)
    T = -torch.matmul(cam[:, None], R)[:, 0]
    return R, T

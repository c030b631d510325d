"""Lights: ambient, directional and point lights with Phong reflection.

The formulas match PyTorch3D's ``pytorch3d.renderer.lighting``:

* diffuse (Lambert): ``color * relu(dot(n, l))``,
* specular (Phong): ``color * relu(dot(v, r)) ** shininess`` where
  ``r = -l + 2 (n . l) n``, zero where ``n . l <= 0``,

with ``n``, ``l`` and ``v`` normalised by ``F.normalize(..., eps=1e-6)``.
``l`` points from the surface towards the light and ``v`` from the surface
towards the camera. Everything happens in one coordinate frame (world space
in the shaders).

Every colour / direction / location property is stored as an ``(N, C)``
tensor (``N`` lights in a batch; a ``(C,)`` or ``(1, C)`` value is shared by
the batch, see :class:`~unrender.tensor_properties.TensorProperties`; a batch
of one light serves every image); tensors passed in keep their autograd
graph, so a light direction can be optimised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_finite
from ..tensor_properties import TensorProperties

__all__ = [
    "AmbientLights",
    "DirectionalLights",
    "PointLights",
    "as_batch_property",
    "diffuse",
    "property_rows",
    "specular",
    "view_like",
]

_EPS = 1e-6


# ------------------------------------------------------------------ helpers
def as_batch_property(name: str, value, width: int | None = 3, *, device=None, dtype=None) -> torch.Tensor:
    """A colour/vector property -> ``(N, width)`` float tensor.

    Accepts a ``width``-sequence, a list of them, or a tensor of shape
    ``(width,)`` / ``(N, width)``. ``width=None`` accepts any channel count.
    Raises ``ValueError`` naming ``name`` otherwise.
    """
    if isinstance(value, torch.Tensor):
        t = value
        if not t.is_floating_point():
            t = t.to(dtype or torch.float32)
    else:
        try:
            t = torch.as_tensor(value, dtype=dtype or torch.float32)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"{name}: expected a sequence of {width or 'C'} numbers or an (N, {width or 'C'}) tensor, found {value!r}") from None
    if t.dim() == 1:
        t = t[None]
    want = f"({width},) or (N, {width})" if width else "(C,) or (N, C)"
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] == 0 or (width is not None and t.shape[1] != width):
        raise ValueError(f"{name}: expected shape {want}, found shape {tuple(t.shape)}")
    check_finite(name, t)
    if device is not None or dtype is not None:
        t = t.to(device=device if device is not None else t.device, dtype=dtype if dtype is not None else t.dtype)
    return t


def property_rows(prop: torch.Tensor, batch: torch.Tensor | None) -> torch.Tensor:
    """Rows of an ``(N, C)`` property for packed items of image ``batch`` ``(P,)``.

    A one-row property is returned as ``(1, C)`` (broadcasts); ``batch=None``
    means every item belongs to image 0.
    """
    if prop.shape[0] == 1 or batch is None:
        return prop[:1] if batch is None else prop
    return prop[batch]


def view_like(prop: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Shape ``(N, C)`` (or ``(N,)``) ``prop`` to broadcast against ``ref`` ``(N, ..., 3)``.

    For packed ``ref`` ``(P, 3)`` the property is used as is (it must be
    ``(1, C)`` or ``(P, C)``), as in PyTorch3D.
    """
    if ref.dim() <= 2 or prop.shape[:-1] == ref.shape[:-1]:
        return prop
    extra = ref.dim() - 2
    if prop.dim() == 1:  # (N,) scalars such as shininess
        return prop.reshape((prop.shape[0],) + (1,) * extra)
    return prop.reshape((prop.shape[0],) + (1,) * extra + (prop.shape[-1],))


# --------------------------------------------------------------- functional
def diffuse(normals: torch.Tensor, color: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Lambertian reflection.

    Args:
        normals: ``(..., 3)`` surface normals (need not be unit length).
        color: diffuse light colour broadcastable to ``(..., C)``.
        direction: direction towards the light, broadcastable to ``normals``.

    Returns:
        ``(..., C)``: ``color * max(0, n . l)``.
    """
    n = F.normalize(normals, p=2, dim=-1, eps=_EPS)
    d = F.normalize(direction, p=2, dim=-1, eps=_EPS)
    return color * torch.relu((n * d).sum(-1))[..., None]


def specular(
    points: torch.Tensor,
    normals: torch.Tensor,
    direction: torch.Tensor,
    color: torch.Tensor,
    camera_position: torch.Tensor,
    shininess: torch.Tensor,
) -> torch.Tensor:
    """Phong specular reflection.

    Args:
        points: ``(..., 3)`` surface positions.
        normals: ``(..., 3)`` normals (same shape as ``points``).
        direction: direction towards the light, broadcastable to ``points``.
        color: specular light colour broadcastable to ``(..., C)``.
        camera_position: broadcastable to ``points``.
        shininess: exponent broadcastable to ``points.shape[:-1]``.

    Returns:
        ``(..., C)``: ``color * (max(0, v . r) * [n . l > 0]) ** shininess``.
    """
    if points.shape != normals.shape:
        raise ValueError(f"normals: expected the shape of points {tuple(points.shape)}, found {tuple(normals.shape)}")
    n = F.normalize(normals, p=2, dim=-1, eps=_EPS)
    d = F.normalize(direction, p=2, dim=-1, eps=_EPS)
    cos = (n * d).sum(-1)
    front = (cos > 0).to(points.dtype)
    v = F.normalize(camera_position - points, p=2, dim=-1, eps=_EPS)
    r = 2 * cos[..., None] * n - d
    a = torch.relu((v * r).sum(-1)) * front
    return color * torch.pow(a, shininess)[..., None]


# ------------------------------------------------------------------ classes
class _Lights(TensorProperties):
    """Batched light properties; subclasses set ``_FIELDS``, their width and the direction rule."""

    _NAME = "lights"
    _WIDTH: int | None = 3  # channels of every field (None: any)

    def __init__(self, device="cpu", **props) -> None:
        device = torch.device(device)
        owner = type(self).__name__
        super().__init__(**{k: as_batch_property(f"{owner}.{k}", props[k], self._WIDTH, device=device) for k in self._FIELDS})

    # direction towards the light for points ``(..., 3)``; ``loc`` already broadcastable
    def _direction(self, points: torch.Tensor, batch: torch.Tensor | None, packed: bool) -> torch.Tensor | None:
        raise NotImplementedError

    # PyTorch3D-style API: normals/points (N, ..., 3) with one light per batch row, or packed (P, 3)
    def diffuse(self, normals: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        """``(..., 3)`` diffuse light reaching ``normals`` (at ``points``)."""
        d = self._direction(points if points is not None else normals, None, False)
        return diffuse(normals, view_like(self.diffuse_color, normals), d)

    def specular(self, normals, points, camera_position, shininess) -> torch.Tensor:
        """``(..., 3)`` Phong highlight seen from ``camera_position`` ``(N, 3)``."""
        d = self._direction(points, None, False)
        cam = torch.as_tensor(camera_position, dtype=points.dtype, device=points.device)
        shin = torch.as_tensor(shininess, dtype=points.dtype, device=points.device)
        if cam.dim() == 1:
            cam = cam[None]
        if shin.dim() == 0:
            shin = shin[None]
        return specular(points, normals, d, view_like(self.specular_color, normals), view_like(cam, points), view_like(shin, points))

    # packed API used by the shaders: items (P, 3) of images ``batch`` (P,)
    def shade_packed(self, points, normals, batch, camera_position, shininess):
        """Diffuse and specular terms ``(P, 3)`` each for packed points.

        ``camera_position`` ``(1|P, 3)`` and ``shininess`` ``(1|P,)`` are already
        gathered per item. Same formulas as ``diffuse`` / ``specular``, with
        the normalisations and ``n . l`` computed once for both.
        """
        dt = points.dtype
        n = F.normalize(normals, p=2, dim=-1, eps=_EPS)
        d = F.normalize(self._direction(points, batch, True), p=2, dim=-1, eps=_EPS)
        cos = (n * d).sum(-1)
        dif = property_rows(self.diffuse_color, batch).to(dt) * torch.relu(cos)[:, None]
        v = F.normalize(camera_position - points, p=2, dim=-1, eps=_EPS)
        r = 2 * cos[:, None] * n - d
        a = torch.relu((v * r).sum(-1)) * (cos > 0).to(dt)
        spe = property_rows(self.specular_color, batch).to(dt) * torch.pow(a, shininess)[:, None]
        return dif, spe


class DirectionalLights(_Lights):
    """Parallel light from ``direction`` (pointing from the scene towards the light).

    Args (each ``(3,)`` or ``(N, 3)``, broadcast to a common ``N``):
        ambient_color, diffuse_color, specular_color, direction.
    """

    _FIELDS = ("ambient_color", "diffuse_color", "specular_color", "direction")

    def __init__(
        self,
        ambient_color=((0.5, 0.5, 0.5),),
        diffuse_color=((0.3, 0.3, 0.3),),
        specular_color=((0.2, 0.2, 0.2),),
        direction=((0.0, 1.0, 0.0),),
        device="cpu",
    ) -> None:
        super().__init__(
            device=device,
            ambient_color=ambient_color,
            diffuse_color=diffuse_color,
            specular_color=specular_color,
            direction=direction,
        )

    def _direction(self, points, batch, packed):
        if packed:
            return property_rows(self.direction, batch).to(points.dtype)
        return view_like(self.direction, points)


class PointLights(_Lights):
    """Light radiating from ``location`` (no fall-off, as in PyTorch3D).

    Args (each ``(3,)`` or ``(N, 3)``, broadcast to a common ``N``):
        ambient_color, diffuse_color, specular_color, location.
    """

    _FIELDS = ("ambient_color", "diffuse_color", "specular_color", "location")

    def __init__(
        self,
        ambient_color=((0.5, 0.5, 0.5),),
        diffuse_color=((0.3, 0.3, 0.3),),
        specular_color=((0.2, 0.2, 0.2),),
        location=((0.0, 1.0, 0.0),),
        device="cpu",
    ) -> None:
        super().__init__(
            device=device,
            ambient_color=ambient_color,
            diffuse_color=diffuse_color,
            specular_color=specular_color,
            location=location,
        )

    def _direction(self, points, batch, packed):
        if packed:
            return property_rows(self.location, batch).to(points.dtype) - points
        return view_like(self.location, points) - points


class AmbientLights(_Lights):
    """The same light everywhere: only ``ambient_color`` ``(C,)`` / ``(N, C)`` (any C).

    Diffuse and specular terms are zero, so with the default white colour a
    shader shows the bare texture colours.
    """

    _FIELDS = ("ambient_color",)
    _WIDTH = None

    def __init__(self, ambient_color=None, device="cpu") -> None:
        if ambient_color is None:
            ambient_color = ((1.0, 1.0, 1.0),)
        super().__init__(device=device, ambient_color=ambient_color)

    def _zeros(self, points: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*points.shape[:-1], self.ambient_color.shape[-1], dtype=points.dtype, device=points.device)

    def diffuse(self, normals, points=None) -> torch.Tensor:
        return self._zeros(points if points is not None else normals)

    def specular(self, normals, points, camera_position, shininess) -> torch.Tensor:
        return self._zeros(points)

    def shade_packed(self, points, normals, batch, camera_position, shininess):
        return None, None  # no diffuse / specular contribution

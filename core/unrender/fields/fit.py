"""Fitting fields: to one image (2D) and to the occupancy of a mesh, surface by marching cubes (3D)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field as dataclass_field

import torch
import torch.nn.functional as F

from .._validate import check_finite, check_meshes, check_positive_int, check_tensor, parse_bounds, parse_real
from ..geometry import marching_cubes_implicit, points_inside_mesh, sample_points_from_meshes
from ..structures import Meshes
from .base import Field

__all__ = [
    "FitResult",
    "procedural_image",
    "image_coordinates",
    "fit_image",
    "occupancy_samples",
    "fit_occupancy",
    "field_surface",
]


@dataclass
class FitResult:
    """What a fit gives: the final ``loss`` (image: MSE of the whole prediction), ``losses`` per step, ``seconds``
    of training (no evaluation), ``prediction`` (image: ``(H, W, C)``), ``psnr`` in dB (image fits)."""

    loss: float
    losses: list[float]
    seconds: float
    prediction: torch.Tensor | None = None
    psnr: float | None = dataclass_field(default=None)


def procedural_image(size: int = 512, *, dtype=torch.float32) -> torch.Tensor:
    """A test picture ``(size, size, 3)`` in ``[0, 1]`` with sharp edges, smooth gradients and fine texture.

    Left to right a colour gradient under a disc and a rotated square (hard
    edges), a chirp of rings whose frequency rises outwards, a fine diagonal
    checkerboard and thin lines: every variant meets what it fits well and
    what it fits badly.
    """
    check_positive_int("size", size, minimum=8)
    t = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    y, x = torch.meshgrid(t, t, indexing="ij")
    img = torch.stack([x, 0.3 + 0.5 * y, 1 - 0.7 * x * y], -1)  # gradients
    disc = ((x - 0.3) ** 2 + (y - 0.32) ** 2) < 0.18**2
    img[disc] = torch.tensor([0.95, 0.8, 0.1], dtype=torch.float64)
    u, v = (x - 0.72) * math.cos(0.5) - (y - 0.3) * math.sin(0.5), (x - 0.72) * math.sin(0.5) + (y - 0.3) * math.cos(0.5)
    square = (u.abs() < 0.13) & (v.abs() < 0.13)
    img[square] = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
    r = ((x - 0.3) ** 2 + (y - 0.75) ** 2).sqrt()
    rings = 0.5 + 0.5 * torch.cos(2 * math.pi * 60 * r**2 / 0.25)
    ring_area = r < 0.22
    img[ring_area] = (rings[ring_area, None] * torch.tensor([0.9, 0.3, 0.3], dtype=torch.float64) + 0.05)
    checks = (torch.floor((x + y) * size / 8) + torch.floor((x - y) * size / 8)) % 2
    check_area = (x > 0.58) & (x < 0.95) & (y > 0.58) & (y < 0.95)
    img[check_area] = 0.15 + 0.7 * checks[check_area, None].expand(-1, 3)
    lines = (torch.remainder(x * size, 24) < 1.5) & (y > 0.5) & (y < 0.98) & (x > 0.02) & (x < 0.55) & ~ring_area
    img[lines] = torch.tensor([0.05, 0.05, 0.05], dtype=torch.float64)
    return img.clamp(0, 1).to(dtype)


def image_coordinates(height: int, width: int, *, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Pixel centres ``(H, W, 2)`` as ``(x, y)`` in ``[-1, 1]``: ``x`` along the width, ``y`` along the height."""
    check_positive_int("height", height)
    check_positive_int("width", width)
    ys = (torch.arange(height, dtype=dtype, device=device) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=dtype, device=device) + 0.5) / width * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], -1)


def _check_field(field, in_dim: int, out_dim: int | None = None, what: str = "") -> Field:
    if not isinstance(field, Field):
        raise ValueError(f"field: expected an unrender.fields.Field, found {type(field).__name__}")
    if field.in_dim != in_dim:
        raise ValueError(f"field: expected in_dim {in_dim}, found {field.in_dim}")
    if out_dim is not None and field.out_dim != out_dim:
        raise ValueError(f"field: expected out_dim {out_dim}{what}, found {field.out_dim}")
    return field


def _train(field: Field, loss_of_batch, count: int, *, steps, batch_size, lr, seed, device) -> tuple[list[float], float]:
    """Adam (instant-ngp's eps 1e-15) for ``steps`` steps on ``loss_of_batch(indices)`` over random batches
    of ``batch_size`` of ``count`` samples (all of them when fewer) -> (loss per step, seconds)."""
    check_positive_int("steps", steps)
    check_positive_int("batch_size", batch_size)
    lr = parse_real("lr", lr)
    gen = torch.Generator(device=device).manual_seed(seed)
    opt = torch.optim.Adam(field.parameters(), lr=lr, eps=1e-15)
    losses = []
    start = time.perf_counter()
    for _ in range(steps):
        idx = slice(None) if batch_size >= count else torch.randint(0, count, (batch_size,), generator=gen, device=device)
        loss = loss_of_batch(idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses, time.perf_counter() - start


def fit_image(
    field: Field,
    image: torch.Tensor,
    *,
    steps: int = 1000,
    batch_size: int = 16384,
    lr: float = 1e-3,
    seed: int = 0,
) -> FitResult:
    """Fit ``field`` (``in_dim`` 2, ``out_dim`` C) to ``image (H, W, C)`` by Adam on MSE over random pixel batches.

    ``batch_size`` pixels per step (all of them when the image has fewer).
    Returns the whole-image prediction, its MSE (``loss``) and PSNR.
    """
    check_tensor("image", image, [None, None, None], floating=True)
    check_finite("image", image)
    H, W, C = image.shape
    _check_field(field, 2, C, " (the image's channels)")
    coords = image_coordinates(H, W, dtype=image.dtype, device=image.device).reshape(-1, 2)
    target = image.reshape(-1, C)
    losses, seconds = _train(
        field, lambda idx: F.mse_loss(field(coords[idx]), target[idx]), H * W,
        steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=image.device,
    )
    with torch.no_grad():
        pred = torch.cat([field(c) for c in coords.split(65536)]).reshape(H, W, C)
    mse = float(F.mse_loss(pred.clamp(0, 1), image))
    return FitResult(mse, losses, seconds, pred, 10 * math.log10(1 / max(mse, 1e-20)))


def occupancy_samples(
    meshes: Meshes,
    count: int,
    *,
    near_fraction: float = 0.5,
    noise: float = 0.02,
    bounds=((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0)),
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points and their inside labels for fitting occupancy to one closed mesh.

    ``near_fraction`` of the ``count`` points are surface samples moved by
    Gaussian noise of std ``noise``, the rest uniform in ``bounds``.
    Returns ``points (count, 3)`` float and ``inside (count,)`` bool
    (generalised winding number, :func:`unrender.geometry.points_inside_mesh`).
    """
    check_meshes("meshes", meshes, non_empty=True, with_faces=True)
    if len(meshes) != 1:
        raise ValueError(f"meshes: expected one mesh, found a batch of {len(meshes)}")
    check_positive_int("count", count)
    near_fraction = parse_real("near_fraction", near_fraction)
    if not 0 <= near_fraction <= 1:
        raise ValueError(f"near_fraction: expected a value in [0, 1], found {near_fraction}")
    box = parse_bounds("bounds", bounds, 1)[0]
    verts = meshes.verts_packed()
    dtype, device = verts.dtype, verts.device
    box = box.to(device, dtype)
    gen = torch.Generator(device=device).manual_seed(seed)
    n_near = int(round(count * near_fraction))
    near = sample_points_from_meshes(meshes, max(n_near, 1), generator=gen)[0][:n_near]
    near = near + noise * torch.randn(near.shape, generator=gen, dtype=dtype, device=device)
    far = box[0] + (box[1] - box[0]) * torch.rand(count - n_near, 3, generator=gen, dtype=dtype, device=device)
    points = torch.cat([near, far])
    return points, points_inside_mesh(meshes, points)


def fit_occupancy(
    field: Field,
    points: torch.Tensor,
    inside: torch.Tensor,
    *,
    steps: int = 1000,
    batch_size: int = 8192,
    lr: float = 1e-3,
    seed: int = 0,
) -> FitResult:
    """Fit ``field`` (3 -> 1, logits of occupancy) to labelled points by Adam on binary cross-entropy.

    ``points (N, 3)`` in the field's box ``[-1, 1]^3``, ``inside (N,)`` bool.
    """
    _check_field(field, 3, 1, " (occupancy logits)")
    check_tensor("points", points, [None, 3], floating=True)
    check_finite("points", points)
    check_tensor("inside", inside, [points.shape[0]])
    target = inside.to(points.dtype)
    losses, seconds = _train(
        field, lambda idx: F.binary_cross_entropy_with_logits(field(points[idx])[:, 0], target[idx]), points.shape[0],
        steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=points.device,
    )
    return FitResult(losses[-1], losses, seconds)


def field_surface(field: Field, resolution: int = 128, *, isovalue: float = 0.0, inside: str = "positive") -> Meshes:
    """Marching cubes on a 3 -> 1 field over ``[-1, 1]^3`` at ``resolution`` samples per axis.

    ``inside="positive"`` for occupancy logits (level 0 = probability 0.5), ``"negative"`` for an SDF.
    """
    _check_field(field, 3, 1)
    p = next(field.parameters(), None)
    dtype = p.dtype if p is not None else torch.float32
    device = p.device if p is not None else torch.device("cpu")
    bounds = torch.tensor([[-1.0] * 3, [1.0] * 3], device=device)
    return marching_cubes_implicit(field, bounds, resolution, isovalue, inside=inside, dtype=dtype, device=device)

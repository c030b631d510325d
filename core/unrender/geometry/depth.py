"""Depth maps to point clouds, and the inverse projection.

Conventions (OpenCV):

* Camera frame: ``+x`` right, ``+y`` down, the camera looks down ``+z``.
* Extrinsics are world-to-camera: ``x_cam = R @ x_world + t`` with ``R (3, 3)``
  and ``t (3,)``. ``R`` is normally a rotation; any invertible matrix is
  accepted (e.g. a camera with object scale).
* Intrinsics ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` in pixels, ``fx, fy > 0``.
  A camera point projects to ``u = (fx * x + s * y) / z + cx``,
  ``v = fy * y / z + cy``.
* Pixel ``(u, v)`` has integer coordinates at pixel *centres*: ``u`` is the
  column, ``v`` the row, so ``depth[v, u]`` is seen along the ray through
  ``(u, v)``. (PyTorch3D's rasterizer and OpenGL put pixel centres at half-integers.)
* ``depth_type="z"``: depth is the camera-frame ``z`` of the point (planar
  depth, as in most rasterizers' depth buffers); ``depth_type="distance"``:
  Euclidean distance from the camera centre along the pixel's ray (ray hit
  distance, as ray tracers report it).
* Pixels whose depth is ``<= 0``, NaN or infinite are treated as empty and skipped.

From Blender: a Blender camera looks down ``-z`` with ``+y`` up, so with
``M = camera.matrix_world.inverted()`` (world-to-camera, ``R_b = M[:3, :3]``,
``t_b = M[:3, 3]``) the OpenCV extrinsics are ``R = diag(1, -1, -1) @ R_b`` and
``t = diag(1, -1, -1) @ t_b``.
"""

from __future__ import annotations

import torch

from .._validate import check_finite, check_tensor
from ..structures import PointClouds

__all__ = ["unproject_depth", "depth_to_points", "project_points"]

_DEPTH_TYPES = ("z", "distance")


# --------------------------------------------------------------------------- checks


def _check_K(K: torch.Tensor) -> None:
    check_tensor("K", K, ["...", 3, 3], floating=True)
    check_finite("K", K)
    last = K[..., 2, :]
    want = torch.tensor([0.0, 0.0, 1.0], dtype=K.dtype, device=K.device)
    if not bool(torch.isclose(last, want.expand_as(last), atol=1e-6).all()):
        found = last.reshape(-1, 3)[0].tolist()
        raise ValueError(f"K: expected OpenCV intrinsics with last row (0, 0, 1), found {found}")
    if bool((K[..., 1, 0].abs() > 1e-6 * K[..., 1, 1].abs()).any()):
        raise ValueError("K: expected K[1, 0] == 0 (upper-triangular OpenCV intrinsics), found a non-zero value")
    fx, fy = K[..., 0, 0], K[..., 1, 1]
    if not bool(((fx > 0) & (fy > 0)).all()):
        i = int(torch.nonzero(~((fx > 0) & (fy > 0)).reshape(-1))[0])
        raise ValueError(
            "K: expected positive focal lengths fx = K[0, 0] and fy = K[1, 1] (a zero focal length is not "
            f"invertible), found fx={float(fx.reshape(-1)[i])}, fy={float(fy.reshape(-1)[i])}"
        )


def _check_R(R: torch.Tensor) -> None:
    check_tensor("R", R, ["...", 3, 3], floating=True)
    check_finite("R", R)
    sv = torch.linalg.svdvals(R.detach().double())
    bad = sv[..., -1] <= 1e-9 * sv[..., 0]
    if bool(bad.any()):
        raise ValueError(
            "R: expected an invertible world-to-camera matrix (normally a rotation), found singular values "
            f"{[round(float(x), 6) for x in sv[bad][0]]}"
        )


def _check_t(t: torch.Tensor) -> None:
    check_tensor("t", t, ["...", 3], floating=True)
    check_finite("t", t)


def _check_depth_type(depth_type) -> None:
    if depth_type not in _DEPTH_TYPES:
        raise ValueError(f"depth_type: expected 'z' or 'distance', found {depth_type!r}")


def _defaults(R, t, like: torch.Tensor):
    if R is None:
        R = torch.eye(3, dtype=like.dtype, device=like.device)
    if t is None:
        t = torch.zeros(3, dtype=like.dtype, device=like.device)
    return R, t


# --------------------------------------------------------------------------- core


def _pixel_rays(u: torch.Tensor, v: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame rays ``K^-1 (u, v, 1)`` with ``z = 1``: ``(N, 3)``."""
    fx, fy, s, cx, cy = K[0, 0], K[1, 1], K[0, 1], K[0, 2], K[1, 2]
    y = (v - cy) / fy
    x = (u - cx - s * y) / fx
    return torch.stack([x, y, torch.ones_like(x)], -1)


def unproject_depth(
    depth: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
    depth_type: str = "z",
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lift the valid pixels of one depth map to world-space points.

    Args:
        depth: ``(H, W)`` float; ``<= 0`` or non-finite means "no surface".
        K: ``(3, 3)`` OpenCV intrinsics.
        R: ``(3, 3)`` world-to-camera rotation (default identity: camera frame).
        t: ``(3,)`` world-to-camera translation (default zero).
        depth_type: ``"z"`` (camera-frame z) or ``"distance"`` (along the ray).
        mask: optional ``(H, W)`` bool; only ``True`` pixels are used.
    Returns:
        points: ``(N, 3)`` world coordinates in row-major pixel order (dtype: the
            promoted dtype of ``depth``, ``K`` and ``R``).
        pixel_index: ``(N, 2)`` int64 ``(row v, column u)`` of each point, so
            ``depth[pixel_index[:, 0], pixel_index[:, 1]]`` are their depths.
    Differentiable with respect to ``depth``, ``K``, ``R`` and ``t``.
    """
    check_tensor("depth", depth, [None, None], floating=True)
    _check_K(K)
    check_tensor("K", K, [3, 3])
    R, t = _defaults(R, t, depth)
    _check_R(R)
    check_tensor("R", R, [3, 3])
    _check_t(t)
    check_tensor("t", t, [3])
    _check_depth_type(depth_type)
    valid = torch.isfinite(depth) & (depth > 0)
    if mask is not None:
        check_tensor("mask", mask, list(depth.shape))
        if mask.dtype != torch.bool:
            raise ValueError(f"mask: expected a bool tensor, found dtype {mask.dtype}")
        valid = valid & mask.to(valid.device)
    pixel_index = torch.nonzero(valid)  # (N, 2) rows, columns; row-major order
    d = depth[valid]
    dtype = torch.promote_types(depth.dtype, torch.promote_types(K.dtype, R.dtype))
    v, u = pixel_index.to(dtype).unbind(-1)
    rays = _pixel_rays(u, v, K.to(dtype))
    if depth_type == "distance":
        rays = rays / rays.norm(dim=-1, keepdim=True)
    cam = rays * d.to(dtype)[:, None]
    # x_world = R^-1 (x_cam - t); solve once for the 3x3 inverse.
    R_inv = torch.linalg.inv(R.to(dtype))
    points = (cam - t.to(dtype)) @ R_inv.transpose(-1, -2)
    return points, pixel_index


def _per_batch(name: str, x, B: int, shape: list[int]):
    """Return a list of ``B`` tensors from ``x`` of ``shape`` or ``(B, *shape)``."""
    if x is None:
        return [None] * B
    if isinstance(x, torch.Tensor) and x.dim() == len(shape):
        check_tensor(name, x, shape)
        return [x] * B
    check_tensor(name, x, [B, *shape])
    return list(x.unbind(0))


def depth_to_points(
    depth: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
    image: torch.Tensor | None = None,
    depth_type: str = "z",
    mask: torch.Tensor | None = None,
) -> PointClouds:
    """Depth maps (and optional colours) to a batch of world-space point clouds.

    Args:
        depth: ``(H, W)`` or ``(B, H, W)`` float; ``<= 0`` / non-finite pixels
            are skipped.
        K: ``(3, 3)`` or ``(B, 3, 3)`` OpenCV intrinsics (see module docs).
        R: ``(3, 3)`` or ``(B, 3, 3)`` world-to-camera (default identity).
        t: ``(3,)`` or ``(B, 3)`` world-to-camera translation (default zero).
        image: optional ``(H, W, C)`` / ``(B, H, W, C)`` colours (``(H, W)``
            grey also accepted); float as is, ``uint8`` scaled to ``[0, 1]``.
        depth_type: ``"z"`` or ``"distance"``.
        mask: optional ``(H, W)`` / ``(B, H, W)`` bool.
    Returns:
        ``PointClouds`` with ``B`` clouds (1 for a single depth map); features
        are the colours of the unprojected pixels when ``image`` is given.
    """
    check_tensor("depth", depth, None, floating=True)
    if depth.dim() not in (2, 3):
        raise ValueError(f"depth: expected shape (H, W) or (B, H, W), found shape {tuple(depth.shape)}")
    batched = depth.dim() == 3
    depths = list(depth.unbind(0)) if batched else [depth]
    B, (H, W) = len(depths), depth.shape[-2:]
    if not batched:
        for name, x, nd in (("K", K, 2), ("R", R, 2), ("t", t, 1), ("mask", mask, 2)):
            if isinstance(x, torch.Tensor) and x.dim() != nd:
                raise ValueError(
                    f"{name}: expected {nd} dims for a single (H, W) depth map, found shape {tuple(x.shape)}"
                )
    Ks = _per_batch("K", K, B, [3, 3])
    Rs = _per_batch("R", R, B, [3, 3])
    ts = _per_batch("t", t, B, [3])
    masks = _per_batch("mask", mask, B, [H, W])
    colours = None
    if image is not None:
        check_tensor("image", image, None)
        img = image
        if img.dim() == (3 if batched else 2):
            img = img[..., None]
        check_tensor("image", img, [B, H, W, None] if batched else [H, W, None])
        if img.dtype == torch.uint8:
            img = img.to(depth.dtype) / 255.0
        elif not img.is_floating_point():
            raise ValueError(f"image: expected a float or uint8 tensor, found dtype {img.dtype}")
        colours = list(img.unbind(0)) if batched else [img]
    points, features = [], []
    for b in range(B):
        pts, idx = unproject_depth(depths[b], Ks[b], Rs[b], ts[b], depth_type, masks[b])
        points.append(pts)
        if colours is not None:
            features.append(colours[b].to(pts.device)[idx[:, 0], idx[:, 1]])
    return PointClouds(points, features=features if colours is not None else None)


def project_points(
    points: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points to pixels, the inverse of :func:`unproject_depth`.

    Args:
        points: ``(N, 3)`` or ``(B, N, 3)`` world coordinates.
        K: ``(3, 3)`` or ``(B, 3, 3)`` OpenCV intrinsics.
        R: ``(3, 3)`` or ``(B, 3, 3)`` world-to-camera (default identity).
        t: ``(3,)`` or ``(B, 3)`` (default zero).
    Returns:
        uv: ``(..., N, 2)`` pixel coordinates ``(u = column, v = row)``, centres
            at integers. Points with ``z <= 0`` are behind the camera: their
            ``uv`` is meaningless (inf at ``z == 0``), filter them with ``z``.
        z: ``(..., N)`` camera-frame depth.
    """
    check_tensor("points", points, ["...", None, 3], floating=True)
    if points.dim() not in (2, 3):
        raise ValueError(f"points: expected shape (N, 3) or (B, N, 3), found shape {tuple(points.shape)}")
    _check_K(K)
    R, t = _defaults(R, t, points)
    _check_R(R)
    _check_t(t)
    lead = points.shape[:-2]
    for name, x, nd in (("K", K, 2), ("R", R, 2), ("t", t, 1)):
        if x.dim() not in (nd, nd + len(lead)) or (x.dim() > nd and x.shape[: len(lead)] != lead):
            raise ValueError(
                f"{name}: expected batch shape {tuple(lead)} or none to match points of shape "
                f"{tuple(points.shape)}, found shape {tuple(x.shape)}"
            )
    cam = points @ R.transpose(-1, -2) + t[..., None, :]
    x, y, z = cam.unbind(-1)
    fx, fy, s = K[..., 0, 0, None], K[..., 1, 1, None], K[..., 0, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    u = (fx * x + s * y) / z + cx
    v = fy * y / z + cy
    return torch.stack([u, v], -1), z

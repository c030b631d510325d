"""Chamfer distance between batched point clouds (PyTorch3D-compatible)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_finite, check_lengths, check_same_batch, check_tensor
from ..ops.knn import check_chunk_bytes, knn_indices, point_distances

__all__ = ["chamfer_distance"]

_BATCH_REDUCTIONS = ("mean", "sum", None)
_POINT_REDUCTIONS = ("mean", "sum", "max", None)


def chamfer_distance(
    x,
    y,
    x_lengths: torch.Tensor | None = None,
    y_lengths: torch.Tensor | None = None,
    x_normals: torch.Tensor | None = None,
    y_normals: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    batch_reduction: str | None = "mean",
    point_reduction: str | None = "mean",
    norm: int = 2,
    single_directional: bool = False,
    abs_cosine: bool = True,
    *,
    chunk_bytes: int | None = None,
):
    """Chamfer distance between clouds ``x`` and ``y``, with the contract of
    ``pytorch3d.loss.chamfer_distance``.

    For each point of ``x`` the distance to its nearest point in ``y``
    (squared Euclidean for ``norm=2``, L1 for ``norm=1``) and, unless
    ``single_directional``, the same from ``y`` to ``x``; the two directions
    are added (``point_reduction="max"``: their maximum, the Hausdorff
    distance).

    Args:
        x: ``(N, P1, D)`` float tensor or a point-cloud batch (unrender
            ``PointClouds`` or anything with ``points_padded()``,
            ``num_points_per_cloud()`` and ``normals_padded()``, such as
            PyTorch3D's ``Pointclouds``; its lengths and normals are used).
        y: ``(N, P2, D)`` float tensor or a point-cloud batch.
        x_lengths: ``(N,)`` int64, valid points per cloud of ``x``.
        y_lengths: ``(N,)`` int64, valid points per cloud of ``y``.
        x_normals: ``(N, P1, D)`` normals of ``x``; with ``y_normals`` the
            normal loss ``1 - |cos|`` (or ``1 - cos``) to the nearest point's
            normal is returned too.
        y_normals: ``(N, P2, D)`` normals of ``y``.
        weights: ``(N,)`` non-negative per-cloud weights.
        batch_reduction: ``"mean"`` (weighted by ``weights`` if given),
            ``"sum"`` or ``None``.
        point_reduction: ``"mean"``, ``"sum"``, ``"max"`` or ``None``
            (``None`` needs ``batch_reduction=None``).
        norm: 2 or 1.
        single_directional: only ``x -> y``.
        abs_cosine: ignore normal orientation.
        chunk_bytes: largest score tile of the neighbour search (memory bound).

    Returns:
        ``(loss, loss_normals)``. Reduced: scalars (``batch_reduction``) or
        ``(N,)``. With ``point_reduction=None``: per-point terms, a pair
        ``((N, P1), (N, P2))`` or, if ``single_directional``, one ``(N, P1)``.
        ``loss_normals`` is ``None`` without normals.

    Numbers and gradients match PyTorch3D 0.7.9 to float rounding. One
    difference: when every weight is zero PyTorch3D returns an ``(N, N)``
    zero tensor (and a zero normal loss even without normals); this returns
    zeros of the regular shape, still attached to the graph.
    """
    if batch_reduction not in _BATCH_REDUCTIONS:
        raise ValueError(f"batch_reduction: expected 'mean', 'sum' or None, found {batch_reduction!r}")
    if point_reduction not in _POINT_REDUCTIONS:
        raise ValueError(f"point_reduction: expected 'mean', 'sum', 'max' or None, found {point_reduction!r}")
    if point_reduction is None and batch_reduction is not None:
        raise ValueError(f"batch_reduction: expected None when point_reduction is None, found {batch_reduction!r}")
    if norm not in (1, 2) or isinstance(norm, bool):
        raise ValueError(f"norm: expected 1 or 2, found {norm!r}")
    if point_reduction == "max" and (x_normals is not None or y_normals is not None):
        raise ValueError("x_normals/y_normals: expected None with point_reduction='max', found normals")
    chunk = check_chunk_bytes(chunk_bytes)

    x, x_lengths, x_normals = _cloud_input("x", x, x_lengths, x_normals)
    y, y_lengths, y_normals = _cloud_input("y", y, y_lengths, y_normals)
    N, P1, D = x.shape
    check_same_batch("y", y, "x", x)
    if weights is not None:
        check_tensor("weights", weights, floating=True)
        if weights.dim() != 1 or weights.shape[0] != N:
            raise ValueError(f"weights: expected shape ({N},), found {tuple(weights.shape)}")
        check_finite("weights", weights)
        if bool((weights < 0).any()):
            raise ValueError("weights: expected non-negative values, found negative weights")
        if float(weights.detach().sum()) == 0.0:
            return _zero_result(x, y, x_normals, y_normals, batch_reduction, point_reduction, single_directional)

    with_normals = x_normals is not None and y_normals is not None
    with torch.no_grad():
        xd, yd = x.detach(), y.detach()
        if xd.dtype not in (torch.float32, torch.float64):
            xd, yd = xd.float(), yd.float()
        if single_directional:
            idx_x, idx_y = knn_indices(xd, yd, x_lengths, y_lengths, 1, norm, chunk)[..., 0], None  # (N, P1)
        else:
            idx_x, idx_y = (i[..., 0] for i in knn_indices(xd, yd, x_lengths, y_lengths, 1, norm, chunk, both=True))

    cham_x, nrm_x = _one_direction(
        x, y, idx_x, x_lengths, y_lengths, x_normals, y_normals, weights, norm, abs_cosine, with_normals, point_reduction
    )
    if single_directional:
        loss, loss_n = cham_x, nrm_x
    else:
        cham_y, nrm_y = _one_direction(
            y, x, idx_y, y_lengths, x_lengths, y_normals, x_normals, weights, norm, abs_cosine, with_normals, point_reduction
        )
        if point_reduction == "max":
            loss, loss_n = torch.maximum(cham_x, cham_y), None
        elif point_reduction is None:
            loss = (cham_x, cham_y)
            loss_n = (nrm_x, nrm_y) if with_normals else None
        else:
            loss = cham_x + cham_y
            loss_n = nrm_x + nrm_y if with_normals else None
    return _batch_reduce(loss, loss_n, weights, batch_reduction, N)


def _cloud_input(name: str, pts, lengths, normals):
    """``(points (N, P, D), lengths (N,), normals or None)`` from a tensor or a cloud batch."""
    if hasattr(pts, "points_padded") and hasattr(pts, "num_points_per_cloud"):
        if len(pts) == 0:
            raise ValueError(f"{name}: expected at least one cloud, found an empty batch")
        lengths = pts.num_points_per_cloud()
        normals = pts.normals_padded() if hasattr(pts, "normals_padded") else None
        pts = pts.points_padded()
    elif isinstance(pts, torch.Tensor):
        check_tensor(name, pts, [None, None, None], floating=True)
    else:
        raise ValueError(
            f"{name}: expected a (N, P, D) float tensor or a PointClouds batch, found {type(pts).__name__}"
        )
    N, P, D = pts.shape
    if N == 0:
        raise ValueError(f"{name}: expected at least one cloud, found batch size 0")
    if P == 0:
        raise ValueError(f"{name}: expected at least one point, found empty clouds (P = 0)")
    check_finite(name, pts)
    lengths = check_lengths(f"{name}_lengths", lengths, N, P, pts.device)
    if normals is not None:
        check_tensor(f"{name}_normals", normals, [N, P, D], floating=True)
        check_finite(f"{name}_normals", normals)
    return pts, lengths, normals


def _one_direction(x, y, idx, xl, yl, xn, yn, weights, norm, abs_cosine, with_normals, point_reduction):
    """Per-point terms of ``x -> y`` (padding zeroed, weighted), then point reduction."""
    N, P1, D = x.shape
    gidx = idx[..., None].expand(N, P1, D)
    d = point_distances(x, y.gather(1, gidx), norm)  # exact, differentiable: (N, P1)
    pad = None
    if int(xl.min()) < P1:
        pad = torch.arange(P1, device=x.device)[None, :] >= xl[:, None]
    # A point whose target cloud is empty has no neighbour: PyTorch3D scores
    # its distance 0 and its normal term 1 (cosine with a zero normal).
    empty = yl == 0
    any_empty = bool(empty.any())
    if any_empty:
        d = d.masked_fill(empty[:, None], 0.0)
    if pad is not None:
        d = d.masked_fill(pad, 0.0)
    if weights is not None:
        d = d * weights.view(N, 1)
    cn = None
    if with_normals:
        near = yn.gather(1, gidx)
        if any_empty:
            near = near.masked_fill(empty[:, None, None], 0.0)
        cos = F.cosine_similarity(xn, near, dim=2, eps=1e-6)
        cn = 1 - (cos.abs() if abs_cosine else cos)
        if pad is not None:
            cn = cn.masked_fill(pad, 0.0)
        if weights is not None:
            cn = cn * weights.view(N, 1)
    if point_reduction == "max":
        return d.max(1).values, None
    if point_reduction is None:
        return d, cn
    d = d.sum(1)
    cn = cn.sum(1) if cn is not None else None
    if point_reduction == "mean":
        div = xl.clamp_min(1).to(d.dtype)
        d = d / div
        cn = cn / div if cn is not None else None
    return d, cn


def _batch_reduce(loss, loss_n, weights, batch_reduction, N):
    if batch_reduction is None:
        return loss, loss_n
    loss = loss.sum()
    loss_n = loss_n.sum() if loss_n is not None else None
    if batch_reduction == "mean":
        div = weights.sum() if weights is not None else max(N, 1)
        loss = loss / div
        loss_n = loss_n / div if loss_n is not None else None
    return loss, loss_n


def _zero_result(x, y, xn, yn, batch_reduction, point_reduction, single_directional):
    """All-zero-weight result: zeros connected to ``x`` and ``y`` for backward."""
    zero_x = x.sum((1, 2)) * 0.0  # (N,)
    zero_y = y.sum((1, 2)) * 0.0
    with_normals = xn is not None and yn is not None
    if point_reduction is None:
        px = zero_x[:, None].expand(-1, x.shape[1])
        py = zero_y[:, None].expand(-1, y.shape[1])
        if single_directional:
            return px, (px if with_normals else None)
        return (px, py), ((px, py) if with_normals else None)
    loss = zero_x if single_directional else zero_x + zero_y
    loss_n = loss if with_normals else None
    if batch_reduction is None:
        return loss, loss_n
    return loss.sum(), (loss_n.sum() if loss_n is not None else None)

"""Occupancy-grid losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._validate import check_finite, check_tensor

__all__ = ["voxel_bce"]


def voxel_bce(
    logits: torch.Tensor,
    target: torch.Tensor,
    pos_weight: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Binary cross-entropy between predicted occupancy logits and a target grid.

    Occupied cells are rare in most grids, so by default positives are weighted
    by ``pos_weight = 0.5 / mean(target)`` (computed per batch element), which
    balances the total weight of occupied and empty cells.

    Args:
        logits: ``(B, D, H, W)`` or ``(D, H, W)`` raw scores (before sigmoid).
        target: same shape, occupancy in ``[0, 1]``.
        pos_weight: override the automatic weight (a float or ``(B,)`` tensor).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
    Returns:
        A scalar, or the per-cell loss for ``reduction="none"``.
    """
    check_tensor("logits", logits, floating=True)
    check_tensor("target", target)
    if logits.shape != target.shape:
        raise ValueError(f"target: expected the shape of logits {tuple(logits.shape)}, found {tuple(target.shape)}")
    if logits.dim() not in (3, 4):
        raise ValueError(f"logits: expected shape (B, D, H, W) or (D, H, W), found {tuple(logits.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', found {reduction!r}")
    check_finite("logits", logits)
    target = target.to(logits.dtype)
    if bool(((target < 0) | (target > 1)).any()):
        raise ValueError("target: expected occupancy values in [0, 1], found values outside")
    squeeze = logits.dim() == 3
    if squeeze:
        logits, target = logits[None], target[None]
    B = logits.shape[0]
    if pos_weight is None:
        occ = target.reshape(B, -1).mean(1)
        pw = 0.5 / occ.clamp_min(1e-6)
    else:
        pw = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device).reshape(-1).expand(B)
    loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw.view(B, 1, 1, 1), reduction="none")
    if squeeze:
        loss = loss[0]
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss

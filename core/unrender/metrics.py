"""Evaluation metrics: volumetric and silhouette IoU, precision / recall / F1 at a distance, PSNR, SSIM,
Procrustes-aligned joint error."""

from __future__ import annotations

from typing import Sequence

import torch

from ._validate import check_points, check_tensor

__all__ = ["voxel_iou", "silhouette_iou", "point_f1", "mesh_f1", "psnr", "ssim", "procrustes_align", "aligned_joint_error"]


def voxel_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of two occupancy grids.

    Args:
        pred, target: ``(B, D, H, W)`` or ``(D, H, W)``; cells with value
            ``> threshold`` count as occupied (booleans are used as they are).
    Returns:
        ``(B,)`` IoU per grid (a 0-dim tensor for unbatched input). Two empty
        grids have IoU 1.
    """
    return _mask_iou(pred, target, threshold, 3, "(B, D, H, W) or (D, H, W)")


def silhouette_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of two silhouettes (masks or alpha channels).

    Args:
        pred, target: ``(B, H, W)`` or ``(H, W)``; pixels with value
            ``> threshold`` are inside (booleans are used as they are).
    Returns:
        ``(B,)`` IoU per image (a 0-dim tensor for unbatched input). Two empty
        silhouettes have IoU 1.
    """
    return _mask_iou(pred, target, threshold, 2, "(B, H, W) or (H, W)")


def _mask_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float, spatial: int, shapes: str) -> torch.Tensor:
    """IoU over the last ``spatial`` dims of two masks (one optional batch dim in front); see :func:`voxel_iou`."""
    check_tensor("pred", pred)
    check_tensor("target", target)
    if pred.shape != target.shape:
        raise ValueError(f"target: expected the shape of pred {tuple(pred.shape)}, found {tuple(target.shape)}")
    if pred.dim() not in (spatial, spatial + 1):
        raise ValueError(f"pred: expected shape {shapes}, found {tuple(pred.shape)}")
    a = pred if pred.dtype == torch.bool else pred > threshold
    b = target if target.dtype == torch.bool else target > threshold
    dims = tuple(range(-spatial, 0))
    inter = (a & b).sum(dims).double()
    union = (a | b).sum(dims).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).float()


def point_f1(
    pred: torch.Tensor,
    target: torch.Tensor,
    thresholds: float | Sequence[float] = (0.01, 0.02, 0.05),
) -> dict[str, torch.Tensor]:
    """Precision, recall and F-score at distance thresholds (Tatarchenko et al. 2019).

    Precision at ``t`` is the fraction of predicted points within ``t`` of the
    target; recall is the fraction of target points within ``t`` of the
    prediction; ``F1 = 2 P R / (P + R)``.

    Args:
        pred: ``(B, P, 3)`` or ``(P, 3)`` predicted points.
        target: ``(B, Q, 3)`` or ``(Q, 3)`` reference points.
        thresholds: one distance or several.
    Returns:
        dict with keys ``"precision@t"``, ``"recall@t"``, ``"f1@t"`` for each
        ``t``, each a ``(B,)`` tensor (0-dim for unbatched input).
    """
    from .ops.knn import knn_points

    check_points("pred", pred, allow_empty=False)
    check_points("target", target, allow_empty=False)
    unbatched = pred.dim() == 2
    if unbatched != (target.dim() == 2):
        raise ValueError(f"target: expected {'(Q, 3)' if unbatched else '(B, Q, 3)'} like pred, found {tuple(target.shape)}")
    if unbatched:
        pred, target = pred[None], target[None]
    if pred.shape[0] != target.shape[0]:
        raise ValueError(f"target: expected batch size {pred.shape[0]}, found {target.shape[0]}")
    ts = [float(thresholds)] if isinstance(thresholds, (int, float)) else [float(t) for t in thresholds]
    if not ts or any(t <= 0 for t in ts):
        raise ValueError(f"thresholds: expected positive distances, found {ts}")
    with torch.no_grad():
        d_pred = knn_points(pred, target, K=1).dists[..., 0].sqrt()  # (B, P)
        d_tgt = knn_points(target, pred, K=1).dists[..., 0].sqrt()  # (B, Q)
    out: dict[str, torch.Tensor] = {}
    for t in ts:
        p = (d_pred <= t).float().mean(1)
        r = (d_tgt <= t).float().mean(1)
        f = torch.where(p + r > 0, 2 * p * r / (p + r).clamp_min(1e-12), torch.zeros_like(p))
        for name, val in (("precision", p), ("recall", r), ("f1", f)):
            out[f"{name}@{t:g}"] = val[0] if unbatched else val
    return out


def mesh_f1(pred_meshes, target_meshes, thresholds=(0.01, 0.02, 0.05), num_samples: int = 100_000, seed: int = 0):
    """F-score between two mesh batches measured on ``num_samples`` area-uniform samples each.

    Returns the dict of :func:`point_f1`.
    """
    from .geometry.sampling import sample_points_from_meshes

    g = torch.Generator(device=pred_meshes.device).manual_seed(seed)
    with torch.no_grad():
        a = sample_points_from_meshes(pred_meshes, num_samples, generator=g)
        b = sample_points_from_meshes(target_meshes, num_samples, generator=g)
    return point_f1(a, b, thresholds)


def _check_image_pair(image, reference) -> None:
    check_tensor("image", image, floating=True)
    check_tensor("reference", reference, floating=True)
    if image.shape != reference.shape:
        raise ValueError(f"reference: expected the shape of image {tuple(image.shape)}, found {tuple(reference.shape)}")


def _check_peak(max_val) -> None:
    if not max_val > 0:
        raise ValueError(f"max_val: expected a positive peak value, found {max_val}")


def psnr(image: torch.Tensor, reference: torch.Tensor, max_val: float = 1.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(max_val^2 / MSE)``.

    Args:
        image, reference: ``(B, H, W, C)``, ``(H, W, C)`` or ``(H, W)``.
        mask: optional boolean ``(B, H, W)`` / ``(H, W)``; only these pixels count.
    Returns:
        ``(B,)`` for batched input, else a 0-dim tensor; ``inf`` for identical images.
    """
    _check_image_pair(image, reference)
    _check_peak(max_val)
    batched = image.dim() == 4
    if image.dim() == 2:
        image, reference = image[..., None], reference[..., None]
    if not batched:
        image, reference = image[None], reference[None]
        mask = None if mask is None else mask[None]
    err = (image.double() - reference.double()) ** 2
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        if mask.shape != image.shape[:3]:
            raise ValueError(f"mask: expected shape {tuple(image.shape[:3])}, found {tuple(mask.shape)}")
        m = mask.to(err.dtype)[..., None].expand_as(err)
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    out = (10 * torch.log10(max_val**2 / mse)).float()
    return out if batched else out[0]


def ssim(image: torch.Tensor, reference: torch.Tensor, max_val: float = 1.0, window: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004): Gaussian window ``window`` x ``window`` of ``sigma``,
    ``C1 = (0.01 max_val)^2``, ``C2 = (0.03 max_val)^2``, the SSIM map over every window that fits inside
    the image (no padding), averaged over positions and channels: the definition behind scikit-image's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=max_val)``
    (tested against a direct per-pixel formula; neither scikit-image nor torchmetrics is a dependency).

    Args:
        image, reference: ``(B, H, W, C)``, ``(H, W, C)`` or ``(H, W)`` with ``H, W >= window``.
    Returns:
        ``(B,)`` for batched input, else a 0-dim tensor; 1 for identical images.
    """
    _check_image_pair(image, reference)
    if image.dim() not in (2, 3, 4):
        raise ValueError(f"image: expected (B, H, W, C), (H, W, C) or (H, W), found shape {tuple(image.shape)}")
    _check_peak(max_val)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window: expected an odd positive int, found {window!r}")
    batched = image.dim() == 4
    if image.dim() == 2:
        image, reference = image[..., None], reference[..., None]
    if not batched:
        image, reference = image[None], reference[None]
    B, H, W, C = image.shape
    if min(H, W) < window:
        raise ValueError(f"image: expected H and W of at least the window {window}, found {(H, W)}")
    x = image.double().permute(0, 3, 1, 2).reshape(B * C, 1, H, W)
    y = reference.double().permute(0, 3, 1, 2).reshape(B * C, 1, H, W)
    r = torch.arange(window, dtype=torch.float64, device=x.device) - (window - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()

    def blur(t):  # separable Gaussian, valid positions only
        return torch.nn.functional.conv2d(torch.nn.functional.conv2d(t, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    out = s.reshape(B, -1).mean(1).float()
    return out if batched else out[0]


def procrustes_align(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """``X (B, N, 3)`` moved onto ``Y (B, N, 3)`` by the similarity (rotation, uniform scale,
    translation; no reflection) that minimises the summed squared distances (Umeyama)."""
    check_tensor("X", X, (None, None, 3), floating=True)
    check_tensor("Y", Y, tuple(X.shape), floating=True)
    mx, my = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    X0, Y0 = X - mx, Y - my
    U, S, Vt = torch.linalg.svd(X0.transpose(1, 2) @ Y0)
    d = torch.sign(torch.linalg.det(U @ Vt))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], 1))
    s = (S * torch.diagonal(D, dim1=1, dim2=2)).sum(1) / (X0**2).sum((1, 2)).clamp_min(1e-30)
    return s[:, None, None] * X0 @ (U @ D @ Vt) + my


def aligned_joint_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` distances of predicted joints ``(B, N, 3)`` to the true ones after
    :func:`procrustes_align` (the per-joint terms of PA-MPJPE), in the input's units."""
    return (procrustes_align(pred, target) - target).norm(dim=-1)

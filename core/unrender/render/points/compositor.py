"""Point compositors: how the K points of a pixel blend into its features (PyTorch3D's
``pytorch3d.renderer.compositing`` and ``points.compositor``)."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = [
    "alpha_composite",
    "norm_weighted_sum",
    "weighted_sum",
    "AlphaCompositor",
    "NormWeightedCompositor",
    "WeightedSumCompositor",
    "make_compositor",
]


def _rows(pointsidx: torch.Tensor, alphas: torch.Tensor, features: torch.Tensor):
    """Pixels with a point, as rows: idx/alpha ``(R, K)``, row ids, shape."""
    if pointsidx.dim() != 4:
        raise ValueError(f"pointsidx: expected shape (N, K, H, W), found {tuple(pointsidx.shape)}")
    if alphas.shape != pointsidx.shape:
        raise ValueError(f"alphas: expected shape {tuple(pointsidx.shape)} (that of pointsidx), found {tuple(alphas.shape)}")
    if features.dim() != 2:
        raise ValueError(f"features: expected shape (C, P), found {tuple(features.shape)}")
    N, K, H, W = pointsidx.shape
    idx = pointsidx.permute(0, 2, 3, 1).reshape(-1, K)
    a = alphas.permute(0, 2, 3, 1).reshape(-1, K)
    rows = torch.nonzero((idx >= 0).any(1)).squeeze(1)
    return idx[rows].long(), a[rows], rows, (N, K, H, W)


def _scatter_rows(vals: torch.Tensor, rows: torch.Tensor, shape) -> torch.Tensor:
    N, K, H, W = shape
    C = vals.shape[-1]
    out = torch.zeros(N * H * W, C, dtype=vals.dtype, device=vals.device).index_put((rows,), vals)
    return out.reshape(N, H, W, C).permute(0, 3, 1, 2)


def _composite(pointsidx, alphas, features, mode: str) -> torch.Tensor:
    idx, a, rows, shape = _rows(pointsidx, alphas, features)
    valid = idx >= 0
    a = a * valid
    if mode == "alpha":  # front to back: a_k * prod_{t<k} (1 - a_t)
        trans = torch.cumprod(1 - a, dim=1)
        a = a * torch.cat([torch.ones_like(trans[:, :1]), trans[:, :-1]], 1)
    elif mode == "norm":
        a = a / a.sum(1, keepdim=True).clamp(min=1e-4)
    f = features.t()[idx.clamp(min=0)]  # (R, K, C)
    return _scatter_rows((a[..., None].to(f.dtype) * f).sum(1), rows, shape)


def alpha_composite(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """Front-to-back alpha compositing.

    Args:
        pointsidx: ``(N, K, H, W)`` packed point per slot, nearest first, ``-1`` none.
        alphas: ``(N, K, H, W)`` opacity per slot in [0, 1].
        pt_clds: ``(C, P)`` packed point features.

    Returns:
        ``(N, C, H, W)``: ``sum_k a_k prod_{t<k} (1 - a_t) f_k``; 0 where no point.
    """
    return _composite(pointsidx, alphas, pt_clds, "alpha")


def norm_weighted_sum(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """``sum_k a_k f_k / max(sum_k a_k, 1e-4)``, shapes as ``alpha_composite``."""
    return _composite(pointsidx, alphas, pt_clds, "norm")


def weighted_sum(pointsidx: torch.Tensor, alphas: torch.Tensor, pt_clds: torch.Tensor) -> torch.Tensor:
    """``sum_k a_k f_k`` (no normalisation), shapes as ``alpha_composite``."""
    return _composite(pointsidx, alphas, pt_clds, "sum")


def _add_background(pointsidx, images, background_color) -> torch.Tensor:
    """Uncovered pixels (``pointsidx[:, 0] < 0``) -> ``background_color`` (``C`` or ``C - 1`` values + alpha 1)."""
    bg = background_color
    bg = bg.to(images) if isinstance(bg, torch.Tensor) else torch.as_tensor(bg, dtype=images.dtype, device=images.device)
    if bg.dim() == 0:
        bg = bg.expand(images.shape[1])
    if bg.dim() == 1 and bg.shape[0] + 1 == images.shape[1]:
        bg = torch.cat([bg, bg.new_ones(1)])
    if bg.dim() != 1 or bg.shape[0] != images.shape[1]:
        raise ValueError(
            f"background_color: expected {images.shape[1]} or {images.shape[1] - 1} values (image channels), found shape {tuple(bg.shape)}"
        )
    empty = (pointsidx[:, 0] < 0)[:, None]
    return torch.where(empty, bg[None, :, None, None], images)


class _Compositor(nn.Module):
    _fn = None

    def __init__(self, background_color=None) -> None:
        super().__init__()
        self.background_color = background_color

    def forward(self, fragments, alphas, ptclds, **kwargs) -> torch.Tensor:
        """``fragments``: ``(N, K, H, W)`` point indices; returns ``(N, C, H, W)``."""
        images = type(self)._fn(fragments, alphas, ptclds)
        bg = kwargs.get("background_color", self.background_color)
        return images if bg is None else _add_background(fragments, images, bg)


class AlphaCompositor(_Compositor):
    """Front-to-back alpha compositing (``alpha_composite``), optional background."""

    _fn = staticmethod(alpha_composite)


class NormWeightedCompositor(_Compositor):
    """Normalised weighted sum (``norm_weighted_sum``), optional background."""

    _fn = staticmethod(norm_weighted_sum)


class WeightedSumCompositor(_Compositor):
    """Plain weighted sum (``weighted_sum``), optional background."""

    _fn = staticmethod(weighted_sum)


_COMPOSITORS = {
    "alpha": AlphaCompositor,
    "norm_weighted": NormWeightedCompositor,
    "weighted_sum": WeightedSumCompositor,
}


def make_compositor(compositor, background_color=None) -> nn.Module:
    """A compositor module, or one named ``"alpha"``, ``"norm_weighted"`` or ``"weighted_sum"``."""
    if isinstance(compositor, str):
        if compositor not in _COMPOSITORS:
            raise ValueError(f"compositor: expected one of {sorted(_COMPOSITORS)} or a compositor module, found {compositor!r}")
        return _COMPOSITORS[compositor](background_color)
    if isinstance(compositor, nn.Module) or callable(compositor):
        return compositor
    raise ValueError(f"compositor: expected a compositor module or a name in {sorted(_COMPOSITORS)}, found {type(compositor).__name__}")

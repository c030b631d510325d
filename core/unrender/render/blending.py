"""Blending the per-face colours of each pixel into an RGBA image.

Three rules, with PyTorch3D's numerics (``pytorch3d.renderer.blending``):

* hard: the nearest face's colour, alpha 1 where a face covers the pixel;
* sigmoid (silhouette): alpha ``1 - prod_k (1 - sigmoid(-d_k / sigma))``;
* softmax (SoftRas): colours weighted by ``sigmoid(-d_k / sigma) *
  exp(z_k / gamma)`` with normalised inverse depth ``z_k`` and a background
  term, alpha as in the sigmoid rule.

The functions taking dense ``(N, H, W, K, C)`` colours are PyTorch3D
compatible; the shaders use the ``*_packed`` forms, which take colours only
for the covered (pixel, face) slots and touch only pixels with a face.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence, Union

import torch

__all__ = [
    "BlendParams",
    "Slots",
    "select_slots",
    "hard_rgb_blend",
    "sigmoid_alpha_blend",
    "softmax_rgb_blend",
    "background_tensor",
    "hard_blend_packed",
    "silhouette_alpha",
    "softmax_blend_packed",
]


class BlendParams(NamedTuple):
    """Blending parameters (defaults as PyTorch3D).

    sigma: width of the sigmoid turning a pixel-to-face distance into a
        coverage probability (> 0; smaller = sharper edges).
    gamma: temperature of the depth softmax (> 0; smaller = nearer face wins).
    background_color: ``(C,)`` colour of uncovered pixels.
    """

    sigma: float = 1e-4
    gamma: float = 1e-4
    background_color: Union[torch.Tensor, Sequence[float]] = (1.0, 1.0, 1.0)


class Slots(NamedTuple):
    """The covered (pixel, k) slots of rasteriser fragments, packed.

    index: ``(P,)`` int64 flat index into ``(N, H, W, K)``.
    face: ``(P,)`` int64 packed face index.
    bary: ``(P, 3)`` barycentric coordinates.
    batch: ``(P,)`` int64 image of each slot.
    shape: ``(N, H, W, K)`` of the selection (``K = 1`` for the nearest face only).
    """

    index: torch.Tensor
    face: torch.Tensor
    bary: torch.Tensor
    batch: torch.Tensor
    shape: tuple


def select_slots(fragments, nearest_only: bool = False) -> Slots:
    """Pack the slots with a face (``pix_to_face >= 0``) of ``fragments``.

    With ``nearest_only`` only ``k = 0`` is considered (hard blending uses
    nothing else).
    """
    p2f = fragments.pix_to_face
    bary = fragments.bary_coords
    if nearest_only:
        p2f, bary = p2f[..., :1], bary[..., :1, :]
    N, H, W, K = p2f.shape
    flat = p2f.reshape(-1)
    index = torch.nonzero(flat >= 0).squeeze(1)
    return Slots(index, flat[index], bary.reshape(-1, 3)[index], index // (H * W * K), (N, H, W, K))


def background_tensor(blend_params: BlendParams, channels: int, dtype, device) -> torch.Tensor:
    """``(channels,)`` background colour from ``blend_params`` (checked)."""
    bg = blend_params.background_color
    bg = bg.to(device=device, dtype=dtype) if isinstance(bg, torch.Tensor) else torch.tensor(bg, dtype=dtype, device=device)
    if bg.dim() != 1 or bg.shape[0] != channels:
        raise ValueError(
            f"blend_params.background_color: expected {channels} values (one per colour channel), found shape {tuple(bg.shape)}"
        )
    return bg


def _check_positive(name: str, value) -> None:
    if not (isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1)) or not float(value) > 0:
        raise ValueError(f"blend_params.{name}: expected a positive number, found {value!r}")


# ------------------------------------------------------------------ hard
def hard_blend_packed(colors: torch.Tensor, slots: Slots, blend_params: BlendParams) -> torch.Tensor:
    """RGBA ``(N, H, W, C + 1)`` from nearest-face colours ``(P, C)`` of ``slots`` (``K = 1``)."""
    N, H, W, K = slots.shape
    C = colors.shape[-1]
    bg = background_tensor(blend_params, C, colors.dtype, colors.device)
    pix = slots.index // K
    empty = torch.cat([bg, bg.new_zeros(1)]).expand(N * H * W, C + 1)
    rgba = torch.cat([colors, colors.new_ones(colors.shape[0], 1)], 1)
    return empty.index_put((pix,), rgba).reshape(N, H, W, C + 1)


def hard_rgb_blend(colors: torch.Tensor, fragments, blend_params: BlendParams) -> torch.Tensor:
    """Nearest face's colour per pixel.

    Args:
        colors: ``(N, H, W, K, C)`` colour of each face slot.
        fragments: rasteriser output (``pix_to_face`` ``(N, H, W, K)``).

    Returns:
        ``(N, H, W, C + 1)``: colour (background where no face) and alpha in {0, 1}.
    """
    slots = select_slots(fragments, nearest_only=True)
    return hard_blend_packed(colors[..., 0, :].reshape(-1, colors.shape[-1])[slots.index], slots, blend_params)


# ------------------------------------------------------------ per-row core
def _active_rows(fragments):
    """Pixels with at least one face: ``(rows (R,), mask (R, K))``."""
    p2f = fragments.pix_to_face
    K = p2f.shape[-1]
    valid = (p2f >= 0).reshape(-1, K)
    rows = torch.nonzero(valid.any(1)).squeeze(1)
    return rows, valid[rows]


def _coverage(dists_rows: torch.Tensor, mask: torch.Tensor, sigma) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-slot probability ``(R, K)`` and pixel alpha ``(R,)``."""
    prob = torch.sigmoid(-dists_rows / sigma) * mask
    return prob, 1.0 - torch.prod(1.0 - prob, dim=-1)


def _rows_of_slots(slots: Slots, rows: torch.Tensor) -> torch.Tensor:
    """Position of each slot in the ``(R * K)`` row-major layout of active pixels."""
    N, H, W, K = slots.shape
    row_of_pix = torch.full((N * H * W,), -1, dtype=torch.int64, device=rows.device)
    row_of_pix[rows] = torch.arange(rows.shape[0], device=rows.device)
    return row_of_pix[slots.index // K] * K + slots.index % K


def _per_row(value, rows: torch.Tensor, hw: int, like: torch.Tensor):
    """A float or per-image ``(N,)`` tensor -> broadcastable per active row ``(R, 1)``."""
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        return value.to(like)[rows // hw][:, None]
    return float(value) if not isinstance(value, torch.Tensor) else value.to(like).reshape(())


# --------------------------------------------------------------- sigmoid
def sigmoid_alpha_blend(colors: torch.Tensor, fragments, blend_params: BlendParams) -> torch.Tensor:
    """Silhouette blending.

    Args:
        colors: ``(N, H, W, K, C)``; the nearest slot's colour is copied to RGB.
        fragments: rasteriser output (``pix_to_face``, ``dists`` ``(N, H, W, K)``).

    Returns:
        ``(N, H, W, C + 1)``: RGB ``colors[..., 0, :]`` and alpha
        ``1 - prod_k (1 - sigmoid(-dists / sigma))`` over slots with a face.
    """
    return torch.cat([colors[..., 0, :], silhouette_alpha(fragments, blend_params)[..., None]], -1)


def silhouette_alpha(fragments, blend_params: BlendParams) -> torch.Tensor:
    """``(N, H, W)`` soft coverage ``1 - prod_k (1 - sigmoid(-d_k / sigma))``."""
    _check_positive("sigma", blend_params.sigma)
    N, H, W, K = fragments.pix_to_face.shape
    dists = fragments.dists
    rows, mask = _active_rows(fragments)
    _, alpha = _coverage(dists.reshape(-1, K)[rows], mask, blend_params.sigma)
    out = torch.zeros(N * H * W, dtype=dists.dtype, device=dists.device).index_put((rows,), alpha)
    return out.reshape(N, H, W)


# --------------------------------------------------------------- softmax
def _softmax_rows(colors, mask, dists, zbuf, bg, blend_params, znear, zfar):
    """SoftRas blend of active rows: colours ``(R, K, C)`` -> RGBA ``(R, C + 1)``."""
    eps = 1e-10
    prob, alpha = _coverage(dists, mask, blend_params.sigma)
    z_inv = (zfar - zbuf) / (zfar - znear) * mask
    z_inv_max = z_inv.max(dim=-1, keepdim=True).values.clamp(min=eps)
    w = prob * torch.exp((z_inv - z_inv_max) / blend_params.gamma)
    delta = torch.exp((eps - z_inv_max) / blend_params.gamma).clamp(min=eps)
    denom = w.sum(-1, keepdim=True) + delta
    rgb = ((w[..., None] * colors).sum(-2) + delta * bg) / denom
    return torch.cat([rgb, alpha[:, None]], -1)


def softmax_blend_packed(
    colors: torch.Tensor, slots: Slots, fragments, blend_params: BlendParams, znear=1.0, zfar=100.0
) -> torch.Tensor:
    """SoftRas blend from colours ``(P, C)`` of every covered slot -> ``(N, H, W, C + 1)``."""
    _check_positive("sigma", blend_params.sigma)
    _check_positive("gamma", blend_params.gamma)
    N, H, W, K = slots.shape
    C = colors.shape[-1]
    bg = background_tensor(blend_params, C, colors.dtype, colors.device)
    rows, mask = _active_rows(fragments)
    R = rows.shape[0]
    dense = torch.zeros(R * K, C, dtype=colors.dtype, device=colors.device)
    dense = dense.index_put((_rows_of_slots(slots, rows),), colors).reshape(R, K, C)
    hw = H * W
    rgba = _softmax_rows(
        dense,
        mask,
        fragments.dists.reshape(-1, K)[rows],
        fragments.zbuf.reshape(-1, K)[rows],
        bg,
        blend_params,
        _per_row(znear, rows, hw, colors),
        _per_row(zfar, rows, hw, colors),
    )
    empty = torch.cat([bg, bg.new_zeros(1)]).expand(N * H * W, C + 1)
    return empty.index_put((rows,), rgba).reshape(N, H, W, C + 1)


def softmax_rgb_blend(colors: torch.Tensor, fragments, blend_params: BlendParams, znear=1.0, zfar=100.0) -> torch.Tensor:
    """SoftRas colour blending (Liu et al. 2019), as PyTorch3D's ``softmax_rgb_blend``.

    Args:
        colors: ``(N, H, W, K, C)`` colour of each face slot.
        fragments: rasteriser output (``pix_to_face``, ``zbuf``, ``dists``).
        znear, zfar: depth range, floats or ``(N,)`` tensors.

    Returns:
        ``(N, H, W, C + 1)`` RGBA; uncovered pixels are the background with alpha 0.
    """
    slots = select_slots(fragments)
    return softmax_blend_packed(colors.reshape(-1, colors.shape[-1])[slots.index], slots, fragments, blend_params, znear, zfar)

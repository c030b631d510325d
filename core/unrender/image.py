"""Pictures to masks: the coverage of an object in an RGB / RGBA / grey picture, and mask resizing.

Pictures are ``(H, W, C)`` float tensors with values in [0, 1] (``C`` in 1, 3,
4; a ``(H, W)`` tensor is one channel), as :func:`unrender.io.load_image`
returns them. Masks are ``(H, W)`` floats in [0, 1] (fractional at
anti-aliased edges).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["parse_hex_color", "image_to_mask", "fit_size", "resize_mask", "enlarge_nearest", "frame_object",
           "network_input"]


def parse_hex_color(text: str) -> torch.Tensor | None:
    """``"#rrggbb"`` (the ``#`` optional, case-insensitive) -> ``(3,)`` float RGB in [0, 1];
    None when ``text`` is not six hex digits."""
    t = text.strip().lstrip("#")
    if len(t) != 6:
        return None
    try:
        return torch.tensor([int(t[i : i + 2], 16) / 255.0 for i in (0, 2, 4)])
    except ValueError:
        return None


def image_to_mask(image: torch.Tensor, background: str = "auto", threshold: float = 0.1) -> torch.Tensor:
    """A picture ``(H, W, C)`` (C in 1, 3, 4, values in [0, 1]) -> coverage mask ``(H, W)`` in [0, 1].

    ``background``:

    * ``"auto"``: the alpha channel of an RGBA picture when it has any
      transparency; a one-channel picture is the mask itself; otherwise the
      pixels whose colour differs from the picture's border colour (the median
      of the outermost pixels) by more than ``threshold``: a white-on-black
      mask, a render on Blender's grey world or a photo on a plain backdrop.
    * ``"alpha"``: the alpha channel (C = 4) or the only channel (C = 1).
    * ``"luminance"``: the grey level (mean of the RGB channels): white object on black.
    * ``"#rrggbb"``: pixels differing from that background colour by more than ``threshold``.

    The colour distance is the largest absolute channel difference; pixels
    under ``threshold / 2`` are background, the others get the coverage
    ``distance / median distance of the object pixels`` (clamped to 1), so the
    anti-aliased edges of a plain-coloured object keep their fractional coverage.
    Raises ``ValueError`` naming ``background`` for an unknown mode or a
    mode the picture cannot serve (``alpha`` on RGB).
    """
    if image.dim() == 2:
        image = image[..., None]
    C = image.shape[-1]
    mode = background.strip().lower()
    color = parse_hex_color(mode) if mode.startswith("#") else None
    if mode not in ("auto", "alpha", "luminance") and color is None:
        raise ValueError(f"background: expected 'auto', 'alpha', 'luminance' or a colour '#rrggbb', found {background!r}")
    if mode == "alpha" or (mode == "auto" and C in (1, 4)):
        if C == 1:
            return image[..., 0]
        if C == 4 and (mode == "alpha" or bool((image[..., 3] < 0.99).any())):
            return image[..., 3]
        if mode == "alpha":
            raise ValueError(f"background: 'alpha' needs an RGBA or one-channel image, found {C} channels")
    rgb = image[..., :3] if C >= 3 else image[..., :1].expand(*image.shape[:2], 3)
    if mode == "luminance":
        return rgb.mean(-1)
    if color is None:  # auto: the border colour
        border = torch.cat([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]], 0)
        color = border.median(dim=0).values
    diff = (rgb - color.to(rgb)).abs().amax(-1)
    # coverage: the difference relative to the object's typical difference (the median over
    # pixels past the threshold), so an anti-aliased edge of a plain-coloured object keeps its
    # fractional coverage; pixels under the threshold are background
    obj = diff[diff > threshold]
    full = float(obj.median()) if obj.numel() else 1.0
    return torch.where(diff > threshold / 2, diff / max(full, threshold), torch.zeros_like(diff)).clamp(0.0, 1.0)


def fit_size(H: int, W: int, size: int) -> tuple[int, int]:
    """``(h, w)`` with the longer side ``size`` and the aspect of ``(H, W)``."""
    s = size / max(H, W)
    return max(1, round(H * s)), max(1, round(W * s))


def resize_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """``(H, W)`` -> ``(h, w)`` with the longer side ``size`` (area average when shrinking)."""
    h, w = fit_size(*mask.shape, size)
    if (h, w) == tuple(mask.shape):
        return mask
    mode = "area" if h <= mask.shape[0] else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(mask[None, None], size=(h, w), mode=mode, **kw)[0, 0].clamp(0.0, 1.0)


def enlarge_nearest(image: torch.Tensor, height: int) -> torch.Tensor:
    """``image (H, W, C)`` repeated pixel by pixel (nearest, a whole factor) to at least ``height`` rows, so
    that a small render can be judged in a picture without blurring its pixels."""
    k = max(1, math.ceil(height / image.shape[0]))
    return image.repeat_interleave(k, 0).repeat_interleave(k, 1)


def _check_rgba(name: str, rgba, batched: bool) -> torch.Tensor:
    if not isinstance(rgba, torch.Tensor):
        raise ValueError(f"{name}: expected a tensor, found {type(rgba).__name__}")
    dims = (3, 4) if batched else (3,)
    if rgba.dim() not in dims or rgba.shape[-1] != 4 or not rgba.is_floating_point():
        want = "(H, W, 4) or (B, H, W, 4)" if batched else "(H, W, 4)"
        raise ValueError(f"{name}: expected a float RGBA image {want}, found {rgba.dtype} of shape {tuple(rgba.shape)}")
    return rgba


def frame_object(rgba: torch.Tensor, size: int = 64, margin: float = 0.08) -> torch.Tensor:
    """The object of an RGBA picture cropped square around its mask and resized: ``(size, size, 4)``.

    Args:
        rgba: ``(H, W, 4)`` float in [0, 1], straight (not premultiplied) colour.
        size: side of the result in pixels.
        margin: the empty border on each side, as a fraction of the object's larger extent.
    Returns:
        ``(size, size, 4)`` straight colour: the square of side ``max(bbox w, bbox h) * (1 + 2 margin)``
        centred on the bounding box of ``alpha > 0.5`` (outside the picture transparent), resized with
        antialiasing in premultiplied space.
    Raises:
        ValueError naming ``rgba``: wrong shape or dtype, or no pixel with alpha above 0.5.
    """
    _check_rgba("rgba", rgba, batched=False)
    if int(size) < 1 or float(margin) < 0:
        raise ValueError(f"size, margin: expected size >= 1 and margin >= 0, found {size}, {margin}")
    rows = torch.nonzero((rgba[..., 3] > 0.5).any(1)).flatten()
    cols = torch.nonzero((rgba[..., 3] > 0.5).any(0)).flatten()
    if rows.numel() == 0:
        raise ValueError(f"rgba: expected an object (alpha > 0.5 somewhere), found an empty alpha of shape "
                         f"{tuple(rgba.shape[:2])}")
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    side = max(1, math.ceil(max(y1 - y0, x1 - x0) * (1 + 2 * float(margin))))
    top = (y0 + y1 - side) // 2
    left = (x0 + x1 - side) // 2
    H, W = rgba.shape[:2]
    prem = torch.cat([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)
    crop = rgba.new_zeros(side, side, 4)  # transparent outside the picture
    sy0, sy1, sx0, sx1 = max(top, 0), min(top + side, H), max(left, 0), min(left + side, W)
    crop[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = prem[sy0:sy1, sx0:sx1]
    out = F.interpolate(crop.permute(2, 0, 1)[None], size=(int(size), int(size)), mode="bilinear",
                        align_corners=False, antialias=side > size)[0].permute(1, 2, 0).clamp(0.0, 1.0)
    alpha = out[..., 3:]
    rgb = torch.where(alpha > 0, out[..., :3] / alpha.clamp_min(1e-6), torch.zeros_like(out[..., :3]))
    return torch.cat([rgb.clamp(0.0, 1.0), alpha], -1)


def network_input(rgba: torch.Tensor) -> torch.Tensor:
    """The picture a network sees: RGB composited over white, then alpha, channels first.

    ``rgba (H, W, 4) -> (4, H, W)`` or ``(B, H, W, 4) -> (B, 4, H, W)``, float in [0, 1], straight colour.
    """
    _check_rgba("rgba", rgba, batched=True)
    a = rgba[..., 3:]
    out = torch.cat([rgba[..., :3] * a + (1 - a), a], -1)
    return out.movedim(-1, -3).contiguous()

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

__all__ = ["parse_hex_color", "image_to_mask", "fit_size", "resize_mask", "enlarge_nearest"]


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

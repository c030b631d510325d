"""Small pictures drawn with Pillow: loss curves and captioned image strips.

No plotting library is needed: a loss curve is axes, ticks and a polyline.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch

__all__ = ["plot_curves", "caption", "hstack", "legend"]

_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo if hi > lo else abs(hi) or 1.0
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.0e}"
    return f"{v:.4g}"


def plot_curves(
    curves: Mapping[str, Sequence[float]] | Sequence[float],
    path=None,
    *,
    size: tuple[int, int] = (720, 420),
    log: bool | None = None,
    title: str = "",
    xlabel: str = "step",
    ylabel: str = "loss",
    marks: Sequence[int | tuple[int, str]] = (),
) -> torch.Tensor:
    """Draw one or more curves over their step index; optionally write a PNG.

    Args:
        curves: ``{label: values}`` or one sequence of values (non-finite
            values are skipped).
        path: where to save the picture (any Pillow format), or None.
        size: ``(width, height)`` in pixels.
        log: log-scale y axis; default: when every value is positive and they
            span more than a factor of 20.
        marks: steps to mark with a dashed vertical line (e.g. subdivisions, a
            change of resolution), each a step or ``(step, label)``; a label is
            written at the top of its line.
    Returns:
        ``(H, W, 3)`` float image in [0, 1].
    """
    from PIL import Image, ImageDraw

    if not isinstance(curves, Mapping):
        curves = {ylabel: curves}
    series = {k: np.asarray([float(v) for v in vals], dtype=np.float64) for k, vals in curves.items()}
    if not series or all(len(v) == 0 for v in series.values()):
        raise ValueError("curves: expected at least one non-empty sequence of values, found none")
    finite = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    if finite.size == 0:
        raise ValueError("curves: expected finite values, found only NaN or infinite ones")
    if log is None:
        log = bool((finite > 0).all() and finite.max() > 20 * finite.min())
    if log and not (finite > 0).all():
        raise ValueError("log: a log-scale axis needs positive values, found values <= 0")
    tf = np.log10 if log else (lambda a: a)
    lo, hi = float(tf(finite).min()), float(tf(finite).max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    n_max = max(len(v) for v in series.values())

    W, H = size
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    font, small = _font(15), _font(12)
    left, right, top, bottom = 70, 20, 36 if title else 16, 46
    x0, x1, y0, y1 = left, W - right, top, H - bottom
    X = lambda i: x0 + (x1 - x0) * (i / max(n_max - 1, 1))  # noqa: E731
    Y = lambda v: y1 - (y1 - y0) * ((v - lo) / (hi - lo))  # noqa: E731

    # grid and ticks
    if log:
        yt = [float(e) for e in range(math.ceil(lo), math.floor(hi) + 1)]
        if len(yt) < 2:
            yt = _nice_ticks(lo, hi)
        labels = [_fmt(10**t) for t in yt]
    else:
        yt = _nice_ticks(lo, hi)
        labels = [_fmt(t) for t in yt]
    for t, lab in zip(yt, labels):
        y = Y(t)
        d.line([(x0, y), (x1, y)], fill=(228, 228, 228))
        d.text((x0 - 6, y), lab, fill=(60, 60, 60), font=small, anchor="rm")
    for t in _nice_ticks(0, max(n_max - 1, 1), 6):
        x = X(t)
        d.line([(x, y0), (x, y1)], fill=(240, 240, 240))
        d.text((x, y1 + 6), _fmt(t), fill=(60, 60, 60), font=small, anchor="mt")
    for m in marks:
        m, label = (m if isinstance(m, (tuple, list)) else (m, ""))
        x = X(m)
        for y in range(int(y0), int(y1), 8):
            d.line([(x, y), (x, min(y + 4, y1))], fill=(150, 150, 150))
        if label:
            d.text((x + 4, y0 + 4), str(label), fill=(90, 90, 90), font=small, anchor="la")
    d.rectangle([x0, y0, x1, y1], outline=(80, 80, 80))

    # curves: at most ~2 points per pixel column, keeping each column's min and max
    for c, (name, v) in enumerate(series.items()):
        color = _COLORS[c % len(_COLORS)]
        idx = np.nonzero(np.isfinite(v))[0]
        if idx.size == 0:
            continue
        tv = tf(v[idx])
        cols = max(int(x1 - x0), 1)
        if idx.size > 2 * cols:
            bucket = (idx * cols // max(n_max, 1)).astype(np.int64)
            starts = np.r_[0, np.nonzero(np.diff(bucket))[0] + 1]
            pts = []
            for s, e in zip(starts, np.r_[starts[1:], idx.size]):
                seg = tv[s:e]
                a, b = int(np.argmin(seg)), int(np.argmax(seg))
                for j in sorted({a, b}):
                    pts.append((X(idx[s + j]), Y(seg[j])))
        else:
            pts = [(X(i), Y(t)) for i, t in zip(idx, tv)]
        if len(pts) == 1:
            pts = pts * 2
        d.line(pts, fill=color, width=2)
        if len(series) > 1:
            ly = y0 + 14 + 18 * c
            d.text((x1 - 8, ly), name, fill=color, font=small, anchor="rm")
            tw = d.textlength(name, font=small)
            d.line([(x1 - 32 - tw, ly), (x1 - 14 - tw, ly)], fill=color, width=3)

    if title:
        d.text((W / 2, 10), title, fill=(20, 20, 20), font=font, anchor="mt")
    d.text(((x0 + x1) / 2, H - 6), xlabel, fill=(40, 40, 40), font=small, anchor="mb")
    d.text((8, y0 - 4 if top > 20 else 2), ylabel + (" (log)" if log else ""), fill=(40, 40, 40), font=small, anchor="ld" if top > 20 else "la")
    out = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    if path is not None:
        from .io import save_image

        save_image(path, out)
    return out


def caption(image: torch.Tensor, text: str, *, size: int = 14) -> torch.Tensor:
    """``image (H, W, 3)`` float with ``text`` written in its top-left corner on a light band."""
    from PIL import Image, ImageDraw

    a = (image[..., :3].clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(a), "RGB")
    d = ImageDraw.Draw(im, "RGBA")
    font = _font(size)
    box = d.textbbox((6, 4), text, font=font)
    d.rectangle([box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2], fill=(255, 255, 255, 190))
    d.text((6, 4), text, fill=(20, 20, 20), font=font)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)


def hstack(images: Sequence[torch.Tensor], gap: int = 4) -> torch.Tensor:
    """Images ``(H, W_i, 3)`` of equal height side by side with ``gap`` white pixels between."""
    if not images:
        raise ValueError("images: expected at least one image, found none")
    H = images[0].shape[0]
    parts = []
    for i, im in enumerate(images):
        if im.shape[0] != H:
            raise ValueError(f"images[{i}]: expected height {H}, found {im.shape[0]}")
        if i:
            parts.append(torch.ones(H, gap, 3))
        parts.append(im[..., :3].cpu().float())
    return torch.cat(parts, 1)


def legend(image: torch.Tensor, entries: Sequence[tuple[tuple[float, float, float], str]], *, size: int = 13) -> torch.Tensor:
    """``image (H, W, 3)`` with a white band below it naming what each colour means:
    ``entries`` are ``(rgb in [0, 1], label)``, one line each. Returns ``(H + band, W, 3)``."""
    from PIL import Image, ImageDraw

    line = size + 6
    W = image.shape[1]
    band = Image.new("RGB", (W, line * len(entries) + 6), (255, 255, 255))
    d = ImageDraw.Draw(band)
    font = _font(size)
    for i, (rgb, text) in enumerate(entries):
        y = 4 + i * line
        d.rectangle([6, y + 2, 6 + size, y + 2 + size - 2], fill=tuple(int(255 * c + 0.5) for c in rgb), outline=(60, 60, 60))
        d.text((12 + size, y), text, fill=(20, 20, 20), font=font)
    b = torch.from_numpy(np.asarray(band, dtype=np.float32) / 255.0)
    return torch.cat([image[..., :3].cpu().float(), b], 0)

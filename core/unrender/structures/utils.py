"""Conversions between the list, padded and packed views of ragged batches."""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["list_to_padded", "padded_to_list", "packed_to_padded", "padded_to_packed", "batch_indices", "normalize_to_unit_sphere"]


def list_to_padded(
    xs: Sequence[torch.Tensor], pad_value: float = 0.0, max_len: int | None = None
) -> torch.Tensor:
    """Stack ``B`` tensors of shape ``(N_i, C)`` into ``(B, max N_i, C)``.

    Rows past ``N_i`` are filled with ``pad_value``. Gradients flow to every
    input.
    """
    if len(xs) == 0:
        raise ValueError("xs: expected at least one tensor, found an empty list")
    n = max_len if max_len is not None else max(int(x.shape[0]) for x in xs)
    trailing = xs[0].shape[1:]
    out = xs[0].new_full((len(xs), n, *trailing), pad_value)
    if all(int(x.shape[0]) == n for x in xs):
        return torch.stack(list(xs), 0)
    rows = [torch.cat([x, out[i, x.shape[0]:]], 0) if x.shape[0] < n else x for i, x in enumerate(xs)]
    return torch.stack(rows, 0)


def padded_to_list(x: torch.Tensor, lengths: Sequence[int] | torch.Tensor) -> list[torch.Tensor]:
    """Split ``(B, N, C)`` into ``B`` tensors of shape ``(lengths[i], C)``."""
    lengths = [int(n) for n in lengths]
    return [x[i, :n] for i, n in enumerate(lengths)]


def packed_to_padded(x: torch.Tensor, first_idx: torch.Tensor, max_len: int) -> torch.Tensor:
    """Scatter ``(sum N_i, C)`` packed rows into ``(B, max_len, C)`` (zero padding).

    ``first_idx``: ``(B,)`` int64, index of each batch element's first row.
    """
    B = int(first_idx.shape[0])
    total = int(x.shape[0])
    lengths = torch.diff(first_idx, append=first_idx.new_tensor([total]))
    batch = torch.repeat_interleave(torch.arange(B, device=x.device), lengths)
    pos = torch.arange(total, device=x.device) - first_idx[batch]
    out = x.new_zeros((B, max_len, *x.shape[1:]))
    out[batch, pos] = x
    return out


def padded_to_packed(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Gather the valid rows of ``(B, N, C)`` into ``(sum lengths, C)``."""
    B, N = x.shape[:2]
    mask = torch.arange(N, device=x.device)[None, :] < lengths.to(x.device)[:, None]
    return x[mask]


def batch_indices(index, size: int) -> list[int]:
    """Turn an int, slice, list or 1-D tensor index into a list of batch positions."""
    if isinstance(index, torch.Tensor):
        index = index.tolist()
    if isinstance(index, int):
        index = [index]
    elif isinstance(index, slice):
        index = list(range(size))[index]
    index = list(index)
    for i in index:
        if not -size <= int(i) < size:
            raise ValueError(f"index: expected positions in [{-size}, {size - 1}], found {i}")
    return [int(i) % size for i in index]


def normalize_to_unit_sphere(
    xs: Sequence[torch.Tensor], center: str, what: str
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Translate and scale each ``(N_i, 3)`` tensor so it fits the unit sphere.

    ``center``: ``"bbox"`` (bounding-box centre) or ``"mean"``; ``what`` names the
    items in error messages. Returns ``(normalized list, centers (B, 3), scales (B,))``
    with ``normalized = (x - center) / scale``.
    """
    if center not in ("bbox", "mean"):
        raise ValueError(f"center: expected 'bbox' or 'mean', found {center!r}")
    out, centers, scales = [], [], []
    for i, x in enumerate(xs):
        if x.shape[0] == 0:
            raise ValueError(f"{what}[{i}]: cannot normalize, it has no points")
        c = (x.min(0).values + x.max(0).values) / 2 if center == "bbox" else x.mean(0)
        d = x - c
        s = d.norm(dim=1).max()
        if not 1e-12 < float(s) < 1e18:  # the squares under- or overflow: measure the scaled distances
            m = d.detach().abs().amax()
            s = (d / m).norm(dim=1).max() * m if float(m) > 0 else s
        s = s.clamp_min(1e-30)
        out.append(d / s)
        centers.append(c)
        scales.append(s)
    return out, torch.stack(centers), torch.stack(scales)

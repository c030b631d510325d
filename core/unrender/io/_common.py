"""Helpers shared by the readers and writers: paths, tensors to numpy, finiteness."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import torch

__all__ = ["as_path", "regular_file", "read_bytes", "is_plain_number_text", "plain_float", "json_numbers", "to_numpy", "check_array", "check_finite_array", "inside_folder"]


def as_path(path) -> Path:
    """``str`` / ``os.PathLike`` -> ``Path``; anything else is a ``ValueError``."""
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    raise ValueError(f"path: expected a str or os.PathLike, found {type(path).__name__}")


def regular_file(path) -> Path:
    """``path`` as a ``Path`` to an existing regular file; ``FileNotFoundError`` / ``ValueError`` naming it."""
    p = as_path(path)
    if not p.is_file():
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file")
        raise ValueError(f"{p}: expected a regular file, found a directory or special file")
    return p


def read_bytes(path) -> tuple[Path, bytes]:
    """Read a whole file; a missing file raises ``FileNotFoundError`` naming it."""
    p = regular_file(path)
    return p, p.read_bytes()


def is_plain_number_text(text: str) -> bool:
    """Whether ``text`` can only hold numbers as files write them: ASCII, no ``_`` digit separators."""
    return text.isascii() and "_" not in text


def plain_float(tok: str) -> float:
    """``float(tok)`` for numbers as files write them.

    ``float()`` also takes ``1_000`` and non-ASCII digits (Arabic-Indic,
    full-width, ...); those raise ``ValueError`` here.
    """
    if not is_plain_number_text(tok):
        raise ValueError(f"not a plain ASCII number: {tok!r}")
    return float(tok)


def json_numbers(value) -> np.ndarray:
    """A JSON value (a number or nested lists of numbers) as a float64 array.

    Only JSON numbers count: strings (``"1_000"``, ``"١٢"``, which NumPy would
    convert), booleans and null raise ``ValueError``, as do ragged lists and
    integers beyond float64.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"expected JSON numbers, found {v!r:.40}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"expected a rectangular array of numbers within float64 range ({exc})") from None


def to_numpy(name: str, x, *, dtype=None) -> np.ndarray:
    """A tensor / array / nested list -> numpy array (detached, on the CPU)."""
    if isinstance(x, torch.Tensor):
        a = x.detach().cpu().numpy()
    elif isinstance(x, np.ndarray):
        a = x
    elif isinstance(x, (list, tuple)):
        try:
            a = np.asarray(x)
        except ValueError as e:
            raise ValueError(f"{name}: expected a rectangular array, found a ragged sequence ({e})") from None
    else:
        raise ValueError(f"{name}: expected a torch.Tensor or numpy array, found {type(x).__name__}")
    return a if dtype is None else a.astype(dtype, copy=False)


def check_array(name: str, a: np.ndarray, ncols: int | tuple[int, ...] | None, *, rows: int | None = None,
                integer: bool = False) -> np.ndarray:
    """Check a 2-D array ``(rows, ncols)``; ``ncols`` may be a tuple of allowed widths."""
    allowed = (ncols,) if isinstance(ncols, int) else ncols
    if a.ndim != 2 or (allowed is not None and a.shape[1] not in allowed) or (rows is not None and a.shape[0] != rows):
        want_c = "*" if allowed is None else "|".join(map(str, allowed))
        want_r = "*" if rows is None else str(rows)
        raise ValueError(f"{name}: expected shape ({want_r}, {want_c}), found shape {tuple(a.shape)}")
    if integer and not (np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name}: expected an integer array, found dtype {a.dtype}")
    if not integer and not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric array, found dtype {a.dtype}")
    return a


def check_finite_array(name: str, a: np.ndarray) -> None:
    """Raise ``ValueError`` when a floating array holds NaN or infinity."""
    if a.size and np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{name}: expected finite values, found {bad} NaN or infinite entries")


def fan_triangles(counts: np.ndarray) -> np.ndarray:
    """Fan-triangulate polygons stored back to back.

    Args:
        counts: ``(P,)`` int, number of corners of each polygon (each >= 3).
    Returns:
        ``(sum(counts - 2), 3)`` int64 positions into the flat corner array:
        polygon ``p`` with corners ``c0..c{n-1}`` gives ``(c0, ci, ci+1)``.
    """
    counts = counts.astype(np.int64, copy=False)
    starts = np.cumsum(counts) - counts
    ntri = counts - 2
    poly = np.repeat(np.arange(len(counts)), ntri)
    # local index i = 1 .. n-2 within each polygon
    tri_first = np.cumsum(ntri) - ntri
    local = np.arange(int(ntri.sum()), dtype=np.int64) - np.repeat(tri_first, ntri) + 1
    a = starts[poly]
    return np.stack([a, a + local, a + local + 1], 1)


def inside_folder(root: Path, name: str, *, base: Path | None = None) -> Path | None:
    """``base / name`` when it stays inside the folder ``root``, else ``None``.

    ``name`` (a path written in a file, relative to ``base``, default
    ``root``; ``\\`` read as ``/``) is outside when it is absolute (``/x``,
    ``C:\\x``, ``\\\\server\\x``) or when it resolves, links followed, to a place
    outside ``root``.
    """
    name = name.replace("\\", "/")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive:
        return None
    target = (root if base is None else base) / name
    try:
        if not target.resolve().is_relative_to(root.resolve()):
            return None
    except (OSError, ValueError, RuntimeError):
        return None
    return target

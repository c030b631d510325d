"""Keypoints ``(J, 2|3)`` as JSON or ``.npy``.

JSON layout (what :func:`save_keypoints` writes)::

    {"format": "unrender keypoints 1", "dim": 2, "points": [[x, y], ...], "names": ["nose", ...]}

``points`` is the only required field (a list of ``J`` rows of 2 or 3
numbers; a bare list of rows is read too); ``names``, when present, has one
string per point. Values must be JSON numbers (strings such as ``"1"`` are
refused) and finite. ``.npy`` files are read by :func:`~unrender.io.load_arrays`. ``.npy`` holds the ``(J, 2|3)`` array alone.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from ._common import as_path, check_array, check_finite_array, json_numbers, read_bytes, to_numpy
from .arrays import load_arrays

__all__ = ["load_keypoints", "save_keypoints", "KEYPOINTS_FORMAT"]

KEYPOINTS_FORMAT = "unrender keypoints 1"


def _checked(name: str, a: np.ndarray) -> np.ndarray:
    check_array(name, a, (2, 3))
    check_finite_array(name, a)
    return a


def load_keypoints(path, *, device="cpu") -> torch.Tensor:
    """Read keypoints ``(J, 2|3)`` float32 from ``.json`` or ``.npy``."""
    p = as_path(path)
    suffix = p.suffix.lower()
    if suffix not in (".json", ".npy"):
        raise ValueError(f"{path}: expected a file ending in .json or .npy, found {suffix or 'no extension'!r}")
    if suffix == ".npy":
        a = load_arrays(p)["array"]
    else:
        _, data = read_bytes(p)
        try:
            d = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"{p} is not JSON: {type(exc).__name__}: {exc}") from None
        rows = d.get("points") if isinstance(d, dict) else d
        if rows is None:
            raise ValueError(f"{p}: expected a 'points' list of (J, 2|3) rows, found keys {sorted(d)}")
        try:
            a = json_numbers(rows)
        except ValueError:
            raise ValueError(f"{p}: expected 'points' as rows of 2 or 3 numbers, found {str(rows)[:60]}") from None
        names = d.get("names") if isinstance(d, dict) else None
        if names is not None and (not isinstance(names, list) or len(names) != len(a)):
            raise ValueError(f"{p}: expected 'names' to list one name per point ({len(a)}), found {names!r:.60}")
    return torch.as_tensor(_checked(f"{p} points", a).astype(np.float32)).to(device)


def save_keypoints(path, keypoints, *, names=None) -> None:
    """Write keypoints ``(J, 2|3)`` as ``.json`` (layout above, optional ``names``) or ``.npy``."""
    p = as_path(path)
    a = _checked("keypoints", to_numpy("keypoints", keypoints).astype(np.float64, copy=False))
    suffix = p.suffix.lower()
    if suffix == ".npy":
        if names is not None:
            raise ValueError("names: expected None for a .npy file (it holds the array alone)")
        np.save(p, a.astype(np.float32))
        return
    if suffix != ".json":
        raise ValueError(f"{path}: expected a file ending in .json or .npy, found {suffix or 'no extension'!r}")
    rec = {"format": KEYPOINTS_FORMAT, "dim": int(a.shape[1]), "points": a.astype(np.float32).tolist()}
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != a.shape[0]:
            raise ValueError(f"names: expected {a.shape[0]} names, found {len(names)}")
        rec["names"] = names
    p.write_text(json.dumps(rec, indent=2))

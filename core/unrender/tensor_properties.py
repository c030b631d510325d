"""Batches of ``N`` items described by tensors: the base of cameras, lights,
materials and textures (the role of PyTorch3D's ``TensorProperties``).

A subclass names its per-item attributes in ``_FIELDS``. Each holds a tensor
whose first dimension is the batch (``(N, ...)``), a list of ``N`` tensors
(items of different sizes, e.g. texture maps) or ``None`` (not set). The base
owns what every batch does the same way:

* the 1-or-N broadcast of constructor values (:func:`broadcast_batch`),
* ``len``, indexing with an int, slice, list of ints or bool/long tensor,
  ``extend``,
* ``to`` / ``cpu`` / ``cuda`` (in place, returning ``self``, as PyTorch3D),
  ``clone`` and ``detach`` (new batches),
* the check that a batch fits ``n`` images or meshes (:meth:`check_batch`).

Lives at the top of the package, below ``cameras`` and ``render``, which both
derive from it.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ._validate import check_positive_int

__all__ = ["TensorProperties", "batch_size", "broadcast_batch"]


def batch_size(sizes: dict[str, int]) -> int:
    """The common batch size ``N`` of arguments whose batch sizes ``sizes`` are each 1 or ``N``.

    Raises ``ValueError`` naming the first argument whose size is neither.
    """
    n = max(sizes.values(), default=0)
    for k, b in sizes.items():
        if b not in (1, n):
            others = ", ".join(f"{o}: {s}" for o, s in sizes.items() if s != 1)
            raise ValueError(f"{k}: expected batch size 1 or {n} to match the other arguments ({others}), found {b}")
    return n


def broadcast_batch(fields: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], int]:
    """Expand ``(1, ...)`` tensors to the common batch size ``N`` of the ``(N, ...)`` ones.

    Returns the expanded tensors (views) and ``N``; raises as :func:`batch_size`.
    """
    n = batch_size({k: int(v.shape[0]) for k, v in fields.items()})
    return {k: (v if v.shape[0] == n else v.expand(n, *v.shape[1:])) for k, v in fields.items()}, n


def _as_field(name: str, value, dtype, device) -> torch.Tensor | list[torch.Tensor]:
    """A constructor value -> ``(B, ...)`` tensor (``0``-d -> ``(1,)``) or a list of tensors."""
    if isinstance(value, list) and value and all(isinstance(v, torch.Tensor) for v in value):
        return value if device is None else [v.to(device) for v in value]
    if isinstance(value, torch.Tensor):
        t = value if device is None else value.to(device)
    elif isinstance(value, bool) or isinstance(value, str):
        raise ValueError(f"{name}: expected a number, a sequence of numbers, an array or a tensor, found {value!r}")
    else:
        try:
            t = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype or torch.get_default_dtype(), device=device)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a number, a sequence of numbers, an array or a tensor, found {value!r}") from None
    return t.reshape(1) if t.dim() == 0 else t


class TensorProperties:
    """A batch of ``N`` items whose per-item data are the attributes in ``_FIELDS``.

    ``TensorProperties(device=None, dtype=None, **fields)`` broadcasts the
    fields (numbers, sequences, arrays or tensors; a number is one item, a
    ``(1, ...)`` value is shared by the ``N`` items of the ``(N, ...)`` ones)
    and sets them as attributes. Tensors keep their autograd graph and dtype;
    other values become ``dtype`` (default: torch's default dtype) tensors.
    A non-empty list of tensors is a per-item list (its length is the batch
    size; a one-element list is repeated). ``device`` moves everything there.
    """

    _FIELDS: tuple[str, ...] = ()
    _NAME = "batch"  # the argument renderers take it as, for messages
    _N: int

    def __init__(self, device=None, dtype=None, **fields) -> None:
        device = torch.device(device) if device is not None else None
        values = {k: _as_field(k, v, dtype, device) for k, v in fields.items()}
        n = self._N = batch_size({k: len(v) if isinstance(v, list) else int(v.shape[0]) for k, v in values.items()})
        for k, v in values.items():
            if isinstance(v, list):
                setattr(self, k, v * n if len(v) == 1 else v)
            else:
                setattr(self, k, v if v.shape[0] == n else v.expand(n, *v.shape[1:]))
        names = tuple(dict.fromkeys((*type(self)._FIELDS, *fields)))
        if names != type(self)._FIELDS:
            self._FIELDS = names

    # ----------------------------------------------------------------- size
    def __len__(self) -> int:
        return self._N

    def isempty(self) -> bool:
        return self._N == 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self._N})"

    @property
    def device(self) -> torch.device:
        """Where the first field lives (``cpu`` for an empty batch)."""
        for k in self._FIELDS:
            v = getattr(self, k, None)
            if isinstance(v, list):
                v = v[0] if v else None
            if isinstance(v, torch.Tensor):
                return v.device
        return torch.device("cpu")

    def check_batch(self, n: int, name: str | None = None, per: str = "image") -> None:
        """Raise unless this batch (1 or ``n`` items) fits ``n`` images (or meshes, ``per``).

        The message names ``name`` (default: the class's ``_NAME``, e.g. ``lights``).
        """
        if self._N not in (1, n):
            raise ValueError(
                f"{name or self._NAME}: expected a batch of 1 or {n} {type(self).__name__} (one per {per}), found {self._N}"
            )

    # ----------------------------------------------------------------- new batches
    def _set_fields(self, out: "TensorProperties", fn, list_fn=None) -> "TensorProperties":
        """Set every field of ``out`` to ``fn`` of this one's (a list field: ``list_fn`` of it,
        default ``fn`` of each element); ``None`` fields stay ``None``. Returns ``out``."""
        for k in self._FIELDS:
            v = getattr(self, k, None)
            if isinstance(v, list):
                setattr(out, k, list_fn(v) if list_fn is not None else [fn(t) for t in v])
            elif v is not None:
                setattr(out, k, fn(v))
        return out

    def clone(self) -> "TensorProperties":
        """A copy with cloned tensors (gradients still flow to the originals)."""
        return self._set_fields(copy.copy(self), torch.Tensor.clone)

    def detach(self) -> "TensorProperties":
        """A copy whose tensors are detached from the autograd graph (same storage)."""
        return self._set_fields(copy.copy(self), torch.Tensor.detach)

    def __getitem__(self, index) -> "TensorProperties":
        """Items at ``index`` (int, slice, list of ints, bool or long tensor) as a new batch.

        An int keeps the batch dimension (a batch of one), as PyTorch3D's cameras do.
        """
        n = self._N
        if isinstance(index, slice):
            out = self._set_fields(copy.copy(self), lambda v: v[index], lambda v: v[index])
            out._N = len(range(n)[index])
            return out
        if isinstance(index, bool) or not isinstance(index, (int, list, torch.Tensor)):
            raise ValueError(f"index: expected an int, slice, list of ints or a bool/long tensor, found {type(index).__name__}")
        if isinstance(index, int):
            index = [index]
        if isinstance(index, list):
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
                raise ValueError(f"index: expected a list of ints, found {index!r}")
            index = torch.tensor(index, dtype=torch.int64)
        if index.dtype == torch.bool:
            if index.dim() != 1 or index.shape[0] != n:
                raise ValueError(f"index: expected a bool mask of shape ({n},), found shape {tuple(index.shape)}")
            index = index.nonzero().squeeze(1)
        elif index.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"index: expected a bool or integer tensor, found dtype {index.dtype}")
        index = index.reshape(-1).to("cpu", torch.int64)
        if index.numel() and not (-n <= int(index.min()) and int(index.max()) < n):
            raise IndexError(f"index: {index.tolist()} has entries out of range for a batch of {n}")
        rows = index.tolist()
        out = self._set_fields(copy.copy(self), lambda v: v[index.to(v.device)], lambda v: [v[i] for i in rows])
        out._N = len(rows)
        return out

    def extend(self, n: int) -> "TensorProperties":
        """A batch holding each item ``n`` times in a row (``len(self) * n`` items), as PyTorch3D's ``extend``."""
        check_positive_int("n", n)
        return self[torch.arange(self._N).repeat_interleave(n)]

    # ----------------------------------------------------------------- devices
    def to(self, device=None, dtype=None) -> "TensorProperties":
        """Move (and optionally cast floating tensors) **in place**, like PyTorch3D; returns ``self``."""
        return self._set_fields(self, lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None))

    def cpu(self) -> "TensorProperties":
        return self.to("cpu")

    def cuda(self, device: int | None = None) -> "TensorProperties":
        return self.to(f"cuda:{device}" if device is not None else "cuda")

"""Input encodings for neural fields: harmonic (NeRF's positional encoding) and a multi-resolution hash grid.

Both map ``(..., D)`` points to ``(..., get_output_dim(D))`` features.
"""

from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from .._validate import check_positive_int, check_tensor, parse_real

__all__ = ["HarmonicEmbedding", "HashGridEncoding", "HASH_PRIMES"]

# instant-ngp's spatial hash: the first axis is not scrambled (coherent memory along x).
HASH_PRIMES = (1, 2654435761, 805459861)


class HarmonicEmbedding(nn.Module):
    """PyTorch3D's ``HarmonicEmbedding`` (same arguments, buffers and numerics).

    For each input coordinate ``x_i`` the output holds ``sin(f_k x_i)`` for every
    frequency, then ``cos(f_k x_i)``, then ``x_i`` itself with ``append_input``:
    ``(..., dim) -> (..., dim * (2 * n_harmonic_functions + append_input))``, ordered
    ``[sin (dim, n), cos (dim, n), x (dim)]``. Frequencies are ``omega_0 * 2**k``
    (``logspace``) or ``omega_0 * linspace(1, 2**(n - 1), n)``; cosines are
    computed as ``sin(x + pi/2)`` as PyTorch3D does. With ``diag_cov`` (mip-NeRF's
    integrated encoding of Gaussians of mean ``x``) each term is damped by
    ``exp(-0.5 f_k**2 diag_cov_i)``.
    """

    def __init__(self, n_harmonic_functions: int = 6, omega_0: float = 1.0, logspace: bool = True, append_input: bool = True):
        super().__init__()
        check_positive_int("n_harmonic_functions", n_harmonic_functions, minimum=0)
        omega_0 = parse_real("omega_0", omega_0)
        if logspace:
            frequencies = 2.0 ** torch.arange(n_harmonic_functions, dtype=torch.float32)
        else:
            frequencies = torch.linspace(1.0, 2.0 ** (n_harmonic_functions - 1), n_harmonic_functions, dtype=torch.float32)
        self.register_buffer("_frequencies", frequencies * omega_0, persistent=False)
        self.register_buffer("_zero_half_pi", torch.tensor([0.0, 0.5 * torch.pi]), persistent=False)
        self.append_input = bool(append_input)

    def forward(self, x: torch.Tensor, diag_cov: torch.Tensor | None = None) -> torch.Tensor:
        """``x: (..., dim)`` float, ``diag_cov: (..., dim)`` or None -> ``(..., dim * (2 n + append_input))``."""
        check_tensor("x", x, ["...", None], floating=True)
        embed = x[..., None] * self._frequencies  # (..., dim, n)
        embed = (embed[..., None, :, :] + self._zero_half_pi[..., None, None]).sin()  # (..., 2, dim, n)
        if diag_cov is not None:
            check_tensor("diag_cov", diag_cov, x.shape, floating=True)
            embed = embed * torch.exp(-0.5 * diag_cov[..., None] * self._frequencies**2)[..., None, :, :]
        embed = embed.reshape(*x.shape[:-1], 2 * x.shape[-1] * self._frequencies.shape[0])  # explicit: -1 fails on empty x
        return torch.cat([embed, x], dim=-1) if self.append_input else embed

    @staticmethod
    def get_output_dim_static(input_dims: int, n_harmonic_functions: int, append_input: bool) -> int:
        return input_dims * (2 * n_harmonic_functions + int(append_input))

    def get_output_dim(self, input_dims: int = 3) -> int:
        return self.get_output_dim_static(input_dims, len(self._frequencies), self.append_input)


class HashGridEncoding(nn.Module):
    """Multi-resolution hash encoding (Müller et al. 2022, instant-ngp), in plain torch.

    Points in ``[-1, 1]^D`` (``D`` = 2 or 3) are looked up on ``levels`` grids of
    ``N_l = floor(base_resolution * growth_factor**l)`` cells per axis (``N_l + 1``
    vertices). Each level owns a table of feature vectors of ``features``
    entries: when its ``(N_l + 1)**D`` vertices fit in ``table_size`` rows the
    table has one row per vertex and ``v`` reads row ``v_x + (N_l + 1) v_y (+ ...)``,
    otherwise it has ``table_size`` rows and ``v`` reads the hash
    ``xor_i(v_i * HASH_PRIMES[i]) mod table_size`` (instant-ngp's, the same rows
    as its uint32 arithmetic for a power-of-two ``table_size``). All levels'
    rows are stacked in one ``(rows, features)`` parameter ``table``;
    :meth:`level_table` is level ``l``'s part. The features of the ``2**D``
    corners of a point's cell are blended bi- / trilinearly, so the encoding is
    continuous and equals the table row at a vertex. Levels are concatenated:
    ``(..., D) -> (..., levels * features)``. Points outside the box are clamped.
    Tables start uniform in ``[-1e-4, 1e-4]`` as in instant-ngp. ``sparse``: the table's gradient is a sparse
    tensor of the rows read (``F.embedding(sparse=True)``), for :class:`unrender.nerf.RowAdam`: a step then
    costs the rows read, not the table.
    """

    def __init__(
        self,
        in_dim: int = 3,
        levels: int = 16,
        table_size: int = 2**19,
        features: int = 2,
        base_resolution: int = 16,
        growth_factor: float = 1.5,
        sparse: bool = False,
    ):
        super().__init__()
        self.sparse = bool(sparse)
        if in_dim not in (2, 3):
            raise ValueError(f"in_dim: expected 2 or 3, found {in_dim!r}")
        check_positive_int("levels", levels)
        check_positive_int("table_size", table_size)
        check_positive_int("features", features)
        check_positive_int("base_resolution", base_resolution)
        growth_factor = parse_real("growth_factor", growth_factor)
        if growth_factor < 1:
            raise ValueError(f"growth_factor: expected a value >= 1, found {growth_factor}")
        self.in_dim, self.levels, self.table_size, self.features = in_dim, levels, table_size, features
        resolutions = [int(math.floor(base_resolution * growth_factor**l)) for l in range(levels)]
        self.resolutions = tuple(resolutions)
        res = torch.tensor(resolutions, dtype=torch.int64)
        dense = (res + 1).double() ** in_dim <= table_size
        sizes = torch.where(dense, (res + 1) ** in_dim, torch.full_like(res, table_size))
        self.sizes = tuple(sizes.tolist())
        self.table = nn.Parameter(torch.empty(int(sizes.sum()), features).uniform_(-1e-4, 1e-4))
        self.register_buffer("_sizes", sizes, persistent=False)
        self.register_buffer("_offsets", torch.cumsum(sizes, 0) - sizes, persistent=False)
        # per level and axis: the multiplier of a vertex coordinate (row strides when dense, primes when hashed)
        strides = torch.stack([(res + 1) ** i for i in range(in_dim)], 1)
        primes = torch.tensor(HASH_PRIMES[:in_dim], dtype=torch.int64).expand(levels, in_dim)
        self.register_buffer("_res", res, persistent=False)
        self.register_buffer("_dense", dense, persistent=False)
        self._all_dense, self._any_dense = bool(dense.all()), bool(dense.any())
        self.register_buffer("_mult", torch.where(dense[:, None], strides, primes), persistent=False)

    def get_output_dim(self, input_dims: int | None = None) -> int:
        if input_dims is not None and input_dims != self.in_dim:
            raise ValueError(f"input_dims: expected {self.in_dim} (this encoding's in_dim), found {input_dims}")
        return self.levels * self.features

    def level_table(self, level: int) -> torch.Tensor:
        """Level ``level``'s rows of ``table``: ``(sizes[level], features)``."""
        start = sum(self.sizes[:level])
        return self.table[start : start + self.sizes[level]]

    def grid_index(self, vertices: torch.Tensor) -> torch.Tensor:
        """Rows in each level's table of integer vertices: ``vertices: (L, ..., D)`` int64 (level ``l`` in
        ``[0, N_l]``) -> ``(L, ...)``."""
        shape = (self.levels,) + (1,) * (vertices.dim() - 2)
        mult = self._mult.view(*shape, self.in_dim)
        prod = vertices * mult
        dense = prod.sum(-1)
        hashed = prod[..., 0]
        for i in range(1, self.in_dim):
            hashed = hashed ^ prod[..., i]
        return torch.where(self._dense.view(shape), dense, hashed % self._sizes.view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (..., D)`` float in ``[-1, 1]`` -> ``(..., levels * features)``."""
        check_tensor("x", x, ["...", self.in_dim], floating=True)
        lead = x.shape[:-1]
        u = ((x.reshape(-1, self.in_dim) + 1) * 0.5).clamp(0, 1)  # (N, D)
        pos = u[None] * self._res.to(u.dtype)[:, None, None]  # (L, N, D)
        cell = pos.detach().floor().long().clamp_max(self._res[:, None, None] - 1).clamp_min(0)
        frac = pos - cell  # (L, N, D), carries the gradient with respect to x
        # per axis the two vertex coordinates and weights of the cell, (L, N, 2); corner c = sum_i bit_i 2^i
        # is the flattened (2,) * D outer combination with the last axis fastest (grid_index's rows, fewer ops)
        two = torch.arange(2, device=x.device)
        mult = self._mult[:, None, :, None]  # (L, 1, D, 1)
        terms = (cell[..., None] + two) * mult  # (L, N, D, 2)
        w_axis = torch.stack([1 - frac, frac], -1)  # (L, N, D, 2)
        dense_rows = hashed = weights = None
        for i in range(self.in_dim):
            view = (slice(None), slice(None)) + (None,) * (self.in_dim - 1 - i) + (slice(None),) + (None,) * i
            t, w = terms[:, :, i][view], w_axis[:, :, i][view]
            if self._any_dense:
                dense_rows = t if dense_rows is None else dense_rows + t
            if not self._all_dense:
                hashed = t if hashed is None else hashed ^ t
            weights = w if weights is None else weights * w
        shape = (self.levels, 1) + (1,) * self.in_dim
        if self._all_dense:  # e.g. a VoxelGridField: no hash to compute
            rows = dense_rows
        else:
            hashed = hashed % self._sizes.view(shape)
            rows = torch.where(self._dense.view(shape), dense_rows, hashed) if self._any_dense else hashed
        rows = (rows + self._offsets.view(shape)).reshape(self.levels, -1, 2**self.in_dim)  # (L, N, 2^D)
        weights = weights.reshape(rows.shape)
        feats = F.embedding(rows, self.table, sparse=self.sparse)  # (L, N, 2^D, F)
        out = (feats * weights[..., None].to(feats.dtype)).sum(2)  # (L, N, F)
        return out.permute(1, 0, 2).reshape(*lead, self.levels * self.features)

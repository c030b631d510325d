"""The mesh rasteriser's engine: which faces cover which pixels, and the gradients.

:func:`rasterize_faces` finds, for every pixel, the ``K`` faces nearest in
depth that cover it (hard, ``blur_radius = 0``) or that lie within
``blur_radius`` of it (soft, SoftRas style), with their depth, barycentric
coordinates and signed squared distance. The public layer
(:mod:`unrender.render.mesh.rasterizer`: ``rasterize_meshes``,
``MeshRasterizer``) checks the arguments and calls it.

How it is computed (no compiled extension, no Python loop over faces or
pixels; work grows with the pixels each face covers, not with pixels x faces
as in PyTorch3D's CPU kernel):

1. **Which faces reach which pixels** (no autograd). Each face's bounding box,
   grown by ``sqrt(blur_radius)``, becomes an exact range of pixel rows and
   columns (``searchsorted`` on the pixel centres). Faces are grouped by the
   size of that range (rounded up to a ladder of sizes) and every group is
   tested on a dense ``(faces, rows, columns)`` grid in which per-face terms
   broadcast; barycentrics, depth and distance of the hits are kept.
2. **Which K per pixel.** ``K = 1``: ``scatter_reduce(amin)`` of a packed
   (depth, face) integer key. ``K > 1``: a sort of packed (pixel, depth) keys
   and a rank from per-pixel counts. Depth ties go to the lower face index,
   as in PyTorch3D. Candidates stream through a bounded running top-K.
3. **Gradients.** The kept values are attached to the vertices by a custom
   autograd function whose backward (:func:`_raster_pairs.pair_grads`, the
   exact derivative, tested against autograd) recomputes per pair in chunks:
   no per-pair autograd graph is stored.

On a CPU with several torch threads, steps 1 and 3 run as small tasks (every
op below torch's parallel grain size) spread over Python threads, instead of
one parallel region per op: the same speed on an idle machine, and far less
slowdown when other processes compete for the cores.

Conventions: PyTorch3D's screen, from :mod:`unrender.screen` (+X left, +Y
up, the shorter image side spanning NDC [-1, 1], row 0 the top of the
image, column 0 its left, pixel centres ``PixToNonSquareNdc``). The per-pair
arithmetic repeats PyTorch3D's float32 operation order, so coverage, depths,
barycentrics and distances agree with it bit for bit in float32.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch

from ...screen import pixel_centers_ndc
from ._raster_clip import clip_faces_z
from ._raster_pairs import EPS, bary_area, pair_grads, pair_terms, triangle_dist

__all__ = ["rasterize_faces"]

# Grid cells (pixel x face) evaluated at once, and pairs per chunk of the
# backward pass: they bound the transient memory (a few hundred MB at most).
_GRID_CELLS = 1 << 20
_BACKWARD_PAIRS = 1 << 18
# On a multi-threaded CPU the work is instead cut into tasks small enough that
# every torch op in them runs on the calling thread (below torch's parallel
# grain size of 32768 elements), and the tasks are spread over Python threads
# (torch ops release the GIL). Few synchronisation points instead of one per
# op: much less sensitive to other processes competing for the cores.
_TASK_ELEMS = (1 << 15) - 1
_TASKS_PER_WAVE = 16


def _n_workers(device) -> int:
    return max(1, min(torch.get_num_threads(), 8)) if torch.device(device).type == "cpu" else 1


@contextmanager
def _task_runner(workers: int):
    """Yield ``run(fn, tasks) -> [fn(t) for t in tasks]``, spread over
    ``workers`` threads when > 1 (a pool per rasteriser call, so nothing goes
    stale across ``fork``)."""
    if workers <= 1:
        yield lambda fn, tasks: [fn(t) for t in tasks]
        return

    def run(fn, tasks):
        def call(t):
            with torch.no_grad():  # grad mode is thread-local
                return fn(t)

        return list(pool.map(call, tasks)) if len(tasks) > 1 else [fn(t) for t in tasks]

    with ThreadPoolExecutor(workers) as pool:
        yield run


# ----------------------------------------------------------------- helpers
def _backward_pairs(fv9, face, px, py, inside, g_bary, g_pz, g_dist, opts):
    """``(F, 9)`` gradient of the face vertices from per-pair upstream
    gradients (any may be None), computed in chunks of pairs."""
    fvT = fv9.detach().t().contiguous()  # (9, F): one contiguous row per coordinate
    outT = torch.zeros_like(fvT)
    workers = _n_workers(fv9.device)
    step = _BACKWARD_PAIRS if workers == 1 else min(_BACKWARD_PAIRS, _TASK_ELEMS)

    def chunk(s):
        sl = slice(s, s + step)
        g = pair_grads(px[sl], py[sl], fvT[:, face[sl]], inside[sl],
                       None if g_bary is None else g_bary[sl],
                       None if g_pz is None else g_pz[sl],
                       None if g_dist is None else g_dist[sl], *opts)
        return sl, g

    starts = list(range(0, face.numel(), step))
    wave = _TASKS_PER_WAVE * workers
    with _task_runner(workers) as run:
        for w in range(0, len(starts), wave):
            for sl, g in run(chunk, starts[w:w + wave]):
                for i, gi in enumerate(g):
                    if gi is not None:
                        outT[i].index_add_(0, face[sl], gi)
    return outT.t()


def _dense_outputs(vals, slot, shape):
    """``zbuf (*shape)``, ``bary_coords (*shape, 3)``, ``dists (*shape)`` with
    the pair values ``vals (P, 6)`` at flat ``slot (P,)`` and -1 elsewhere."""
    dtype, device = vals.dtype, vals.device
    n = int(np.prod(shape))
    zbuf = torch.full((n,), -1.0, dtype=dtype, device=device).index_put_((slot,), vals[:, 3])
    dists = torch.full((n,), -1.0, dtype=dtype, device=device).index_put_((slot,), vals[:, 4])
    bary = torch.full((n, 3), -1.0, dtype=dtype, device=device).index_put_((slot,), vals[:, :3])
    return zbuf.view(shape), bary.view(*shape, 3), dists.view(shape)


class _DenseValues(torch.autograd.Function):
    """Selected pair values -> dense ``zbuf, bary_coords, dists`` with -1 in
    empty slots, differentiable with respect to the face vertices ``fv9``.

    The values come from the selection (no autograd graph over the pairs is
    kept); the backward gathers the upstream gradients of the occupied slots
    and applies the exact hand-written derivative of
    :func:`_raster_pairs.pair_grads`, recomputed in chunks of pairs.
    """

    @staticmethod
    def forward(ctx, fv9, vals, face, px, py, slot, shape, opts):
        ctx.save_for_backward(fv9, face, px, py, vals[:, 5] > 0, slot)
        ctx.opts = opts
        ctx.set_materialize_grads(False)
        return _dense_outputs(vals, slot, shape)

    @staticmethod
    def backward(ctx, g_zbuf, g_bary, g_dists):
        fv9, face, px, py, inside, slot = ctx.saved_tensors
        if g_zbuf is None and g_bary is None and g_dists is None:
            return (None,) * 8
        gz = None if g_zbuf is None else g_zbuf.reshape(-1)[slot]
        gb = None if g_bary is None else g_bary.reshape(-1, 3)[slot]
        gd = None if g_dists is None else g_dists.reshape(-1)[slot]
        return (_backward_pairs(fv9, face, px, py, inside, gb, gz, gd, ctx.opts),) + (None,) * 7


class _PairValues(torch.autograd.Function):
    """Per-pair ``(bary, pz, dist)`` from the selection's values, with the
    hand-written backward (used when clipped faces need further autograd)."""

    @staticmethod
    def forward(ctx, fv9, vals, face, px, py, opts):
        ctx.save_for_backward(fv9, face, px, py, vals[:, 5] > 0)
        ctx.opts = opts
        ctx.set_materialize_grads(False)
        return vals[:, :3].clone(), vals[:, 3].clone(), vals[:, 4].clone()

    @staticmethod
    def backward(ctx, g_bary, g_pz, g_dist):
        fv9, face, px, py, inside = ctx.saved_tensors
        if g_bary is None and g_pz is None and g_dist is None:
            return (None,) * 6
        return (_backward_pairs(fv9, face, px, py, inside, g_bary, g_pz, g_dist, ctx.opts),) + (None,) * 5


def _bits(z: torch.Tensor) -> torch.Tensor:
    """int64 keys ordered as the non-negative depths ``z`` (float32 bit patterns)."""
    z = z.to(torch.float32) + 0.0  # -0.0 -> +0.0
    return z.view(torch.int32).to(torch.int64)


def _size_ladder(n: int, device) -> torch.Tensor:
    """Grid sizes 1, 2, 3, 4, 6, 8, 12, 16, ... up to >= n (steps of at most 1.5x)."""
    sizes, a = [1, 2, 3], 4
    while sizes[-1] < n:
        sizes += [a, a * 3 // 2]
        a *= 2
    return torch.tensor(sizes, dtype=torch.int64, device=device)


def _select(fv, face_mesh, neighbor, N, H, W, K, blur_radius, perspective_correct, clip_barycentric_coords,
            cull_backfaces, xs_col, ys_row):
    """Steps 1 and 2 (no autograd): the selected pairs and their values.

    ``fv (F, 3, 3)`` detached face vertices in NDC; ``xs_col (W,)`` x of each
    output column, ``ys_row (H,)`` y of each output row. Returns ``pix (P,)``
    flat index into ``(N, H, W)``, ``face (P,)``, ``rank (P,)`` (0 = nearest)
    and ``vals (P, 6)``: ``b0 b1 b2 pz signed_dist inside`` (the distance is
    left 0 in hard mode, where the caller computes it for the winners only).

    Faces are grouped by the size of their pixel box (rounded up to a size
    ladder) and each group is evaluated on a dense ``(faces, By, Bx)`` grid in
    which the per-face terms broadcast, so there is no per-pair gather of face
    data and many operations run on ``(faces, 1, Bx)`` or ``(faces, By, 1)``
    tensors.
    """
    device, dtype = fv.device, fv.dtype
    F = fv.shape[0]
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    nothing = empty, empty, empty, torch.zeros(0, 6, dtype=dtype, device=device)
    if F == 0 or N * H * W == 0:
        return nothing
    fv9 = fv.reshape(F, 9)
    x0, y0, z0, x1, y1, z1, x2, y2, z2 = fv9.unbind(1)
    # Face filters of the C++ kernel: culling, zero area, a vertex behind the camera.
    face_area = (x0 - x1) * (y2 - y1) - (y0 - y1) * (x2 - x1)
    fa = face_area.double()
    keep = (fa > EPS) | (fa < -EPS)
    if cull_backfaces:
        keep &= ~(face_area < 0)
    keep &= ~(fv[:, :, 2].min(1).values.double() < EPS)
    area = bary_area(x0, y0, x1, y1, x2, y2)
    keep &= area != 0
    # Bounding boxes grown by sqrt(blur) (float32, as in C++) -> exact pixel ranges.
    r = float(np.sqrt(np.float32(blur_radius)))
    xs_asc, ys_asc = xs_col.flip(0).contiguous(), ys_row.flip(0).contiguous()
    ix0 = torch.searchsorted(xs_asc, (fv[:, :, 0].min(1).values - r).to(xs_asc.dtype).contiguous(), side="left")
    ix1 = torch.searchsorted(xs_asc, (fv[:, :, 0].max(1).values + r).to(xs_asc.dtype).contiguous(), side="right") - 1
    iy0 = torch.searchsorted(ys_asc, (fv[:, :, 1].min(1).values - r).to(ys_asc.dtype).contiguous(), side="left")
    iy1 = torch.searchsorted(ys_asc, (fv[:, :, 1].max(1).values + r).to(ys_asc.dtype).contiguous(), side="right") - 1
    nx, ny = ix1 - ix0 + 1, iy1 - iy0 + 1
    keep &= (nx > 0) & (ny > 0)
    faces = torch.nonzero(keep).flatten()
    if faces.numel() == 0:
        return nothing
    nx, ny = nx[faces], ny[faces]
    col0 = (W - 1) - ix1[faces]  # leftmost output column (largest x)
    row0 = (H - 1) - iy1[faces]  # top output row (largest y)

    workers = _n_workers(device)
    cells = _GRID_CELLS if workers == 1 else _TASK_ELEMS
    # Units: a face, or a band of rows of a face whose box is large.
    rows_per_unit = torch.clamp(cells // nx, min=1)
    n_bands = (ny + rows_per_unit - 1) // rows_per_unit
    uf = torch.repeat_interleave(torch.arange(faces.numel(), device=device), n_bands)
    band = torch.arange(uf.numel(), device=device) - torch.repeat_interleave(torch.cumsum(n_bands, 0) - n_bands, n_bands)
    u_row0 = row0[uf] + band * rows_per_unit[uf]
    u_ny = torch.minimum(rows_per_unit[uf], ny[uf] - band * rows_per_unit[uf])
    u_nx, u_col0, u_face = nx[uf], col0[uf], faces[uf]
    # Group units by rounded grid size.
    ladder = _size_ladder(max(int(u_nx.max()), int(u_ny.max())), device)
    L = ladder.numel()
    group = torch.searchsorted(ladder, u_nx) * L + torch.searchsorted(ladder, u_ny)
    order = torch.sort(group, stable=True).indices
    group_ids, group_sizes = torch.unique_consecutive(group[order], return_counts=True)

    table = torch.stack([x0, y0, z0, x1, y1, z1, x2, y2, z2, area], 1)
    soft = blur_radius > 0
    blur = float(np.float32(blur_radius))
    HW = H * W
    # Pixel centres with a NaN past the last pixel: grid cells beyond a face's
    # box read it, and NaN fails every coverage test (no separate mask needed).
    nan = torch.full((1,), float("nan"), dtype=dtype, device=device)
    xs_pad, ys_pad = torch.cat([xs_col, nan]), torch.cat([ys_row, nan])

    def grid_task(task):
        """Hits of units ``order[b0:b1]`` on their ``(U, By, Bx)`` grid:
        ``(pix, face, depth key, vals)`` or None."""
        Bx, By, b0, b1 = task
        u = order[b0:b1]
        ax = torch.arange(Bx, device=device)
        ay = torch.arange(By, device=device)
        ufc, ucol0, urow0 = u_face[u], u_col0[u], u_row0[u]
        cols = torch.where(ax < u_nx[u][:, None], ucol0[:, None] + ax, W)
        rows = torch.where(ay < u_ny[u][:, None], urow0[:, None] + ay, H)
        px = xs_pad[cols][:, None, :]  # (U, 1, Bx)
        py = ys_pad[rows][:, :, None]  # (U, By, 1)
        c = table[ufc][:, :, None, None].unbind(1)  # per-face (U, 1, 1) columns
        (b0_, b1_, b2_), pz, inside, dist = pair_terms(px, py, c, perspective_correct, clip_barycentric_coords, soft)
        hit = ~(pz < 0) & ((inside | (dist < blur)) if soft else inside)
        idx = torch.nonzero(hit.view(-1)).flatten()
        if idx.numel() == 0:
            return None
        k = idx // (Bx * By)
        rem = idx - k * (Bx * By)
        dy = rem // Bx
        face = ufc[k]
        pix = face_mesh[face] * HW + (urow0[k] + dy) * W + ucol0[k] + (rem - dy * Bx)
        ins = inside.reshape(-1)[idx]
        if soft:
            d = dist.reshape(-1)[idx]
            sd = torch.where(ins, -d, d)
        else:
            sd = torch.zeros(idx.numel(), dtype=dtype, device=device)
        vals = torch.stack([b0_.reshape(-1)[idx], b1_.reshape(-1)[idx], b2_.reshape(-1)[idx],
                            pz.reshape(-1)[idx], sd, ins.to(dtype)], 1)
        return pix, face, _bits(vals[:, 3]), vals

    tasks = []
    group_starts = (torch.cumsum(group_sizes, 0) - group_sizes).tolist()
    for gid, g0, gn in zip(group_ids.tolist(), group_starts, group_sizes.tolist()):
        Bx, By = int(ladder[gid // L]), int(ladder[gid % L])
        per_task = max(1, cells // (Bx * By))
        tasks += [(Bx, By, b0, min(b0 + per_task, g0 + gn)) for b0 in range(g0, g0 + gn, per_task)]

    acc = _Accumulator(N * HW, K, device, dtype)
    if neighbor is not None:
        acc.dedupe = lambda pix, face, vals: _nearer_half(pix, face, vals, neighbor, fv9, xs_col, ys_row, H, W, soft)
    wave = _TASKS_PER_WAVE * workers
    with _task_runner(workers) as run:
        for w in range(0, len(tasks), wave):
            for res in run(grid_task, tasks[w:w + wave]):
                if res is not None:
                    acc.add(*res)
    return acc.result()


class _Accumulator:
    """Running K nearest (pixel, face) pairs per pixel over streamed batches,
    by depth; ties go to the lower face index (PyTorch3D orders ``(z, face)``
    tuples). Memory is bounded by reducing when the stream grows large."""

    def __init__(self, n_pix: int, K: int, device, dtype):
        self.n_pix, self.K, self.device, self.dtype = n_pix, K, device, dtype
        self.parts: list = []
        self.count = 0
        self.limit = max(2 * n_pix * K, 1 << 22)
        self.dedupe = None  # optional (pix, face, vals) -> keep mask, applied before ranking

    def add(self, pix, face, zkey, vals):
        if pix.numel():
            self.parts.append((pix, face, zkey, vals))
            self.count += pix.numel()
            if self.count > self.limit:
                pix, face, zkey, vals, _ = self._reduce()
                self.parts, self.count = [(pix, face, zkey, vals)], pix.numel()

    def result(self):
        if not self.parts:
            e = torch.zeros(0, dtype=torch.int64, device=self.device)
            return e, e, e, torch.zeros(0, 6, dtype=self.dtype, device=self.device)
        pix, face, _, vals, rank = self._reduce()
        return pix, face, rank, vals

    def _reduce(self):
        if len(self.parts) == 1:
            pix, face, zkey, vals = self.parts[0]
        else:
            pix, face, zkey, vals = (torch.cat(t) for t in zip(*self.parts))
        if self.dedupe is not None:
            k = self.dedupe(pix, face, vals)
            pix, face, zkey, vals = pix[k], face[k], zkey[k], vals[k]
        if self.K == 1:
            key = (zkey << 32) | face
            best = torch.full((self.n_pix,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=pix.device)
            best.scatter_reduce_(0, pix, key, reduce="amin")
            k = torch.nonzero(key == best[pix]).flatten()
            return pix[k], face[k], zkey[k], vals[k], torch.zeros_like(k)
        if self.n_pix < (1 << 32):
            key, order = torch.sort((pix << 31) | zkey)
            # Runs of equal (pixel, depth): order them by face.
            tie = key[1:] == key[:-1]
            if bool(tie.any()):
                m = torch.zeros(key.numel(), dtype=torch.bool, device=key.device)
                m[1:] |= tie
                m[:-1] |= tie
                at = torch.nonzero(m).flatten()
                e = order[at]
                e = e[torch.sort(face[e], stable=True).indices]
                e = e[torch.sort((pix[e] << 31) | zkey[e], stable=True).indices]
                order[at] = e
        else:  # the packed key would overflow: three stable sorts
            order = torch.sort(face, stable=True).indices
            order = order[torch.sort(zkey[order], stable=True).indices]
            order = order[torch.sort(pix[order], stable=True).indices]
        pix = pix[order]
        counts = torch.bincount(pix, minlength=self.n_pix)
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(pix.numel(), device=pix.device) - first[pix]
        k = torch.nonzero(rank < self.K).flatten()
        order = order[k]
        return pix[k], face[order], zkey[order], vals[order], rank[k]


def _nearer_half(pix, face, vals, neighbor, fv9, xs_col, ys_row, H, W, soft):
    """Mask over pairs: where both halves of a clipped face reach a pixel,
    keep only the one nearer to it (PyTorch3D keeps the earlier half unless
    the later one is strictly nearer)."""
    keep = torch.ones(pix.numel(), dtype=torch.bool, device=pix.device)
    nb = neighbor[face]
    split = torch.nonzero(nb >= 0).flatten()
    if split.numel() == 0:
        return keep
    sp, sf, sn = pix[split], face[split], nb[split]
    if soft:
        dist = vals[split, 4].abs()
    else:  # hard mode carries no distances
        local = sp % (H * W)
        dist = triangle_dist(xs_col[local % W], ys_row[local // W], *fv9[sf][:, [0, 1, 3, 4, 6, 7]].unbind(1))
    _, inv = torch.unique(torch.stack([sp, torch.minimum(sf, sn)], 1), dim=0, return_inverse=True)
    key = (_bits(dist) << 1) | (sf > sn).to(torch.int64)
    best = torch.full((int(inv.max()) + 1,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=pix.device)
    best.scatter_reduce_(0, inv, key, reduce="amin")
    keep[split[key != best[inv]]] = False
    return keep


# -------------------------------------------------------------------- entry
def rasterize_faces(fv: torch.Tensor, face_mesh: torch.Tensor, N: int, H: int, W: int, K: int, blur_radius: float,
                    perspective_correct: bool, clip_barycentric_coords: bool, cull_backfaces: bool,
                    z_clip_value: float | None):
    """The rasteriser on checked arguments (see ``rasterize_meshes``).

    ``fv (F, 3, 3)`` face vertices (x, y in NDC, z the view depth; may require
    grad), ``face_mesh (F,)`` int64 mesh of each face in ``[0, N)``. Returns
    ``pix_to_face (N, H, W, K)`` int64 (index into ``fv``), ``zbuf``,
    ``bary_coords (N, H, W, K, 3)`` and ``dists``, -1 in empty slots; the
    last three differentiable in ``fv`` through the hand-written backward.
    """
    device, dtype = fv.device, fv.dtype
    source = neighbor = to_original = None
    if z_clip_value is not None and bool((fv.detach()[:, :, 2] < z_clip_value).any()):
        clipped = clip_faces_z(fv, z_clip_value, perspective_correct)
        fv, source, to_original = clipped.face_verts, clipped.source, clipped.to_original
        face_mesh = face_mesh[source]
        neighbor = clipped.neighbor if bool((clipped.neighbor >= 0).any()) else None

    # x of output column c, y of output row r (decreasing), in float32 as in PyTorch3D
    xs_col, ys_row = (t.to(dtype) for t in pixel_centers_ndc(H, W, torch.float32, device))
    with torch.no_grad():
        pix, face, rank, vals = _select(fv.detach(), face_mesh, neighbor, N, H, W, K, blur_radius,
                                        perspective_correct, clip_barycentric_coords, cull_backfaces, xs_col, ys_row)

    # Step 3: dense outputs, differentiable through the hand-written backward.
    local = pix % (H * W)
    px, py = xs_col[local % W], ys_row[local // W]
    if blur_radius == 0:  # hard mode: distances only for the winners (all inside)
        c = fv.detach().reshape(-1, 9)[face][:, [0, 1, 3, 4, 6, 7]].unbind(1)
        vals[:, 4] = -triangle_dist(px, py, *c)
    slot = pix * K + rank
    shape = (N, H, W, K)
    fv9 = fv.reshape(-1, 9)
    track = fv9.requires_grad and torch.is_grad_enabled()
    opts = (perspective_correct, clip_barycentric_coords)
    if to_original is None:
        if track:
            zbuf, bary_coords, dists = _DenseValues.apply(fv9, vals, face, px, py, slot, shape, opts)
        else:
            zbuf, bary_coords, dists = _dense_outputs(vals, slot, shape)
    else:
        # Clipped faces: barycentrics go back to the original faces through
        # matrices that depend on the vertices too, so plain autograd here.
        bary, pz, dist = vals[:, :3], vals[:, 3], vals[:, 4]
        if track:
            bary, pz, dist = _PairValues.apply(fv9, vals, face, px, py, opts)
        bary = (to_original[face] @ bary.unsqueeze(-1)).squeeze(-1)
        n_slots = N * H * W * K
        zbuf = torch.full((n_slots,), -1.0, dtype=dtype, device=device).index_put_((slot,), pz).view(shape)
        dists = torch.full((n_slots,), -1.0, dtype=dtype, device=device).index_put_((slot,), dist).view(shape)
        bary_coords = torch.full((n_slots, 3), -1.0, dtype=dtype, device=device).index_put_((slot,), bary)
        bary_coords = bary_coords.view(*shape, 3)
        face = source[face]
    pix_to_face = torch.full((N * H * W * K,), -1, dtype=torch.int64, device=device).index_put_((slot,), face)
    return pix_to_face.view(shape), zbuf, bary_coords, dists

"""K nearest neighbours between batched point clouds, exact and memory bounded.

``knn_points`` has the contract of ``pytorch3d.ops.knn_points`` but needs no
compiled extension. It works in two steps:

1. **Which neighbours** (no autograd). Small problems score all pairs of a
   batch at once with one matmul per chunk of rows, using
   ``|x - y|^2 = |x|^2 - 2 x.y + |y|^2`` on clouds centred at their common
   mean (the trick loses precision far from the origin). Large problems are
   split by a balanced k-d partition into blocks of nearby points; an upper
   bound on each query block's K-th neighbour distance (from its nearest
   target blocks) prunes every target block whose bounding box lies farther
   away, and the surviving block pairs are scored in tiles of at most
   ``chunk_bytes``, each centred on its query block. Both paths keep one
   spare candidate per point and re-rank the candidates by exact distance,
   so the rounding of the matmul trick changes the answer only if two other
   points lie within that rounding of the true neighbour's distance. For
   ordinary 2-D and 3-D clouds this scores a small fraction of all pairs,
   with memory bounded by ``chunk_bytes`` plus ``O(P)`` buffers.
   On the CPU, where SciPy is importable (it is optional), these large
   low-dimensional problems go to its ``cKDTree`` instead (several times
   faster than the blocks there; ``O(P)`` memory), which ranks in float64;
   neighbours at nearly equal distances are re-sorted by exact
   distance in the points' own dtype, ties to the lower index.
   GPU tensors, and CPUs without SciPy, keep the blocks.
2. **How far** (differentiable). The chosen neighbours are gathered and their
   distances recomputed exactly as ``sum((p1 - p2[idx])**2)`` (or ``sum |.|``
   for ``norm=1``), so values match PyTorch3D's direct formula and gradients
   reach both ``p1`` and ``p2`` through ordinary autograd.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import torch

from .._validate import check_finite, check_lengths, check_positive_int, check_same_batch, check_tensor

__all__ = ["KNN", "knn_points", "knn_gather", "knn_indices", "point_distances", "check_chunk_bytes", "DEFAULT_CHUNK_BYTES"]

KNN = namedtuple("KNN", "dists idx knn")
KNN.__doc__ = """Result of :func:`knn_points`: ``dists (B, P1, K)``, ``idx (B, P1, K)`` int64, ``knn (B, P1, K, D)`` or None."""

#: Largest score tile (bytes) held at once; tiles, not clouds, set the peak memory.
DEFAULT_CHUNK_BYTES = 32 * 2**20

# Below this many pairs per batch element every pair is scored (one batched
# matmul per chunk); above it the k-d block pruning pays for its setup.
_ALL_PAIRS_MAX = 2**22
# Pruning only helps in low dimension; in higher D box bounds prune little.
# (The same bound picks SciPy's k-d tree on the CPU.)
_PRUNE_MAX_DIM = 4
# On the CPU with SciPy, its k-d tree takes every cloud above this many pairs
# (it beats scoring all pairs from a few hundred points up).
_TREE_MIN_PAIRS = 2**16


# --------------------------------------------------------------------------- API
def knn_points(
    p1: torch.Tensor,
    p2: torch.Tensor,
    lengths1: torch.Tensor | None = None,
    lengths2: torch.Tensor | None = None,
    norm: int = 2,
    K: int = 1,
    version: int = -1,
    return_nn: bool = False,
    return_sorted: bool = True,
    *,
    chunk_bytes: int | None = None,
) -> KNN:
    """K nearest neighbours in ``p2`` of every point of ``p1``.

    Args:
        p1: ``(B, P1, D)`` float, query clouds.
        p2: ``(B, P2, D)`` float, target clouds.
        lengths1: ``(B,)`` int64 in ``[0, P1]``, valid points per query cloud
            (``None``: all ``P1``).
        lengths2: ``(B,)`` int64 in ``[0, P2]``, valid points per target cloud.
        norm: 2 for squared Euclidean distances, 1 for L1 distances.
        K: neighbours per point, ``>= 1``.
        version: accepted for PyTorch3D call compatibility and ignored.
        return_nn: also return the neighbour coordinates.
        return_sorted: neighbours always come back sorted by increasing
            distance (PyTorch3D's CPU kernel does the same); the flag is
            accepted for compatibility.
        chunk_bytes: largest score tile in bytes (default
            :data:`DEFAULT_CHUNK_BYTES`); lower it to lower peak memory.

    Returns:
        ``KNN(dists, idx, knn)``:

        * ``dists``: ``(B, P1, K)`` squared distances (``norm=2``) or L1
          distances (``norm=1``), differentiable w.r.t. ``p1`` and ``p2``;
        * ``idx``: ``(B, P1, K)`` int64 indices into ``p2[b]``;
        * ``knn``: ``(B, P1, K, D)`` neighbour coordinates if ``return_nn``,
          else ``None``.

        As in PyTorch3D, entries for padded query points (``i >= lengths1[b]``)
        and for ``k >= lengths2[b]`` hold ``dists = 0`` and ``idx = 0`` (not
        ``-1``), and ``knn`` follows ``knn_gather(p2, idx, lengths2)``.

    Differences from PyTorch3D: float64 inputs are supported (PyTorch3D needs
    float32 on CPU); on exact or float-rounding ties the index chosen may
    differ, the distance does not.
    """
    B, P1, P2, D = _check_pair(p1, p2)
    K = check_positive_int("K", K)
    if isinstance(norm, bool) or norm not in (1, 2):
        raise ValueError(f"norm: expected 1 or 2, found {norm!r}")
    l1 = check_lengths("lengths1", lengths1, B, P1, p1.device)
    l2 = check_lengths("lengths2", lengths2, B, P2, p1.device)
    chunk = check_chunk_bytes(chunk_bytes)

    with torch.no_grad():
        idx = knn_indices(p1.detach(), p2.detach(), l1, l2, K, norm, chunk)

    nn = knn_gather(p2, idx, l2 if lengths2 is not None or K > P2 else None)
    diff = p1[:, :, None, :] - nn
    dists = diff.square().sum(-1) if norm == 2 else diff.abs().sum(-1)
    valid = _valid_mask(l1, l2, P1, K, lengths1 is not None, lengths2 is not None or K > P2)
    if valid is not None:
        dists = torch.where(valid, dists, dists.new_zeros(()))
    return KNN(dists=dists, idx=idx, knn=nn if return_nn else None)


def knn_gather(x: torch.Tensor, idx: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Gather features of neighbours: ``out[b, i, k] = x[b, idx[b, i, k]]``.

    Args:
        x: ``(B, M, U)`` features (e.g. the target points of :func:`knn_points`).
        idx: ``(B, L, K)`` int64 indices into ``x[b]``.
        lengths: ``(B,)`` valid rows per ``x[b]``; where ``k >= lengths[b]``
            the output is zero (as in PyTorch3D).

    Returns:
        ``(B, L, K, U)``, differentiable w.r.t. ``x``.
    """
    check_tensor("x", x, [None, None, None])
    check_tensor("idx", idx, [None, None, None], integer=True)
    B, M, U = x.shape
    if idx.shape[0] != B:
        raise ValueError(f"idx: expected batch size {B} (that of x), found {idx.shape[0]}")
    if idx.device != x.device:
        raise ValueError(f"idx: expected device {x.device} (that of x), found {idx.device}")
    _, L, K = idx.shape
    flat = idx.reshape(B, L * K, 1).to(torch.int64)
    out = x.gather(1, flat.expand(B, L * K, U)).view(B, L, K, U)
    if lengths is not None:
        lengths = check_lengths("lengths", lengths, B, M, x.device)
        if K > int(lengths.min()):
            keep = torch.arange(K, device=x.device)[None, :] < lengths[:, None]  # (B, K)
            out = out * keep[:, None, :, None].to(out.dtype)
    return out


# ----------------------------------------------------------------- validation
def _check_pair(p1, p2) -> tuple[int, int, int, int]:
    check_tensor("p1", p1, [None, None, None], floating=True)
    check_tensor("p2", p2, [None, None, None], floating=True)
    B, P1, D = p1.shape
    check_same_batch("p2", p2, "p1", p1)
    if B == 0:
        raise ValueError("p1: expected at least one cloud, found batch size 0")
    if D == 0:
        raise ValueError("p1: expected points with at least one coordinate, found D = 0")
    if P1 == 0:
        raise ValueError("p1: expected at least one point, found empty clouds (P1 = 0)")
    if p2.shape[1] == 0:
        raise ValueError("p2: expected at least one point, found empty clouds (P2 = 0)")
    check_finite("p1", p1)
    check_finite("p2", p2)
    return B, P1, int(p2.shape[1]), D


def check_chunk_bytes(chunk_bytes) -> int:
    """``chunk_bytes`` checked (an int >= 1), or :data:`DEFAULT_CHUNK_BYTES` for None."""
    if chunk_bytes is None:
        return DEFAULT_CHUNK_BYTES
    return check_positive_int("chunk_bytes", chunk_bytes, minimum=1)


def _valid_mask(l1, l2, P1: int, K: int, ragged1: bool, ragged2: bool) -> torch.Tensor | None:
    """``(B, P1, K)`` bool, False on padding entries, or None when all are valid."""
    dev = l1.device
    mask = None
    if ragged1 and int(l1.min()) < P1:
        mask = (torch.arange(P1, device=dev)[None, :] < l1[:, None])[:, :, None]
    if ragged2 and int(l2.min()) < K:
        m2 = (torch.arange(K, device=dev)[None, :] < l2[:, None])[:, None, :]
        mask = m2 if mask is None else mask & m2
    return mask


# --------------------------------------------------------- neighbour indices
def knn_indices(p1, p2, l1, l2, K: int, norm: int, chunk: int, both: bool = False):
    """``(B, P1, K)`` int64 neighbour indices (0 on padding), no autograd.

    The first step of :func:`knn_points`, for callers that gather and measure
    the neighbours themselves (chamfer). Arguments are already checked:
    ``p1 (B, P1, D)``, ``p2 (B, P2, D)`` detached; ``l1 (B,)``, ``l2 (B,)``
    int64 lengths; ``chunk``: bytes per score tile.

    With ``both`` also the reverse ``(B, P2, K)`` (``p2 -> p1``), sharing the
    block partition of each cloud between the two directions (chamfer).
    Large low-dimensional CPU problems use SciPy's k-d tree where importable.
    """
    B, P1, D = p1.shape
    P2 = p2.shape[1]
    if p1.dtype not in (torch.float32, torch.float64):  # half precision: rank in float32
        p1, p2 = p1.float(), p2.float()
    tree = _scipy_kdtree() if p1.device.type == "cpu" and D <= _PRUNE_MAX_DIM else None
    if P1 * P2 <= (_ALL_PAIRS_MAX if tree is None else min(_ALL_PAIRS_MAX, _TREE_MIN_PAIRS)):
        fwd = _all_pairs_batched(p1, p2, l1, l2, K, norm, chunk)
        return (fwd, _all_pairs_batched(p2, p1, l2, l1, K, norm, chunk)) if both else fwd
    fwd = torch.zeros((B, P1, K), dtype=torch.int64, device=p1.device)
    bwd = torch.zeros((B, P2, K), dtype=torch.int64, device=p1.device) if both else None
    n1, n2 = l1.tolist(), l2.tolist()
    for b in range(B):
        n, m = n1[b], n2[b]
        if n == 0 or m == 0:
            continue
        prune = D <= _PRUNE_MAX_DIM and n * m > _ALL_PAIRS_MAX
        if tree is not None and n * m > _TREE_MIN_PAIRS:
            x, y = p1[b, :n], p2[b, :m]
            x64, y64 = _tree_array(x), _tree_array(y)
            fwd[b, :n] = _knn_tree(x, x64, y, tree(y64), K, norm)
            if both:
                bwd[b, :m] = _knn_tree(y, y64, x, tree(x64), K, norm)
            continue
        bs = _block_size(n, m, prune)
        xb = _Blocks(p1[b, :n], _kd_order(p1[b, :n], bs) if prune else None, bs)
        yb = _Blocks(p2[b, :m], _kd_order(p2[b, :m], bs) if prune else None, bs)
        fwd[b, :n] = _knn_blocks(xb, yb, K, norm, chunk, prune)
        if both:
            bwd[b, :m] = _knn_blocks(yb, xb, K, norm, chunk, prune)
    return (fwd, bwd) if both else fwd


def _scipy_kdtree():
    """SciPy's ``cKDTree`` class, or None where SciPy is not importable (it is optional)."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return None
    return cKDTree


def _tree_array(x: torch.Tensor):
    """``(n, D)`` CPU points as the contiguous float64 array a ``cKDTree`` works in."""
    return x.to(torch.float64).contiguous().numpy()


def _knn_tree(q: torch.Tensor, q64, t: torch.Tensor, tree, K: int, norm: int) -> torch.Tensor:
    """``(n, K)`` indices of the K nearest points of ``t (m, D)`` for ``q (n, D)``.

    ``tree``: a ``cKDTree`` of ``t``; ``q64``: ``q`` as a float64 array. The
    tree ranks in float64 (float32 points convert exactly). Rows
    with two neighbours at distances within ``1e-5`` (relative) of each
    other, far above float32 rounding, are re-sorted by exact distance in the
    points' own dtype, ties to the lower index.
    """
    n, m = q.shape[0], t.shape[0]
    k = min(K, m)
    dist, pos = tree.query(q64, k=k, p=norm, workers=torch.get_num_threads())
    pos = torch.from_numpy(pos).to(torch.int64).view(n, k)
    if k > 1:  # (numpy: a few single-threaded passes, no thread-pool round trips)
        rows = torch.from_numpy(np.flatnonzero((dist[:, 1:] - dist[:, :-1] <= 1e-5 * dist[:, 1:]).any(1)))
        if rows.numel():
            sub = pos[rows]
            d = point_distances(q[rows, None, :], t.index_select(0, sub.view(-1)).view(*sub.shape, -1), norm)
            pos[rows] = _exact_order(d, sub, k)
    if k == K:
        return pos
    out = torch.zeros((n, K), dtype=torch.int64)
    out[:, :k] = pos
    return out


def point_distances(x: torch.Tensor, y: torch.Tensor, norm: int) -> torch.Tensor:
    """``(...)`` squared euclidean (``norm=2``) or L1 (``norm=1``) distances of ``x, y (..., D)``."""
    d = x - y
    return d.square().sum(-1) if norm == 2 else d.abs().sum(-1)


def _exact_order(d: torch.Tensor, idx: torch.Tensor, k: int) -> torch.Tensor:
    """Of candidates ``idx (..., c)`` at exact distances ``d``, the ``k`` nearest.

    Ties go to the lower index, as in PyTorch3D.
    """
    if k == 1:  # the smallest index among the exact minima, without sorting
        best = d.amin(-1, keepdim=True)
        return torch.where(d == best, idx, torch.iinfo(idx.dtype).max).amin(-1, keepdim=True)
    idx, o = idx.sort(-1)
    d = d.gather(-1, o)
    o = torch.sort(d, dim=-1, stable=True).indices[..., :k]
    return idx.gather(-1, o)


def _all_pairs_batched(p1, p2, l1, l2, K, norm, chunk) -> torch.Tensor:
    """Score every pair of a (small) batch; padded targets score ``+inf``.

    One spare candidate per point is ranked approximately (matmul trick) and
    the final order comes from exact distances, so rounding of the trick
    cannot swap two neighbours unless three are within rounding of each other.
    """
    B, P1, D = p1.shape
    P2 = p2.shape[1]
    dev, dt = p1.device, p1.dtype
    m1 = torch.arange(P1, device=dev)[None, :] < l1[:, None]
    m2 = torch.arange(P2, device=dev)[None, :] < l2[:, None]
    # Common centre of the valid points of both clouds keeps |x|^2 small.
    tot = (p1 * m1[..., None]).sum(1) + (p2 * m2[..., None]).sum(1)
    centre = (tot / (l1 + l2).clamp_min(1)[:, None].to(dt))[:, None, :]
    x, y = p1 - centre, p2 - centre
    pen = torch.zeros((B, P2), dtype=dt, device=dev).masked_fill_(~m2, math.inf)
    if norm == 2:
        xa = torch.cat([x, torch.ones_like(x[..., :1])], -1)  # (B, P1, D+1)
        ya = torch.cat([-2.0 * y, (y.square().sum(-1) + pen)[..., None]], -1)  # (B, P2, D+1)
    kk = min(K + 1, P2)
    cand = torch.empty((B, P1, kk), dtype=torch.int64, device=dev)
    per_row = P2 * p1.element_size() * 2  # scores + selection temporaries
    bb = min(B, max(1, chunk // (per_row * P1)))
    for b0 in range(0, B, bb):
        b1 = min(B, b0 + bb)
        rows = min(P1, max(1, chunk // (per_row * (b1 - b0))))
        for r0 in range(0, P1, rows):
            r1 = min(P1, r0 + rows)
            if norm == 2:
                s = torch.bmm(xa[b0:b1, r0:r1], ya[b0:b1].transpose(1, 2))
            else:
                s = torch.cdist(x[b0:b1, r0:r1], y[b0:b1], p=1).add_(pen[b0:b1, None, :])
            cand[b0:b1, r0:r1] = s.topk(kk, dim=-1, largest=False, sorted=False).indices
    nn = p2.gather(1, cand.view(B, P1 * kk, 1).expand(B, P1 * kk, D)).view(B, P1, kk, D)
    d = point_distances(p1[:, :, None, :], nn, norm).masked_fill_(cand >= l2[:, None, None], math.inf)
    out = torch.zeros((B, P1, K), dtype=torch.int64, device=dev)
    k = min(K, kk)
    out[..., :k] = _exact_order(d, cand, k)
    bad = (torch.arange(P1, device=dev)[None, :, None] >= l1[:, None, None]) | (
        torch.arange(K, device=dev)[None, None, :] >= l2[:, None, None]
    )
    return out.masked_fill_(bad, 0)


def _kd_order(x: torch.Tensor, bs: int) -> torch.Tensor:
    """Permutation grouping ``(N, D)`` points into compact blocks of ``bs``.

    A balanced k-d split: each segment is halved, at a multiple of ``bs``,
    across its longest side, until segments hold at most ``bs`` points, so
    consecutive runs of ``bs`` points in the result have small, nearly cubic
    bounding boxes. Sorting is by integer keys ``segment * N + rank``, with
    per-axis ranks computed once.
    """
    n, D = x.shape
    dev = x.device
    ar = torch.arange(n, device=dev)
    ranks = torch.empty((D, n), dtype=torch.int64, device=dev)
    for d in range(D):
        ranks[d].scatter_(0, torch.argsort(x[:, d]), ar)
    perm = ar
    seg = torch.zeros(n, dtype=torch.int64, device=dev)
    sizes = torch.full((1,), n, dtype=torch.int64, device=dev)
    flat_ranks = ranks.view(-1)
    while True:
        nb = (sizes + bs - 1) // bs
        if int(nb.max()) <= 1:
            return perm
        pts = x.index_select(0, perm)
        ext = torch.segment_reduce(pts, "max", lengths=sizes, axis=0) - torch.segment_reduce(
            pts, "min", lengths=sizes, axis=0
        )
        axis = ext.argmax(1)
        # (index_select is several times faster than advanced indexing here.)
        key = seg * n + flat_ranks.index_select(0, axis.index_select(0, seg) * n + perm)
        if sizes.shape[0] * n < 2**31:  # int32 keys sort ~3x faster than int64 on CPU
            key = key.to(torch.int32)
        perm = perm.index_select(0, torch.argsort(key))
        left = torch.where(nb > 1, bs * ((nb + 1) // 2), sizes)
        starts = torch.cumsum(sizes, 0) - sizes
        child = seg * 2 + ((ar - starts.index_select(0, seg)) >= left.index_select(0, seg)).long()
        halves = torch.stack([left, sizes - left], 1).view(-1)
        keep = halves > 0
        seg = (torch.cumsum(keep.long(), 0) - 1).index_select(0, child)
        sizes = halves[keep]


class _Blocks:
    """Points reordered (``perm``), padded and cut into ``nb`` blocks of ``bs``.

    Padding repeats the last point so block boxes stay tight; ``pen`` is
    ``+inf`` on padding so a padded target never wins. One extra all-padding
    block (index ``nb``) fills ragged candidate tables.
    """

    def __init__(self, pts: torch.Tensor, perm: torch.Tensor | None, bs: int) -> None:
        n, D = pts.shape
        self.n, self.bs, self.perm = n, bs, perm
        self.nb = -(-n // bs)
        pad = self.nb * bs - n
        srt = pts if perm is None else pts.index_select(0, perm)
        if pad:
            srt = torch.cat([srt, srt[-1:].expand(pad, D)], 0)
        blk = srt.view(self.nb, bs, D)
        self.lo, self.hi = blk.amin(1), blk.amax(1)
        self.pts = torch.cat([blk, blk[-1:]], 0)  # (nb + 1, bs, D)
        self.pen = torch.zeros(self.nb + 1, bs, dtype=pts.dtype, device=pts.device)
        self.pen.view(-1)[n:] = math.inf

    def original(self, pos: torch.Tensor) -> torch.Tensor:
        """Original indices of sorted positions (padding maps to the last point)."""
        pos = pos.clamp_max(self.n - 1)
        return pos if self.perm is None else self.perm[pos]


def _take(pts: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Rows of the flattened ``(..., D)`` points at ``pos (n, c)`` -> ``(n, c, D)``."""
    D = pts.shape[-1]
    return pts.reshape(-1, D).index_select(0, pos.reshape(-1)).view(*pos.shape, D)


def _block_size(n: int, m: int, prune: bool) -> int:
    # Small blocks prune better; the block-pair table (nq x nt) caps at ~4M.
    bs = 64 if prune else 256
    bs = max(bs, 32 * math.ceil(math.sqrt(n * m / 4e6) / 32))
    return min(bs, 32 * math.ceil(max(n, m) / 32))


def _knn_blocks(qb: "_Blocks", tb: "_Blocks", K: int, norm: int, chunk: int, prune: bool) -> torch.Tensor:
    """``(n, K)`` indices of the K nearest target points for every query point.

    ``qb`` / ``tb``: the query ``(n, D)`` and target ``(m, D)`` clouds in
    blocks (k-d ordered when ``prune``, else in input order).
    """
    n, m = qb.n, tb.n
    D = qb.pts.shape[-1]
    dev = qb.pts.device
    k = min(K, m)
    kk = min(k + 1, m)  # one spare candidate for exact re-ranking
    if prune:
        table, counts = _candidate_table(qb, tb, k, kk, norm, chunk)
    else:
        table = torch.arange(tb.nb, device=dev).expand(qb.nb, tb.nb)
        counts = torch.full((qb.nb,), tb.nb, dtype=torch.int64, device=dev)
    pos = _score_table(qb, tb, table, counts, kk, norm, chunk)[:n]  # (n, kk)
    q = qb.pts.view(-1, D)[:n]
    d = point_distances(q[:, None, :], _take(tb.pts, pos), norm).masked_fill_(pos >= m, math.inf)
    res = _exact_order(d, tb.original(pos), k)
    out = torch.zeros((n, K), dtype=torch.int64, device=dev)
    if qb.perm is None:
        out[:, :k] = res
    else:
        out[qb.perm, :k] = res
    return out


def _candidate_table(qb: _Blocks, tb: _Blocks, k: int, kk: int, norm: int, chunk: int):
    """For each query block, the target blocks that may hold one of its k nearest.

    The bound: for every query point, the exact k-th distance within the
    target blocks nearest its block (by box centre); a target block whose box
    lies farther from the query block's box than the block's largest such
    distance cannot contribute. Returns ``(table (nq, C) int64 padded with the
    filler block, counts (nq,))``.
    """
    dev = qb.lo.device
    nq, nt, D = qb.nb, tb.nb, qb.pts.shape[-1]
    a = min(nt, -(-kk // tb.bs) + 1)
    qc, tc = (qb.lo + qb.hi) / 2, (tb.lo + tb.hi) / 2
    near = torch.cdist(qc, tc).topk(a, dim=1, largest=False).indices  # (nq, a)
    pos = _score_table(qb, tb, near, torch.full((nq,), a, device=dev), kk, norm, chunk)
    q = qb.pts[:nq].reshape(-1, D)
    d = point_distances(q[:, None, :], _take(tb.pts, pos), norm).masked_fill_(pos >= tb.n, math.inf)
    kth = d.sort(-1).values[:, k - 1]
    ub = kth.view(nq, qb.bs).amax(1)
    # Slack covers the rounding of box and distance arithmetic.
    big = torch.maximum(torch.maximum(qb.hi.abs(), qb.lo.abs()).amax(), torch.maximum(tb.hi.abs(), tb.lo.abs()).amax())
    ub = ub * (1 + 1e-4) + 1e-6 * (big.square() if norm == 2 else big)
    rows = max(1, chunk // (nt * D * qb.lo.element_size() * 4))
    found = []
    for r0 in range(0, nq, rows):
        r1 = min(nq, r0 + rows)
        gap = torch.maximum(tb.lo[None] - qb.hi[r0:r1, None], qb.lo[r0:r1, None] - tb.hi[None]).clamp_min_(0)
        lb = gap.square().sum(-1) if norm == 2 else gap.sum(-1)
        r, c = (lb <= ub[r0:r1, None]).nonzero(as_tuple=True)
        found.append((r + r0, c))
    r = torch.cat([f[0] for f in found])
    c = torch.cat([f[1] for f in found])
    counts = torch.bincount(r, minlength=nq)
    slot = torch.arange(r.shape[0], device=dev) - (torch.cumsum(counts, 0) - counts)[r]
    table = torch.full((nq, int(counts.max())), nt, dtype=torch.int64, device=dev)
    table[r, slot] = c
    return table, counts


def _score_table(qb: _Blocks, tb: _Blocks, table, counts, kk: int, norm: int, chunk: int) -> torch.Tensor:
    """Approximate ``kk`` nearest of every query point among its block's candidates.

    Query blocks go in order of candidate count so each group pads to a
    similar width; a group's score tile ``(g, bs, C * bs)`` stays under
    ``chunk`` bytes, and a block whose candidates alone exceed it is scored
    in column chunks that are merged. Scores use the matmul trick centred on
    the query block's box, which is accurate to rounding of the block's
    extent, not of the cloud's.

    Returns ``(nq * bs, kk)`` int64 positions into the sorted, padded targets.
    """
    nq, bs, tbs = qb.nb, qb.bs, tb.bs
    dev, dt = qb.pts.device, qb.pts.dtype
    D = qb.pts.shape[-1]
    order = torch.argsort(counts)
    cnt = [max(1, c) for c in counts[order].tolist()]
    out = torch.full((nq, bs, kk), tb.nb * tbs, dtype=torch.int64, device=dev)
    max_cols = max(1, chunk // (bs * tbs * qb.pts.element_size()))  # target blocks per tile row
    buf = torch.empty(min(chunk // qb.pts.element_size(), max(cnt) * bs * tbs * nq) + bs * tbs, dtype=dt, device=dev)
    tflat = tb.pts.view(tb.nb + 1, tbs * D)
    i = 0
    while i < nq:
        g = min(nq - i, max(1, max_cols // cnt[i]))
        while g > 1 and cnt[i + g - 1] * g > max_cols:  # counts ascend: shrink to fit the widest
            g = max(1, max_cols // cnt[i + g - 1])
        ids = order[i:i + g]
        width = cnt[i + g - 1]
        cand = table[ids, :width]
        centre = ((qb.lo[ids] + qb.hi[ids]) * 0.5)[:, None, :]
        xr = qb.pts[ids] - centre  # (g, bs, D)
        xa = torch.cat([xr, torch.ones_like(xr[..., :1])], -1) if norm == 2 else None
        best_s = best_p = None
        for c0 in range(0, width, max_cols):
            cc = cand[:, c0:c0 + max_cols]
            C = cc.shape[1]
            yr = tflat.index_select(0, cc.reshape(-1)).view(g, C * tbs, D).sub_(centre)
            pen = tb.pen.index_select(0, cc.reshape(-1)).view(g, 1, C * tbs)
            if norm == 2:
                ya = torch.cat([yr * -2.0, (yr.square().sum(-1, keepdim=True) + pen.transpose(1, 2))], -1)
                s = torch.bmm(xa, ya.transpose(1, 2), out=buf[: g * bs * C * tbs].view(g, bs, C * tbs))
            else:
                s = torch.cdist(xr, yr, p=1).add_(pen)
            sv, sp = _smallest_in_blocks(s.view(g, bs, C, tbs), min(kk, C * tbs))
            sp = cc.gather(1, (sp // tbs).view(g, -1)).view(sp.shape) * tbs + sp % tbs
            if best_s is None:
                best_s, best_p = sv, sp
            else:
                sv, sp = torch.cat([best_s, sv], -1), torch.cat([best_p, sp], -1)
                best_s, o = sv.topk(min(kk, sv.shape[-1]), dim=-1, largest=False)
                best_p = sp.gather(-1, o)
        out[ids, :, : best_p.shape[-1]] = best_p
        i += g
    return out.view(nq * bs, kk)


def _smallest_in_blocks(s: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest of ``s (g, r, C, b)`` over its last two dims.

    Returns values and flat column indices ``c * b + j``, both ``(g, r, k)``.
    Only block minima (a fast ``amin``) are ranked over everything: the k
    smallest entries lie in the k blocks with the smallest minima, which are
    then searched in full.
    """
    g, r, C, b = s.shape
    kb = min(k, C)
    if kb == C:
        v, j = s.reshape(g, r, C * b).topk(k, dim=-1, largest=False, sorted=False)
        return v, j
    blocks = s.amin(-1).topk(kb, dim=-1, largest=False, sorted=False).indices  # (g, r, kb)
    rows = (torch.arange(g * r, device=s.device).view(g, r, 1) * C + blocks).view(-1)
    sub = s.reshape(g * r * C, b).index_select(0, rows).view(g, r, kb * b)  # faster than gather
    v, j = sub.topk(k, dim=-1, largest=False, sorted=False)
    return v, blocks.gather(2, j // b) * b + j % b

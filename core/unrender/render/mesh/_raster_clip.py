"""Clipping of triangles against the plane ``z = z_clip_value`` before rasterisation.

Perspective projections blow up as a vertex approaches ``z = 0``, so faces that
cross the near plane are cut to the part with ``z >= z_clip_value`` (the
behaviour of PyTorch3D's ``z_clip_value`` option). Per face, with ``b`` the
number of vertices behind the plane:

* ``b = 0``: kept as it is;
* ``b = 3``: dropped;
* ``b = 2``: replaced by the smaller triangle ``(p4, p5, p1)`` in front;
* ``b = 1``: the quadrilateral in front is split into ``(p4, p2, p5)`` and
  ``(p5, p2, p3)``, which are each other's *neighbour*: a pixel may keep only
  one of the two (the one it is closer to).

``p1`` is the vertex alone on its side of the plane, ``p2, p3`` follow it in
the face's winding, ``p4`` (``p5``) is where edge ``p1 p2`` (``p1 p3``) meets
the plane. Clipped faces stay in the order of the faces they come from, so
depth ties still break by original face index. Everything is differentiable
with respect to the vertices (PyTorch3D detaches one of the two interpolation
weights; here both carry gradients).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["ClippedFaces", "clip_faces_z"]


class ClippedFaces(NamedTuple):
    """Result of :func:`clip_faces_z`.

    ``face_verts (F', 3, 3)``; ``source (F',)`` int64 index of the original
    face; ``neighbor (F',)`` int64 index (into the clipped faces) of the other
    half of a split face, or -1; ``to_original (F', 3, 3)`` matrix ``C`` with
    ``bary_original = C @ bary_clipped`` (identity for unclipped faces).
    """

    face_verts: torch.Tensor
    source: torch.Tensor
    neighbor: torch.Tensor
    to_original: torch.Tensor


def _edge_point(pa, pb, za, zb, clip: float, perspective_correct: bool):
    """Point where segment ``a -> b`` crosses ``z = clip`` and its weight on ``b``.

    With a perspective camera x and y are NDC (divided by depth): they are
    interpolated in view space and projected again at depth ``clip``.
    """
    w = (za - clip) / (za - zb)
    p = pa * (1 - w[:, None]) + pb * w[:, None]
    if perspective_correct:
        xy = (pa[:, :2] * za[:, None] * (1 - w[:, None]) + pb[:, :2] * zb[:, None] * w[:, None]) / clip
        p = torch.cat([xy, p[:, 2:]], 1)
    return p, w


def clip_faces_z(face_verts: torch.Tensor, z_clip_value: float, perspective_correct: bool) -> ClippedFaces:
    """Clip ``(F, 3, 3)`` face vertices (x, y in NDC, z = view depth) to ``z >= z_clip_value``."""
    F = face_verts.shape[0]
    device, dtype = face_verts.device, face_verts.dtype
    behind = face_verts[:, :, 2].detach() < z_clip_value
    nb = behind.sum(1)
    n_out = torch.where(nb == 3, 0, torch.where(nb == 1, 2, 1))  # clipped faces per face
    source = torch.repeat_interleave(torch.arange(F, device=device), n_out)
    first = torch.cumsum(n_out, 0) - n_out  # index of each face's first clipped face
    Fc = int(source.shape[0])
    eye = torch.eye(3, dtype=dtype, device=device)

    out = face_verts[source]
    conv = eye.expand(Fc, 3, 3).clone()
    neighbor = torch.full((Fc,), -1, dtype=torch.int64, device=device)

    for case in (2, 1):  # two vertices behind -> one triangle; one behind -> two triangles
        idx = torch.nonzero(nb == case).flatten()
        if idx.numel() == 0:
            continue
        fv = face_verts[idx]
        # p1: the vertex alone on its side (in front for case 2, behind for case 1).
        lone = behind[idx] if case == 1 else ~behind[idx]
        i1 = lone.to(torch.int64).argmax(1)
        i2, i3 = (i1 + 1) % 3, (i1 + 2) % 3
        ar = torch.arange(idx.numel(), device=device)
        p1, p2, p3 = fv[ar, i1], fv[ar, i2], fv[ar, i3]
        p4, w2 = _edge_point(p1, p2, p1[:, 2], p2[:, 2], z_clip_value, perspective_correct)
        p5, w3 = _edge_point(p1, p3, p1[:, 2], p3[:, 2], z_clip_value, perspective_correct)

        def bary(*pairs):
            # (T, 3) barycentrics in the original face from (vertex index, weight) pairs.
            b = torch.zeros(idx.numel(), 3, dtype=dtype, device=device)
            for i, w in pairs:
                b = b.index_put((ar, i), w, accumulate=True)
            return b

        one = torch.ones(idx.numel(), dtype=dtype, device=device)
        b1, b2, b3 = bary((i1, one)), bary((i2, one)), bary((i3, one))
        b4, b5 = bary((i1, 1 - w2), (i2, w2)), bary((i1, 1 - w3), (i3, w3))
        k = first[idx]
        if case == 2:
            out = out.index_put((k,), torch.stack([p4, p5, p1], 1))
            conv = conv.index_put((k,), torch.stack([b4, b5, b1], 2))
        else:
            out = out.index_put((k,), torch.stack([p4, p2, p5], 1))
            out = out.index_put((k + 1,), torch.stack([p5, p2, p3], 1))
            conv = conv.index_put((k,), torch.stack([b4, b2, b5], 2))
            conv = conv.index_put((k + 1,), torch.stack([b5, b2, b3], 2))
            neighbor[k], neighbor[k + 1] = k + 1, k
    return ClippedFaces(out, source, neighbor, conv)

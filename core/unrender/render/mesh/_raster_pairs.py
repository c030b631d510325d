"""Per (pixel, face) geometry of the mesh rasteriser: forward and gradients.

Forward formulas repeat the operation order of PyTorch3D's C++ kernel, so
float32 results agree with it bit for bit. Arguments broadcast: per-pair
``(M,)`` columns, or per-face ``(F, 1, 1)`` columns against pixel centres
``px (F, 1, Bx)`` and ``py (F, By, 1)`` (the rasteriser's dense grids).

Face columns ``c`` are the 9 vertex coordinates ``x0 y0 z0 x1 y1 z1 x2 y2
z2`` (x, y in NDC, z the view depth) followed by ``area`` from
:func:`bary_area`.

The backward pass is written out by hand (:func:`pair_grads`): it is the
exact derivative of the forward (checked against autograd in the tests) and
follows PyTorch3D's choices where the function is not differentiable: the
distance gradient goes to the first nearest edge, clipped barycentrics pass
gradients where the unclipped value is >= 0, a clamped denominator is a
constant.
"""

from __future__ import annotations

import torch

__all__ = ["EPS", "bary_area", "barycentric", "triangle_dist", "pair_terms", "pair_grads"]

#: PyTorch3D's kEpsilon: a double, compared against float32 values.
EPS = 1e-8


def bary_area(x0, y0, x1, y1, x2, y2):
    """Twice the signed area as the barycentric denominator,
    ``EdgeFunction(v2, v0, v1) + kEpsilon``, the epsilon added in double."""
    a = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0)
    return (a.double() + EPS).to(a.dtype)


def barycentric(px, py, x0, y0, x1, y1, x2, y2, area):
    """Screen-space barycentrics ``(w0, w1, w2)``."""
    w0 = ((px - x1) * (y2 - y1) - (py - y1) * (x2 - x1)) / area
    w1 = ((px - x2) * (y0 - y2) - (py - y2) * (x0 - x2)) / area
    w2 = ((px - x0) * (y1 - y0) - (py - y0) * (x1 - x0)) / area
    return w0, w1, w2


def _segment(px, py, ax, ay, bx, by, with_t: bool = False):
    """Squared distance from ``p`` to segment ``a b`` (PyTorch3D's
    ``PointLineDistanceForward``: the distance to ``b`` when ``|b - a|^2 <= 1e-8``).

    With ``with_t`` also returns the clamped parameter ``t`` of the nearest
    point ``q = a + t (b - a)`` (1 for a degenerate segment) and ``p - q``.
    """
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    short = l2 <= EPS
    any_short = bool(short.any())
    # Safe denominator: the branch not taken must not produce inf or NaN.
    den = torch.where(short, 1.0, l2) if any_short else l2
    t = ((dx * (px - ax) + dy * (py - ay)) / den).clamp(0.0, 1.0)
    ex, ey = px - (ax + t * dx), py - (ay + t * dy)
    d = ex * ex + ey * ey
    if any_short:
        fx, fy = px - bx, py - by
        d = torch.where(short, fx * fx + fy * fy, d)
        if with_t:
            t = torch.where(short, 1.0, t)
    return (d, t, ex, ey) if with_t else d


def triangle_dist(px, py, x0, y0, x1, y1, x2, y2):
    """Squared distance from ``p`` to the outline of the triangle."""
    d01 = _segment(px, py, x0, y0, x1, y1)
    d02 = _segment(px, py, x0, y0, x2, y2)
    d12 = _segment(px, py, x1, y1, x2, y2)
    return torch.minimum(torch.minimum(d01, d02), d12)


def pair_terms(px, py, c, perspective_correct: bool, clip_barycentric_coords: bool, want_dist: bool):
    """Forward values of pixel centres ``(px, py)`` against faces ``c``.

    Returns ``((b0, b1, b2), pz, inside, dist)``: barycentrics after the
    optional perspective correction and clipping, depth, inside flag (strictly
    inside, from the unclipped barycentrics), unsigned squared distance to the
    outline (or None).
    """
    x0, y0, z0, x1, y1, z1, x2, y2, z2, area = c
    w0, w1, w2 = barycentric(px, py, x0, y0, x1, y1, x2, y2, area)
    if perspective_correct:
        t0 = w0 * z1 * z2
        t1 = w1 * z0 * z2
        t2 = w2 * z0 * z1
        # PyTorch3D clamps the denominator (negative for some pixels outside
        # the face) to kEpsilon.
        den = (t0 + t1 + t2).clamp_min(EPS)
        w0, w1, w2 = t0 / den, t1 / den, t2 / den
    inside = (w0 > 0) & (w1 > 0) & (w2 > 0)
    if clip_barycentric_coords:
        w0, w1, w2 = w0.clamp_min(0.0), w1.clamp_min(0.0), w2.clamp_min(0.0)
        s = (w0 + w1 + w2).clamp_min(1e-5)
        w0, w1, w2 = w0 / s, w1 / s, w2 / s
    pz = w0 * z0 + w1 * z1 + w2 * z2
    dist = triangle_dist(px, py, x0, y0, x1, y1, x2, y2) if want_dist else None
    return (w0, w1, w2), pz, inside, dist


def pair_grads(px, py, v, inside, g_bary, g_pz, g_dist, perspective_correct: bool, clip_barycentric_coords: bool):
    """Gradients of the loss with respect to each pair's face vertices.

    ``v`` is ``(9, M)`` (rows x0 y0 z0 x1 y1 z1 x2 y2 z2), the upstream
    gradients are those of the outputs ``bary (M, 3)``, ``pz (M,)`` and the
    signed ``dist (M,)`` (each may be None); ``inside (M,)`` bool is the
    forward's inside flag (the sign of dist). Returns a list of 9 ``(M,)``
    tensors (or None where the gradient is zero), one per row of ``v``.
    """
    x0, y0, z0, x1, y1, z1, x2, y2, z2 = v.unbind(0)
    g = [None] * 9

    def acc(i, val):
        g[i] = val if g[i] is None else g[i] + val

    if g_dist is not None:
        gd = torch.where(inside, -g_dist, g_dist)
        segs = [(0, 1), (0, 2), (1, 2)]
        res = [_segment(px, py, v[3 * a], v[3 * a + 1], v[3 * b], v[3 * b + 1], with_t=True) for a, b in segs]
        d01, d02, d12 = (r[0] for r in res)
        # The first nearest edge gets the gradient (PyTorch3D's tie rule).
        m01 = (d01 <= d02) & (d01 <= d12)
        m02 = ~m01 & (d02 <= d12)
        m12 = ~m01 & ~m02
        for (a, b), (_, t, ex, ey), m in zip(segs, res, (m01, m02, m12)):
            # d = |p - q|^2 with q the nearest point; the derivative through t
            # vanishes (t minimises d or sits at a clamp bound).
            s = torch.where(m, -2.0 * gd, 0.0)
            sx, sy = s * ex, s * ey
            tx, ty = t * sx, t * sy
            acc(3 * a, sx - tx)
            acc(3 * a + 1, sy - ty)
            acc(3 * b, tx)
            acc(3 * b + 1, ty)

    if g_bary is not None or g_pz is not None:
        area = bary_area(x0, y0, x1, y1, x2, y2)
        w = list(barycentric(px, py, x0, y0, x1, y1, x2, y2, area))
        z = [z0, z1, z2]
        if perspective_correct:
            t = [w[0] * z1 * z2, w[1] * z0 * z2, w[2] * z0 * z1]
            tsum = t[0] + t[1] + t[2]
            den = tsum.clamp_min(EPS)
            wp = [ti / den for ti in t]
        else:
            wp = w
        if clip_barycentric_coords:
            m = [wi.clamp_min(0.0) for wi in wp]
            msum = m[0] + m[1] + m[2]
            s = msum.clamp_min(1e-5)
            c = [mi / s for mi in m]
        else:
            c = wp
        # Upstream gradient of the (clipped) barycentrics, including pz = sum c_i z_i.
        if g_bary is None:
            gc = [g_pz * z[i] for i in range(3)]
        else:
            gc = [g_bary[:, i] if g_pz is None else g_bary[:, i] + g_pz * z[i] for i in range(3)]
        if g_pz is not None:
            for i in range(3):
                acc(3 * i + 2, g_pz * c[i])
        if clip_barycentric_coords:
            dot = gc[0] * c[0] + gc[1] * c[1] + gc[2] * c[2]
            dot = torch.where(msum < 1e-5, 0.0, dot)  # clamped sum: a constant
            gw = [torch.where(wp[i] >= 0, (gc[i] - dot) / s, 0.0) for i in range(3)]
        else:
            gw = gc
        if perspective_correct:
            dot = gw[0] * wp[0] + gw[1] * wp[1] + gw[2] * wp[2]
            dot = torch.where(tsum < EPS, 0.0, dot)  # clamped denominator: a constant
            gt = [(gw[i] - dot) / den for i in range(3)]
            # t_i = w_i z_j z_k
            for i, (j, k) in enumerate(((1, 2), (0, 2), (0, 1))):
                gtw = gt[i] * w[i]
                acc(3 * j + 2, gtw * z[k])
                acc(3 * k + 2, gtw * z[j])
            gw = [gt[0] * z1 * z2, gt[1] * z0 * z2, gt[2] * z0 * z1]
        # w_i = e_i / area
        ge = [gwi / area for gwi in gw]
        ga = -(ge[0] * w[0] + ge[1] * w[1] + ge[2] * w[2])
        # e_i = (p - v_j) x (v_k - v_j) for (i, j, k) cyclic: derivatives wrt v_j and v_k.
        xs, ys = [x0, x1, x2], [y0, y1, y2]
        for i, (j, k) in enumerate(((1, 2), (2, 0), (0, 1))):
            acc(3 * j, ge[i] * (py - ys[k]))
            acc(3 * j + 1, ge[i] * (xs[k] - px))
            acc(3 * k, ge[i] * (ys[j] - py))
            acc(3 * k + 1, ge[i] * (px - xs[j]))
        # area = (x2 - x0)(y1 - y0) - (y2 - y0)(x1 - x0)
        acc(0, ga * (y2 - y1))
        acc(1, ga * (x1 - x2))
        acc(3, ga * (y0 - y2))
        acc(4, ga * (x2 - x0))
        acc(6, ga * (y1 - y0))
        acc(7, ga * (x0 - x1))
    return g

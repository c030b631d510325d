"""Primitive parts of procedural objects, each with an exact signed distance (so an exact inside test).

Three kinds cover every category: :class:`Box` (any rotation), :class:`Lathe` (a polygon in the
``(r, y)`` half-plane turned about a local ``y`` axis: cylinders, cones, cups, shells) and
:class:`Tube` (a round tube swept along a polyline: handles, runners, arms). Each part gives

* ``sdf(points (N, 3)) -> (N,)``: signed distance, negative inside (exact),
* ``inside(points (N, 3)) -> (N,)`` bool: ``sdf < 0`` without the distances (off the surface itself),
* ``mesh() -> (verts (V, 3), faces (F, 3))``: a closed, outward-facing triangle mesh with split vertices at
  sharp edges (so smooth shading keeps box faces flat),
* ``area()`` and ``sample(n, generator) -> (points (n, 3), normals (n, 3))`` on its exact surface,
* ``bounds() -> (centre (3,), radius)``: a bounding sphere, to skip far points,
* ``moved(shift, scale)``: the part with ``p -> (p - shift) * scale`` applied.

All tensors are float32 on the CPU.
"""

from __future__ import annotations

import math

import torch

__all__ = ["Box", "Lathe", "Tube", "rotation_matrix"]


def rotation_matrix(axis: str, degrees: float) -> torch.Tensor:
    """``(3, 3)`` rotation about ``x``, ``y`` or ``z`` by ``degrees`` (right-handed; columns are the
    rotated local axes, so ``world = local @ R.T``)."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    m = torch.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
    return m


def _as3(v) -> torch.Tensor:
    return torch.as_tensor(v, dtype=torch.float32).reshape(3)


def _orient(verts: torch.Tensor, faces: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """``faces`` flipped where their winding disagrees with the outward vertex ``normals``."""
    a, b, c = verts[faces].unbind(1)
    n = torch.linalg.cross(b - a, c - a)
    flip = (n * normals[faces].sum(1)).sum(-1) < 0
    return torch.where(flip[:, None], faces[:, [0, 2, 1]], faces)


class Box:
    """A box: ``center (3,)``, ``half`` extents ``(3,)`` along its local axes, ``rotation (3, 3)`` whose
    columns are the local axes in the world (identity: axis-aligned)."""

    def __init__(self, center, half, rotation=None):
        self.center = _as3(center)
        self.half = _as3(half).abs()
        self.rotation = torch.eye(3) if rotation is None else torch.as_tensor(rotation, dtype=torch.float32)

    def moved(self, shift, scale: float) -> "Box":
        return Box((self.center - _as3(shift)) * scale, self.half * scale, self.rotation)

    def bounds(self):
        return self.center, float(self.half.norm())

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        q = ((points - self.center) @ self.rotation).abs() - self.half
        return q.clamp_min(0).norm(dim=-1) + q.amax(-1).clamp_max(0)

    def inside(self, points: torch.Tensor) -> torch.Tensor:
        return (((points - self.center) @ self.rotation).abs() < self.half).all(-1)

    def _faces_local(self):
        """Per box face: (axis, sign, the two other axes)."""
        return [(ax, sg, [a for a in range(3) if a != ax]) for ax in range(3) for sg in (-1.0, 1.0)]

    def mesh(self):
        verts, normals, faces = [], [], []
        corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
        for k, (ax, sg, (u, v)) in enumerate(self._faces_local()):
            local = torch.zeros(4, 3)
            local[:, ax] = sg * self.half[ax]
            local[:, u] = corners[:, 0] * self.half[u]
            local[:, v] = corners[:, 1] * self.half[v]
            n = torch.zeros(4, 3)
            n[:, ax] = sg
            verts.append(local)
            normals.append(n)
            faces.append(torch.tensor([[0, 1, 2], [0, 2, 3]]) + 4 * k)
        v = torch.cat(verts) @ self.rotation.T + self.center
        n = torch.cat(normals) @ self.rotation.T
        return v, _orient(v, torch.cat(faces), n)

    def _face_areas(self) -> torch.Tensor:
        h = self.half
        return torch.tensor([4 * h[u] * h[v] for _, _, (u, v) in self._faces_local()])

    def area(self) -> float:
        return float(self._face_areas().sum())

    def sample(self, n: int, generator: torch.Generator):
        info = self._faces_local()
        face = torch.multinomial(self._face_areas(), n, replacement=True, generator=generator)
        uv = torch.rand(n, 2, generator=generator) * 2 - 1
        local = torch.zeros(n, 3)
        normal = torch.zeros(n, 3)
        for k, (ax, sg, (u, v)) in enumerate(info):
            m = face == k
            local[m, ax] = sg * self.half[ax]
            local[m, u] = uv[m, 0] * self.half[u]
            local[m, v] = uv[m, 1] * self.half[v]
            normal[m, ax] = sg
        return local @ self.rotation.T + self.center, normal @ self.rotation.T


def _polygon_sdf(q: torch.Tensor, poly: torch.Tensor) -> torch.Tensor:
    """Signed distance from 2D points ``q (N, 2)`` (``(r, y)``, ``r >= 0``) to the surface of the solid of
    revolution of the closed polygon ``poly (K, 2)``: negative inside (even-odd rule); edges on the axis
    ``r = 0`` are no surface."""
    a, b = poly, poly.roll(-1, 0)
    e = b - a  # (K, 2)
    surface = (a[:, 0] > 1e-9) | (b[:, 0] > 1e-9)
    sa, se = a[surface], e[surface]
    w = q[:, None, :] - sa[None]  # (N, K, 2)
    t = ((w * se).sum(-1) / (se * se).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    d = (w - t[..., None] * se).norm(dim=-1).amin(1)
    return torch.where(_in_polygon(q, poly), -d, d)


def _in_polygon(q: torch.Tensor, poly: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: 2D points ``q (N, 2)`` inside the closed polygon ``poly (K, 2)`` (even-odd rule: the
    crossings of the ray ``+x`` from each point with the edges)."""
    a, b = poly, poly.roll(-1, 0)
    ya, yb = a[:, 1], b[:, 1]
    qy = q[:, 1:2]
    straddle = (ya <= qy) != (yb <= qy)
    x_at = a[:, 0] + (qy - ya) / torch.where(yb == ya, torch.ones_like(yb), yb - ya) * (b[:, 0] - a[:, 0])
    return ((straddle & (q[:, :1] < x_at)).sum(1) % 2) == 1


class Lathe:
    """A solid of revolution: ``profile (K, 2)`` a simple polygon in the ``(r, y)`` half-plane (``r >= 0``),
    turned about the local ``y`` axis of a frame at ``center`` with ``rotation`` (columns: local axes in
    the world). ``segments`` sets the mesh's facets only; the inside test is exact."""

    def __init__(self, profile, center=(0.0, 0.0, 0.0), rotation=None, segments: int = 32):
        p = torch.as_tensor(profile, dtype=torch.float32).reshape(-1, 2)
        x, y = p[:, 0], p[:, 1]
        if float((x * y.roll(-1) - x.roll(-1) * y).sum()) < 0:  # make it counter-clockwise
            p = p.flip(0)
        self.profile = p
        self.center = _as3(center)
        self.rotation = torch.eye(3) if rotation is None else torch.as_tensor(rotation, dtype=torch.float32)
        self.segments = segments

    def moved(self, shift, scale: float) -> "Lathe":
        return Lathe(self.profile * scale, (self.center - _as3(shift)) * scale, self.rotation, self.segments)

    def bounds(self):
        mid = self.center + self.rotation[:, 1] * float(self.profile[:, 1].mean())
        far = (self.profile[:, 0] ** 2 + (self.profile[:, 1] - self.profile[:, 1].mean()) ** 2).sqrt().max()
        return mid, float(far)

    def _meridian(self, points: torch.Tensor) -> torch.Tensor:
        """``(N, 2)``: each point's ``(r, y)`` in the profile's half-plane."""
        local = (points - self.center) @ self.rotation
        return torch.stack([local[:, [0, 2]].norm(dim=-1), local[:, 1]], -1)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        return _polygon_sdf(self._meridian(points), self.profile)

    def inside(self, points: torch.Tensor) -> torch.Tensor:
        return _in_polygon(self._meridian(points), self.profile)

    def _edges(self):
        a, b = self.profile, self.profile.roll(-1, 0)
        e = b - a
        length = e.norm(dim=-1)
        normal = torch.stack([e[:, 1], -e[:, 0]], -1) / length.clamp_min(1e-12)[:, None]  # outward (CCW)
        return a, b, length, normal

    def _world(self, r, y, theta):
        local = torch.stack([r * torch.cos(theta), y, r * torch.sin(theta)], -1)
        return local @ self.rotation.T + self.center

    def mesh(self):
        S = self.segments
        theta = torch.arange(S) * (2 * math.pi / S)
        a, b, length, normal = self._edges()
        verts, norms, faces, base = [], [], [], 0
        i = torch.arange(S)
        j = (i + 1) % S
        for k in range(len(a)):
            if length[k] < 1e-9 or (a[k, 0] < 1e-9 and b[k, 0] < 1e-9):
                continue  # on the axis: no surface
            ring = torch.cat([self._world(a[k, 0].expand(S), a[k, 1].expand(S), theta),
                              self._world(b[k, 0].expand(S), b[k, 1].expand(S), theta)])
            nl = self._world(normal[k, 0].expand(S), normal[k, 1].expand(S), theta) - self.center
            norms.append(torch.cat([nl, nl]))
            verts.append(ring)
            tri = []
            if a[k, 0] > 1e-9:
                tri.append(torch.stack([i, S + i, j], -1))
            if b[k, 0] > 1e-9:
                tri.append(torch.stack([j, S + i, S + j], -1))
            faces.append(torch.cat(tri) + base)
            base += 2 * S
        v, n, f = torch.cat(verts), torch.cat(norms), torch.cat(faces)
        return v, _orient(v, f, n)

    def _edge_areas(self):
        a, b, length, _ = self._edges()
        return math.pi * (a[:, 0] + b[:, 0]) * length

    def area(self) -> float:
        return float(self._edge_areas().sum())

    def sample(self, n: int, generator: torch.Generator):
        a, b, _, normal = self._edges()
        k = torch.multinomial(self._edge_areas(), n, replacement=True, generator=generator)
        u = torch.rand(n, generator=generator)
        r0, r1 = a[k, 0], b[k, 0]
        # t with density proportional to the radius r0 + (r1 - r0) t (uniform over the band's area)
        dr = r1 - r0
        lin = dr.abs() < 1e-6 * (r0 + r1).clamp_min(1e-12)
        disc = (r0 * r0 + u * (r0 + r1) * dr).clamp_min(0).sqrt()
        t = torch.where(lin, u, (disc - r0) / torch.where(lin, torch.ones_like(dr), dr)).clamp(0, 1)
        q = a[k] + t[:, None] * (b[k] - a[k])
        theta = torch.rand(n, generator=generator) * (2 * math.pi)
        points = self._world(q[:, 0], q[:, 1], theta)
        normals = self._world(normal[k, 0], normal[k, 1], theta) - self.center
        return points, normals


def _frames(curve: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tangents and two normals ``(M, 3)`` along a polyline by parallel transport."""
    d = curve[1:] - curve[:-1]
    seg = d / d.norm(dim=-1, keepdim=True)
    tangent = torch.cat([seg[:1], seg[:-1] + seg[1:], seg[-1:]])
    tangent = tangent / tangent.norm(dim=-1, keepdim=True)
    ref = torch.tensor([0.0, 0.0, 1.0]) if abs(float(tangent[0, 2])) < 0.9 else torch.tensor([1.0, 0.0, 0.0])
    n1 = [torch.linalg.cross(tangent[0], ref)]
    n1[0] = n1[0] / n1[0].norm()
    for t in tangent[1:]:
        v = n1[-1] - (n1[-1] @ t) * t
        n1.append(v / v.norm())
    n1 = torch.stack(n1)
    return tangent, n1, torch.linalg.cross(tangent, n1)


class Tube:
    """A round tube of ``radius`` along the polyline ``curve (M, 3)``: the points within ``radius`` of it
    (rounded ends; the mesh's ends are flat caps, so let them sit inside another part)."""

    def __init__(self, curve, radius: float, sides: int = 16):
        self.curve = torch.as_tensor(curve, dtype=torch.float32).reshape(-1, 3)
        self.radius = float(radius)
        self.sides = sides

    def moved(self, shift, scale: float) -> "Tube":
        return Tube((self.curve - _as3(shift)) * scale, self.radius * scale, self.sides)

    def bounds(self):
        lo, hi = self.curve.amin(0), self.curve.amax(0)
        return (lo + hi) / 2, float((hi - lo).norm() / 2) + self.radius

    def _distance2(self, points: torch.Tensor) -> torch.Tensor:
        """``(N,)`` squared distance to the centre polyline."""
        # from dot products (two matmuls, no (N, K, 3) temporaries); in float32 the expansion's rounding
        # is ~1e-7 of |p|^2 <= 0.3, far below a tube's radius squared
        p = points
        a, b = self.curve[:-1], self.curve[1:]
        e = b - a
        ee = (e * e).sum(-1).clamp_min(1e-20)
        pe = p @ e.T - (a * e).sum(-1)  # (N, K): w . e with w = p - a
        ww = (p * p).sum(-1, keepdim=True) - 2 * p @ a.T + (a * a).sum(-1)  # (N, K): |w|^2
        t = (pe / ee).clamp(0, 1)
        return (ww - 2 * t * pe + t * t * ee).amin(1).clamp_min(0)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        return self._distance2(points).sqrt() - self.radius

    def inside(self, points: torch.Tensor) -> torch.Tensor:
        return self._distance2(points) < self.radius ** 2

    def mesh(self):
        S, M = self.sides, len(self.curve)
        tangent, n1, n2 = _frames(self.curve)
        ang = torch.arange(S) * (2 * math.pi / S)
        dirs = torch.cos(ang)[None, :, None] * n1[:, None] + torch.sin(ang)[None, :, None] * n2[:, None]  # (M, S, 3)
        ring = (self.curve[:, None] + self.radius * dirs).reshape(-1, 3)
        i = torch.arange(S)
        j = (i + 1) % S
        faces = []
        for m in range(M - 1):
            o = m * S
            faces += [torch.stack([o + i, o + j, o + S + i], -1), torch.stack([o + j, o + S + j, o + S + i], -1)]
        verts, norms = [ring], [dirs.reshape(-1, 3)]
        base = M * S
        for end, sign in ((0, -1.0), (M - 1, 1.0)):  # flat caps with their own vertices
            cap = self.curve[end] + self.radius * dirs[end]
            centre = self.curve[end][None]
            verts += [cap, centre]
            norms += [(sign * tangent[end]).expand(S + 1, 3)]
            faces.append(torch.stack([base + i, base + j, torch.full_like(i, base + S)], -1))
            base += S + 1
        v, n, f = torch.cat(verts), torch.cat(norms), torch.cat(faces)
        return v, _orient(v, f, n)

    def _lengths(self) -> torch.Tensor:
        return (self.curve[1:] - self.curve[:-1]).norm(dim=-1)

    def area(self) -> float:
        return float(2 * math.pi * self.radius * self._lengths().sum())

    def sample(self, n: int, generator: torch.Generator):
        k = torch.multinomial(self._lengths(), n, replacement=True, generator=generator)
        t = torch.rand(n, 1, generator=generator)
        theta = torch.rand(n, 1, generator=generator) * (2 * math.pi)
        a, b = self.curve[:-1][k], self.curve[1:][k]
        d = (b - a) / (b - a).norm(dim=-1, keepdim=True)
        ref = torch.where((d[:, 2:].abs() < 0.9), torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]))
        u = torch.linalg.cross(d, ref)
        u = u / u.norm(dim=-1, keepdim=True)
        v = torch.linalg.cross(d, u)
        normal = torch.cos(theta) * u + torch.sin(theta) * v
        return a + t * (b - a) + self.radius * normal, normal

"""Anti-aliased, differentiable silhouettes from the mesh's contour edges.

A soft rasteriser (SoftRas) spreads every face edge, internal ones included,
and its coverage is biased: at the silhouette the front and back faces both
add an outside tail, so the soft silhouette is fatter than the object (about
half a pixel at the tutorials' sigma), and with a small sigma only the few
pixels within a fraction of a pixel of an edge carry a gradient.

Here the coverage of a pixel near the silhouette is a function of its signed
distance to the *contour*: the projected edges between a front-facing and a
back-facing face (plus open boundary edges). Pixels are inside or outside by
a hard raster; in a band of ``band_px`` pixels around the silhouette the
coverage is ``Phi(signed_distance / edge_px)`` (the normal CDF of the
distance in pixels, positive inside). A unit box filter seen across a
straight edge at any angle has standard deviation ``1 / sqrt(12) = 0.289``
pixel, so ``edge_px = 0.289`` reproduces the area coverage of a pixel
without bias, and whose gradient reaches every pixel of the band
through the contour's projected vertices. Away from the band coverage is 0
or 1 with no gradient, as it should be.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..._validate import check_faces, check_points
from ...screen import ndc_to_pixel, parse_image_size, pixel_centers_ndc
from .rasterizer import MeshRasterizer, RasterizationSettings

__all__ = ["ContourSilhouetteRenderer"]


def _edge_faces(faces: torch.Tensor, V: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unique edges ``(E, 2)``, the edge of each half-edge ``(3F,)`` and the face of each half-edge ``(3F,)``."""
    F_ = faces.shape[0]
    he = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], 0)
    key = he.min(1).values * V + he.max(1).values
    uniq, inverse = torch.unique(key, return_inverse=True)
    edges = torch.stack([uniq // V, uniq % V], 1)
    face_of = torch.arange(F_, device=faces.device).repeat(3)
    return edges, inverse, face_of


class ContourSilhouetteRenderer:
    """Silhouettes ``(N, H, W)`` in [0, 1] of one mesh seen by a batch of cameras.

    Args:
        verts: ``(V, 3)`` float, faces: ``(F, 3)`` int64 (outward, counter-clockwise).
        image_size: ``(H, W)``.
        edge_px: softness of the edge in pixels (``0.289``: the area coverage of
            a pixel, like a supersampled render; larger for softer pictures).
        band_px: half-width in pixels of the band around the silhouette where the
            coverage is soft (and has gradients); ``>= 3 edge_px`` keeps it smooth.
    Call with cameras (a batch of ``N``, PyTorch3D conventions, differentiable in
    ``R`` and ``T``); the verts may also carry gradients.
    """

    def __init__(self, verts: torch.Tensor, faces: torch.Tensor, image_size, *, edge_px: float = 0.289, band_px: int = 2):
        check_points("verts", verts, allow_empty=False)
        check_faces("faces", faces, verts.shape[0])
        self.verts, self.faces = verts, faces
        self.H, self.W = parse_image_size(image_size)
        if not edge_px > 0 or band_px < 1:
            raise ValueError(f"edge_px, band_px: expected > 0 and >= 1, found {edge_px}, {band_px}")
        self.edge, self.band = float(edge_px), int(band_px)
        self.edges, self.he_edge, self.he_face = _edge_faces(faces, verts.shape[0])
        self.depth_tol = 0.05 * float((verts.amax(0) - verts.amin(0)).norm())
        self.edge_count = torch.bincount(self.he_edge, minlength=self.edges.shape[0])
        self.raster = MeshRasterizer(raster_settings=RasterizationSettings(image_size=(self.H, self.W), faces_per_pixel=1))
        self.px = 2.0 / min(self.H, self.W)
        self.xs, self.ys = pixel_centers_ndc(self.H, self.W, verts.dtype, verts.device)

    def __call__(self, cameras, meshes=None) -> torch.Tensor:
        from ...structures import Meshes

        N = len(cameras)
        if meshes is None:
            meshes = Meshes([self.verts] * N, [self.faces] * N)
        with torch.no_grad():
            frags = self.raster(meshes, cameras=cameras)
            inside = frags.pix_to_face[..., 0] >= 0  # (N, H, W)
            zbuf = frags.zbuf[..., 0]
        R, T = cameras.R, cameras.T
        Xv = self.verts[None] @ R + T[:, None]  # (N, V, 3) view space, camera looking along +Z
        ndc = cameras.transform_points(self.verts[None].expand(N, -1, -1))[..., :2]  # (N, V, 2)
        f = self.faces
        a, b, c = Xv[:, f[:, 0]], Xv[:, f[:, 1]], Xv[:, f[:, 2]]
        front = ((torch.cross(b - a, c - a, dim=-1) * a).sum(-1) < 0).detach()  # (N, F) facing the camera
        n_front = torch.zeros(N, self.edges.shape[0], device=R.device).index_add_(1, self.he_edge, front[:, self.he_face].float())
        contour = (self.edge_count[None] == 1) | ((n_front > 0) & (n_front < self.edge_count[None]))  # (N, E)

        m = inside.float()[:, None]
        k = 2 * self.band + 1
        dil = F.max_pool2d(m, k, 1, self.band)[:, 0] > 0.5
        ero = -F.max_pool2d(-m, k, 1, self.band)[:, 0] > 0.5
        band = dil & ~ero  # (N, H, W)
        # Contours hidden behind the object (folds seen from inside the silhouette) are not
        # silhouette edges: keep the contour edges whose midpoint has background within 1 px
        # and is not behind the visible surface there.
        near_out = F.max_pool2d((~inside).float()[:, None], 3, 1, 1)[:, 0] > 0.5
        out = inside.to(self.verts.dtype)
        for i in range(N):
            ys, xs = torch.nonzero(band[i], as_tuple=True)
            ce = self.edges[contour[i]]
            with torch.no_grad():
                mid = (ndc[i, ce[:, 0]] + ndc[i, ce[:, 1]]) / 2
                col, row = (v.round().long() for v in ndc_to_pixel(mid[:, 0], mid[:, 1], self.H, self.W))
                on_image = (col >= 0) & (col < self.W) & (row >= 0) & (row < self.H)
                visible = ~on_image
                r_, c_ = row[on_image], col[on_image]
                depth = (Xv[i, ce[on_image, 0], 2] + Xv[i, ce[on_image, 1], 2]) / 2
                z = zbuf[i, r_, c_]
                visible[on_image] = near_out[i, r_, c_] & ((z < 0) | (depth <= z + self.depth_tol))
            ce = ce[visible]
            if ys.numel() == 0 or ce.shape[0] == 0:
                continue
            p = torch.stack([self.xs[xs], self.ys[ys]], 1)  # (M, 2)
            s0, s1 = ndc[i, ce[:, 0]], ndc[i, ce[:, 1]]  # (C, 2)
            d = s1 - s0
            t = (((p[:, None] - s0[None]) * d[None]).sum(-1) / (d * d).sum(-1).clamp_min(1e-20)[None]).clamp(0, 1)
            dist2 = ((s0[None] + t[..., None] * d[None] - p[:, None]) ** 2).sum(-1)  # (M, C)
            dist = dist2.min(1).values.clamp_min(1e-18).sqrt() / self.px
            sign = torch.where(inside[i, ys, xs], 1.0, -1.0).to(dist.dtype)
            cov = 0.5 * (1 + torch.erf(sign * dist / (self.edge * 2**0.5)))
            out = out.index_put((torch.full_like(ys, i), ys, xs), cov)
        return out

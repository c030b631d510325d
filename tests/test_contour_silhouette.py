"""Contour silhouettes: area coverage without bias, smooth gradients in the pose, visibility of folds."""

import pytest
import torch
import torch.nn.functional as F

from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform
from unrender.geometry import icosphere, torus
from unrender.geometry.shapes import bumpy_ellipsoid
from unrender.render import MeshRasterizer, RasterizationSettings
from unrender.render import ContourSilhouetteRenderer
from unrender.structures import Meshes


def _box_coverage(mesh, cams, size, ss=8):
    """Area coverage of each pixel: a hard render at ``ss`` x the size, averaged over ss x ss blocks."""
    rs = RasterizationSettings(image_size=size * ss, faces_per_pixel=1)
    n = len(cams)
    batch = Meshes([mesh.verts_packed()] * n, [mesh.faces_packed()] * n)
    hard = (MeshRasterizer(cams, rs)(batch).pix_to_face[..., 0] >= 0).float()
    return F.avg_pool2d(hard[:, None], ss)[:, 0]


@pytest.mark.parametrize("shape", ["sphere", "bumpy", "torus"])
def test_matches_area_coverage_without_bias(shape):
    mesh = {"sphere": icosphere(3), "bumpy": bumpy_ellipsoid(level=3), "torus": torus(1.0, 0.35, rings=48, sides=24)}[shape]
    R, T = look_at_view_transform(dist=3.2, elev=torch.tensor([25.0, -50.0]), azim=torch.tensor([30.0, 200.0]))
    cams = FoVPerspectiveCameras(R=R, T=T, fov=45.0)
    r = ContourSilhouetteRenderer(mesh.verts_packed(), mesh.faces_packed(), (96, 96))
    sil = r(cams)
    ref = _box_coverage(mesh, cams, 96)
    hard = _box_coverage(mesh, cams, 96, ss=1)
    for i in range(2):
        err = sil[i] - ref[i]
        edge_pixels = int(((ref[i] > 0) & (ref[i] < 1)).sum())
        # the area bias is a small fraction of a pixel per outline pixel (curvature of the outline)
        assert abs(float(err.sum())) < 0.03 * edge_pixels, "the silhouette's area is biased"
        assert float((err**2).mean()) < 0.25 * float(((hard[i] - ref[i]) ** 2).mean())  # 4x closer than a hard render
        assert float(sil.min()) >= 0 and float(sil.max()) <= 1


def test_gradient_matches_finite_differences_of_the_pose():
    mesh = bumpy_ellipsoid(level=3)
    r = ContourSilhouetteRenderer(mesh.verts_packed().double(), mesh.faces_packed(), (64, 64))
    R, T = look_at_view_transform(dist=3.0, elev=20.0, azim=40.0)
    R, T = R.double(), T.double()
    target = _box_coverage(mesh, FoVPerspectiveCameras(R=R.float(), T=(T + torch.tensor([[0.05, -0.03, 0.1]]).double()).float(), fov=45.0), 64).double()

    def loss(t):
        return ((r(FoVPerspectiveCameras(R=R, T=t, fov=45.0)) - target) ** 2).sum()

    t = T.clone().requires_grad_()
    loss(t).backward()
    h = 1e-4  # the surrogate jumps where contour edges switch (rarely, by little): keep h small
    for k in range(3):
        e = torch.zeros_like(T)
        e[0, k] = h
        with torch.no_grad():
            fd = (loss(T + e) - loss(T - e)) / (2 * h)
        assert float(t.grad[0, k]) == pytest.approx(float(fd), rel=0.02, abs=0.01 * float(t.grad.abs().max()))
    assert float(t.grad.abs().max()) > 1.0  # a real signal, not zero


def test_bad_arguments_name_themselves():
    m = icosphere(1)
    with pytest.raises(ValueError, match="edge_px"):
        ContourSilhouetteRenderer(m.verts_packed(), m.faces_packed(), 32, edge_px=0.0)
    with pytest.raises(ValueError, match="faces"):
        ContourSilhouetteRenderer(m.verts_packed(), m.faces_packed() + 100, 32)

"""render_still: point renders without background speckles, and the up axis."""

import torch
import torch.nn.functional as F

from unrender.geometry import sample_surface, torus
from unrender.render import render_still
from unrender.structures import Meshes, PointClouds


def _covered(img: torch.Tensor) -> torch.Tensor:
    return (img - 1).abs().amax(-1) > 0.02  # not the white background


def test_points_show_no_background_inside_the_surface():
    mesh = torus(0.7, 0.25, rings=64, sides=32)
    s = sample_surface(mesh, 20_000, generator=torch.Generator().manual_seed(0))
    cloud = PointClouds([s.points[0]], normals=[s.normals[0]])
    pts = _covered(render_still(cloud, size=256, elevation=30.0))
    solid = _covered(render_still(mesh, size=256, elevation=30.0))
    inner = -F.max_pool2d(-solid[None, None].float(), 9, 1, 4)[0, 0] > 0.5  # 4 px inside the outline
    assert inner.sum() > 10_000
    assert int((inner & ~pts).sum()) <= 5  # speckles: the background showing between splats


def test_up_axis_puts_the_long_side_upright():
    # a box long along y: upright with up="y", lying down with up="z"
    v = torch.tensor([[x, y, z] for x in (-0.2, 0.2) for y in (-1.0, 1.0) for z in (-0.2, 0.2)])
    f = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    box = Meshes([v], [f])

    def extent(img):
        m = _covered(img)
        rows, cols = m.any(1).nonzero(), m.any(0).nonzero()
        return int(rows.max() - rows.min()), int(cols.max() - cols.min())

    h, w = extent(render_still(box, size=128, up="y", elevation=0.0))
    assert h > 2 * w
    h, w = extent(render_still(box, size=128, up="z", elevation=0.0))
    assert w > 2 * h


def test_up_axis_is_checked():
    import pytest

    with pytest.raises(ValueError, match="up"):
        render_still(PointClouds([torch.rand(10, 3)]), up="x")

"""Screen conventions: image sizes and pixel centres in NDC (PyTorch3D's)."""

import numpy as np
import pytest
import torch

from unrender.screen import ndc_to_pixel, parse_image_size, parse_image_sizes, pix_to_ndc, pixel_centers_ndc


@pytest.mark.parametrize("value, expected", [
    (5, (5, 5)),
    ((3, 7), (3, 7)),
    ([4, 2], (4, 2)),
    (np.int64(6), (6, 6)),
    ((np.int32(2), 9), (2, 9)),
    (torch.tensor([8, 3]), (8, 3)),
    (torch.tensor(4), (4, 4)),
])
def test_parse_image_size_gives_h_w_ints(value, expected):
    got = parse_image_size(value)
    assert got == expected and all(type(v) is int for v in got)


@pytest.mark.parametrize("value", [0, -3, (4, 0), (16, 16, 3), "big", 2.0, (2.5, 3), True, (True, 4), None])
def test_parse_image_size_rejects_with_the_name(value):
    with pytest.raises(ValueError, match="^size_arg: expected"):
        parse_image_size(value, "size_arg")


def test_parse_image_sizes_one_row_per_camera():
    assert parse_image_sizes(None) is None
    assert parse_image_sizes((3, 4)).tolist() == [[3, 4]]
    t = parse_image_sizes([[3, 4], [5.0, 6.0]])
    assert t.dtype == torch.int64 and t.tolist() == [[3, 4], [5, 6]]
    for bad in ((3.5, 4), (0, 4), (1, 2, 3), [[1, 2, 3]], "x"):
        with pytest.raises(ValueError, match="image_size"):
            parse_image_sizes(bad)


@pytest.mark.parametrize("H, W", [(1, 1), (4, 4), (3, 8), (9, 2), (64, 48)])
def test_pixel_centres_square_pixels_shorter_side_spans_minus_one_to_one(H, W):
    x, y = pixel_centers_ndc(H, W, torch.float64)
    assert x.shape == (W,) and y.shape == (H,)
    step = 2.0 / min(H, W)  # square pixels: one step on both axes
    if W > 1:
        assert torch.allclose(x[:-1] - x[1:], torch.full((W - 1,), step, dtype=torch.float64))
    if H > 1:
        assert torch.allclose(y[:-1] - y[1:], torch.full((H - 1,), step, dtype=torch.float64))
    # +X left and +Y up: column 0 and row 0 hold the largest values; centred on 0
    assert torch.allclose(x, -x.flip(0)) and torch.allclose(y, -y.flip(0))
    short = x if W <= H else y
    assert float(short[0]) == pytest.approx(1 - 1 / min(H, W))  # half a pixel inside the edge at 1


def test_pix_to_ndc_matches_pytorch3d():
    ref = pytest.importorskip("pytorch3d.renderer.mesh.rasterize_meshes").pix_to_non_square_ndc
    for s1, s2 in [(5, 5), (7, 3), (3, 7), (64, 48)]:
        ours = pix_to_ndc(s1, s2, torch.float64)
        theirs = torch.tensor([ref(i, s1, s2) for i in range(s1)], dtype=torch.float64)
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
        assert torch.equal(pixel_centers_ndc(s2, s1, torch.float64)[0], ours.flip(0))


def test_ndc_to_pixel_inverts_pixel_centres():
    H, W = 6, 11
    x, y = pixel_centers_ndc(H, W, torch.float64)
    col, row = ndc_to_pixel(x, y, H, W)
    assert torch.allclose(col, torch.arange(W, dtype=torch.float64))
    assert torch.allclose(row, torch.arange(H, dtype=torch.float64))

"""frame_object crops a square around the object's mask with a margin; network_input composites over white."""

import pytest
import torch

from unrender.image import frame_object, network_input


def _picture(H=100, W=120, box=(20, 50, 30, 90), color=(0.2, 0.6, 0.9)):
    rgba = torch.zeros(H, W, 4)
    y0, y1, x0, x1 = box
    rgba[y0:y1, x0:x1, :3] = torch.tensor(color)
    rgba[y0:y1, x0:x1, 3] = 1.0
    return rgba


def _bbox(alpha):
    rows = torch.nonzero((alpha > 0.5).any(1)).flatten()
    cols = torch.nonzero((alpha > 0.5).any(0)).flatten()
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def test_frame_object_centres_the_object_with_the_margin_and_keeps_straight_colour():
    out = frame_object(_picture(), size=64, margin=0.08)
    assert out.shape == (64, 64, 4)
    y0, y1, x0, x1 = _bbox(out[..., 3])
    # the wider side (60 px) spans 64 / 1.16 = 55 px, centred; the narrow side is centred too
    assert x1 - x0 == pytest.approx(64 / 1.16, abs=1.5)
    assert abs((x0 + x1) / 2 - 32) <= 1 and abs((y0 + y1) / 2 - 32) <= 1
    assert x0 == pytest.approx(64 * 0.08 / 1.16, abs=1.5)
    inner = out[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2]
    assert torch.allclose(inner[..., :3], torch.tensor([0.2, 0.6, 0.9]).expand_as(inner[..., :3]), atol=1e-4)
    # edges: straight colour stays the object's colour where alpha is fractional
    edge = (out[..., 3] > 0.05) & (out[..., 3] < 0.95)
    assert torch.allclose(out[edge][:, :3], torch.tensor([0.2, 0.6, 0.9]).expand(int(edge.sum()), 3), atol=2e-2)


def test_frame_object_pads_with_transparency_past_the_picture_border():
    out = frame_object(_picture(box=(0, 100, 0, 10)), size=32)
    assert out[..., 3].sum() > 0
    y0, y1, x0, x1 = _bbox(out[..., 3])
    assert y0 > 0 and y1 < 32  # the tall object has its margin even though it touches the border


def test_frame_object_and_network_input_refuse_bad_pictures():
    with pytest.raises(ValueError, match="rgba"):
        frame_object(torch.zeros(10, 10, 4))
    with pytest.raises(ValueError, match="rgba"):
        frame_object(torch.zeros(10, 10, 3))
    with pytest.raises(ValueError, match="rgba"):
        network_input(torch.zeros(10, 10, 3))


def test_network_input_composites_over_white_channels_first():
    rgba = _picture(8, 8, (2, 6, 2, 6))
    rgba[0, 0] = torch.tensor([0.0, 0.0, 0.0, 0.5])
    x = network_input(rgba)
    assert x.shape == (4, 8, 8)
    assert torch.allclose(x[:3, 7, 7], torch.ones(3)) and x[3, 7, 7] == 0
    assert torch.allclose(x[:, 3, 3], torch.tensor([0.2, 0.6, 0.9, 1.0]))
    assert torch.allclose(x[:, 0, 0], torch.tensor([0.5, 0.5, 0.5, 0.5]))
    assert torch.equal(network_input(rgba[None].expand(3, -1, -1, -1))[1], x)

"""Pictures to masks: alpha, border colour, luminance, hex background; mask resizing."""

import pytest
import torch

from unrender.image import fit_size, image_to_mask, parse_hex_color, resize_mask


def _disk(H=40, W=50, r=12.0):
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    return (((yy - H / 2) ** 2 + (xx - W / 2) ** 2) < r * r).float()  # (H, W)


def test_parse_hex_color():
    assert torch.allclose(parse_hex_color("#ff8000"), torch.tensor([1.0, 128 / 255, 0.0]))
    assert torch.allclose(parse_hex_color(" 00FF00 "), torch.tensor([0.0, 1.0, 0.0]))
    assert parse_hex_color("#fff") is None and parse_hex_color("#gg0000") is None


def test_rgba_alpha_is_the_mask():
    m = _disk()
    img = torch.cat([torch.rand(*m.shape, 3), m[..., None]], -1)
    assert torch.equal(image_to_mask(img), m)
    assert torch.equal(image_to_mask(img, "alpha"), m)
    assert torch.equal(image_to_mask(m), m)  # one channel: itself


def test_object_on_a_plain_background_auto_and_hex():
    m = _disk()
    bg, fg = torch.tensor([0.2, 0.2, 0.25]), torch.tensor([0.9, 0.5, 0.1])
    img = bg * (1 - m[..., None]) + fg * m[..., None]  # (H, W, 3)
    assert torch.equal(image_to_mask(img), m)
    assert torch.equal(image_to_mask(img, "#333340"), m)
    # an anti-aliased edge pixel (half object) keeps half coverage
    img[0, 0] = (bg + fg) / 2
    assert float(image_to_mask(img)[0, 0]) == pytest.approx(0.5, abs=1e-6)


def test_luminance_is_the_grey_level():
    img = torch.rand(8, 9, 3)
    assert torch.allclose(image_to_mask(img, "luminance"), img.mean(-1))


@pytest.mark.parametrize("mode", ["alpha", "chroma", "#12345"])
def test_bad_background_names_it(mode):
    with pytest.raises(ValueError, match="background"):
        image_to_mask(torch.rand(8, 8, 3), mode)


def test_resize_mask_keeps_aspect_and_coverage():
    m = _disk(40, 80, 15.0)
    assert fit_size(40, 80, 20) == (10, 20)
    small = resize_mask(m, 20)
    assert small.shape == (10, 20)
    assert float(small.mean()) == pytest.approx(float(m.mean()), abs=1e-6)  # area average
    assert resize_mask(m, 80) is m
    big = resize_mask(m, 160)
    assert big.shape == (80, 160) and float(big.min()) >= 0 and float(big.max()) <= 1

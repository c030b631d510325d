"""SSIM against a direct per-pixel implementation of Wang et al. (2004) and its known properties."""

import math

import numpy as np
import pytest
import torch

from unrender.metrics import ssim


def _ssim_direct(x: np.ndarray, y: np.ndarray, L: float = 1.0) -> float:
    """Per window position, per channel: the Gaussian-weighted means, variances and covariance (11 x 11, sigma 1.5)."""
    r = np.arange(11) - 5.0
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    H, W, C = x.shape
    vals = []
    for c in range(C):
        for i in range(H - 10):
            for j in range(W - 10):
                a, b = x[i:i + 11, j:j + 11, c], y[i:i + 11, j:j + 11, c]
                ma, mb = (w * a).sum(), (w * b).sum()
                va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
                cov = (w * (a - ma) * (b - mb)).sum()
                vals.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_the_direct_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 16, 19, 3, generator=g)
    y = (x + 0.2 * torch.randn(2, 16, 19, 3, generator=g)).clamp(0, 1)
    got = ssim(x, y)
    assert got.shape == (2,)
    for b in range(2):
        assert float(got[b]) == pytest.approx(_ssim_direct(x[b].double().numpy(), y[b].double().numpy()), abs=1e-6)
    # a peak value other than 1 scales the constants
    assert float(ssim(x[0] * 255, y[0] * 255, max_val=255.0)) == pytest.approx(float(got[0]), abs=1e-5)


def test_ssim_properties():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(24, 24, 3, generator=g)
    assert float(ssim(x, x)) == pytest.approx(1.0, abs=1e-6)
    y = (x + 0.05 * torch.randn(24, 24, 3, generator=g)).clamp(0, 1)
    z = (x + 0.3 * torch.randn(24, 24, 3, generator=g)).clamp(0, 1)
    assert float(ssim(x, y)) == pytest.approx(float(ssim(y, x)), abs=1e-7)  # symmetric
    assert 1.0 > float(ssim(x, y)) > float(ssim(x, z)) > -1.0  # more noise, lower
    assert float(ssim(x[..., 0], y[..., 0])) == pytest.approx(_ssim_direct(x[..., :1].double().numpy(), y[..., :1].double().numpy()), abs=1e-6)
    assert math.isfinite(float(ssim(torch.zeros(11, 11), torch.zeros(11, 11))))


@pytest.mark.parametrize("call, message", [
    (lambda: ssim(torch.zeros(12, 12, 3), torch.zeros(12, 13, 3)), r"reference: expected the shape of image"),
    (lambda: ssim(torch.zeros(8, 8, 3), torch.zeros(8, 8, 3)), r"image: expected H and W of at least the window 11"),
    (lambda: ssim(torch.zeros(12, 12), torch.zeros(12, 12), window=4), r"window: expected an odd positive int"),
])
def test_ssim_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()

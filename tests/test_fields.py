"""Neural fields: encodings (PyTorch3D parity, hash-grid interpolation), every field fits a small picture,
the 3D occupancy job recovers a torus, gradients flow, bad input is named."""

import math

import pytest
import torch

from unrender.fields import (
    DenseGridField,
    VoxelGridField,
    Field,
    HarmonicEmbedding,
    HashGridEncoding,
    HashGridField,
    HybridField,
    MLPField,
    SirenField,
    TriPlaneField,
    field_surface,
    fit_image,
    fit_occupancy,
    image_coordinates,
    occupancy_samples,
    procedural_image,
    sample_grid,
)
from unrender.geometry import torus
from unrender.metrics import mesh_f1
from unrender.threads import using_threads


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small fits on one thread: a second one only oversubscribes a busy CPU (10x slower seen here)."""
    with using_threads(1):
        yield


def small_fields(in_dim, out_dim):
    """name -> (field, Adam learning rate) at CI size."""
    torch.manual_seed(0)
    return {
        "mlp": (MLPField(in_dim, out_dim, hidden=64, layers=3), 3e-3),
        "mlp_harmonic": (MLPField(in_dim, out_dim, hidden=64, layers=3, encoding=HarmonicEmbedding(6, omega_0=math.pi)), 3e-3),
        "siren": (SirenField(in_dim, out_dim, hidden=64, layers=3), 1e-3),
        "dense": (DenseGridField(in_dim, out_dim, resolution=16), 0.1),
        "hybrid": (HybridField(in_dim, out_dim, resolution=16, features=8, hidden=32), 1e-2),
        "triplane": (TriPlaneField(in_dim, out_dim, resolution=32, features=8, hidden=32, combine="product"), 1e-2),
        "hash": (HashGridField(in_dim, out_dim, levels=6, table_size=2**10, base_resolution=4, growth_factor=1.5, hidden=32), 1e-2),
    }


@pytest.mark.parametrize("n, omega_0, logspace, append_input", [(6, 1.0, True, True), (4, 0.5, False, False), (10, 3.0, True, False)])
def test_harmonic_embedding_matches_pytorch3d(n, omega_0, logspace, append_input):
    p3d = pytest.importorskip("pytorch3d.renderer")
    ours = HarmonicEmbedding(n, omega_0, logspace, append_input)
    theirs = p3d.HarmonicEmbedding(n, omega_0, logspace, append_input)
    x = torch.randn(2, 5, 3) * 2
    out = ours(x)
    assert out.shape == (2, 5, ours.get_output_dim(3))
    torch.testing.assert_close(out, theirs(x), atol=1e-6, rtol=0)
    cov = torch.rand(2, 5, 3) * 0.01
    torch.testing.assert_close(ours(x, diag_cov=cov), theirs(x, diag_cov=cov), atol=1e-6, rtol=0)
    assert ours.get_output_dim(2) == theirs.get_output_dim(2)
    assert ours(torch.zeros(0, 3)).shape == (0, ours.get_output_dim(3))  # an empty batch of points (no ray hit)


@pytest.mark.parametrize("in_dim", [2, 3])
@pytest.mark.parametrize("table_size", [2**12, 37])  # every level one to one / every level hashed
def test_hash_grid_is_the_table_row_at_vertices(in_dim, table_size):
    torch.manual_seed(0)
    enc = HashGridEncoding(in_dim, levels=3, table_size=table_size, features=2, base_resolution=3, growth_factor=2.0)
    with torch.no_grad():
        enc.table.uniform_(-1, 1)
    assert enc.resolutions == (3, 6, 12)
    for level, n in enumerate(enc.resolutions):
        verts = torch.cartesian_prod(*[torch.arange(n + 1)] * in_dim)  # (V, D)
        x = verts.double() / n * 2 - 1
        out = enc(x.float()).view(-1, enc.levels, enc.features)[:, level]
        rows = enc.grid_index(verts.expand(enc.levels, -1, -1))[level]
        torch.testing.assert_close(out, enc.level_table(level)[rows].detach(), atol=1e-5, rtol=0)
        if (n + 1) ** in_dim <= table_size:  # a dense level gives every vertex its own row
            assert rows.unique().numel() == verts.shape[0] == enc.sizes[level]
        else:
            assert enc.sizes[level] == table_size
        assert int(rows.min()) >= 0 and int(rows.max()) < enc.sizes[level]
    assert enc.table.shape == (sum(enc.sizes), 2)


def test_hash_grid_is_continuous_and_differentiable():
    torch.manual_seed(0)
    enc = HashGridEncoding(3, levels=4, table_size=2**8, features=2, base_resolution=4, growth_factor=2.0)
    with torch.no_grad():
        enc.table.uniform_(-1, 1)
    # a line crossing many cells at every level: neighbouring samples differ by at most
    # the Lipschitz bound of trilinear interpolation (finest cells 32 per axis)
    t = torch.linspace(0, 1, 20001, dtype=torch.float64)[:, None]
    x = (-0.93 + 1.81 * t * torch.tensor([1.0, 0.7, 0.4], dtype=torch.float64)).float()
    with torch.no_grad():
        out = enc(x)
    step = (x[1:] - x[:-1]).abs().sum(1).max()
    lipschitz = 2 * (32 / 2) * 3  # |table| <= 1, d(frac)/dx = N / 2 per axis, 3 axes
    assert float((out[1:] - out[:-1]).abs().max()) <= lipschitz * float(step) * 1.01
    assert float(out.std()) > 0.1  # not flat
    x = (torch.rand(50, 3) * 2 - 1).requires_grad_()
    enc(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert enc.table.grad.abs().sum() > 0


def test_sample_grid_is_exact_at_samples_and_linear_between():
    grid = torch.arange(12.0).view(1, 3, 4)  # (C, H, W): value = 4 y + x
    xy = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1 / 3, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(sample_grid(grid, xy)[:, 0], torch.tensor([0.0, 11.0, 5.0, 5.5]))


# measured (seed 0, one thread): mlp 14.4, mlp_harmonic 18.9, siren 44.8, dense 18.2 (16^2 grid on 32^2
# pixels), hybrid 22.8, triplane 17.0, hash 34.5 dB
@pytest.mark.parametrize("name, floor", [
    ("mlp", 13.0), ("mlp_harmonic", 17.0), ("siren", 35.0), ("dense", 17.0), ("hybrid", 21.0), ("triplane", 15.5), ("hash", 32.0),
])
def test_each_field_fits_a_small_picture(name, floor):
    image = procedural_image(32)
    field, lr = small_fields(2, 3)[name]
    r = fit_image(field, image, steps=150, batch_size=4096, lr=lr)
    assert r.prediction.shape == image.shape
    assert r.losses[-1] < r.losses[0]
    assert r.psnr >= floor, f"{name}: {r.psnr:.2f} dB"


def test_occupancy_job_recovers_a_torus():
    target = torus(0.7, 0.25, rings=48, sides=24)
    points, inside = occupancy_samples(target, 30_000, noise=0.03, seed=0)
    assert 0.05 < inside.float().mean() < 0.6
    torch.manual_seed(0)
    field = HashGridField(3, 1, levels=6, table_size=2**14, base_resolution=4, growth_factor=1.6, hidden=32)
    fit_occupancy(field, points, inside, steps=120, batch_size=4096, lr=1e-2)
    mesh = field_surface(field, 40)
    f1 = mesh_f1(mesh, target, thresholds=(0.02, 0.05), num_samples=20_000)
    # measured 0.952 and 1.000 (marching cubes cells 0.05 wide)
    assert float(f1["f1@0.02"]) >= 0.9 and float(f1["f1@0.05"]) >= 0.98


@pytest.mark.parametrize("in_dim", [2, 3])
def test_every_field_keeps_leading_dims_and_passes_gradients(in_dim):
    for name, (field, _) in small_fields(in_dim, 4).items():
        assert isinstance(field, Field) and (field.in_dim, field.out_dim) == (in_dim, 4)
        with torch.no_grad():  # off the constant start of the dense grid
            for p in field.parameters():
                p.add_(0.1 * torch.randn_like(p))
        x = (torch.rand(2, 3, 5, in_dim) * 2 - 1).requires_grad_()
        out = field(x)
        assert out.shape == (2, 3, 5, 4), name
        out.square().sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, name
        for pname, p in field.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}.{pname}"
        assert sum(float(p.grad.abs().sum()) for p in field.parameters()) > 0, name


def test_siren_uses_sitzmanns_initialisation():
    torch.manual_seed(0)
    f = SirenField(2, 3, hidden=256, layers=3, first_omega_0=30, hidden_omega_0=30)
    first, second = f.net[0].linear.weight.detach(), f.net[1].linear.weight.detach()
    assert float(first.abs().max()) <= 1 / 2 and float(first.abs().max()) > 0.45
    bound = math.sqrt(6 / 256) / 30
    assert float(second.abs().max()) <= bound and float(second.abs().max()) > 0.95 * bound
    assert f.net[0].omega_0 == 30


def test_image_coordinates_are_pixel_centres():
    c = image_coordinates(2, 4)
    torch.testing.assert_close(c[0, :, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(c[:, 0, 1], torch.tensor([-0.5, 0.5]))


def test_bad_input_is_named():
    field = MLPField(2, 3, hidden=8, layers=1)
    with pytest.raises(ValueError, match=r"points: expected shape \(\.\.\., 2\)"):
        field(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="points: expected a floating-point"):
        field(torch.zeros(5, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"diag_cov: expected shape \(4, 3\), found shape \(4, 2\)"):
        HarmonicEmbedding()(torch.zeros(4, 3), diag_cov=torch.zeros(4, 2))
    with pytest.raises(ValueError, match="in_dim: expected 2 or 3"):
        HashGridEncoding(4)
    with pytest.raises(ValueError, match="growth_factor"):
        HashGridEncoding(3, growth_factor=0.5)
    with pytest.raises(ValueError, match="combine"):
        TriPlaneField(3, 1, combine="max")
    with pytest.raises(ValueError, match="resolution"):
        DenseGridField(2, 1, resolution=1)
    with pytest.raises(ValueError, match="encoding"):
        MLPField(2, 1, encoding=torch.nn.ReLU())
    with pytest.raises(ValueError, match=r"field: expected out_dim 1 \(the image's channels\), found 3"):
        fit_image(field, torch.rand(4, 4, 1), steps=1)
    with pytest.raises(ValueError, match="image: expected finite"):
        fit_image(field, torch.full((4, 4, 3), float("nan")), steps=1)
    with pytest.raises(ValueError, match="field: expected an unrender.fields.Field"):
        fit_image(torch.nn.Linear(2, 3), torch.rand(4, 4, 3), steps=1)
    with pytest.raises(ValueError, match="field: expected in_dim 3"):
        fit_occupancy(field, torch.zeros(4, 3), torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="inside: expected shape"):
        fit_occupancy(DenseGridField(3, 1, resolution=2), torch.zeros(4, 3), torch.zeros(5, dtype=torch.bool))


@pytest.mark.parametrize("in_dim", [2, 3])
def test_voxel_grid_reads_like_sample_grid_and_upsamples_exactly(in_dim):
    torch.manual_seed(0)
    field = VoxelGridField(in_dim, 3, resolution=8)
    with torch.no_grad():
        field.table.uniform_(-1, 1)
    x = torch.rand(500, in_dim) * 2.2 - 1.1  # some outside: border values
    torch.testing.assert_close(field(x), sample_grid(field.grid(), x), atol=1e-5, rtol=0)
    before = field(x).detach()
    field.upsample(16)  # multilinear cells split in two: the same function
    assert field.resolution == 16 and field.table.shape == (17**in_dim, 3)
    torch.testing.assert_close(field(x).detach(), before, atol=1e-5, rtol=0)
    field(x).sum().backward()  # a read touches only its corners' rows
    touched = field.table.grad.ne(0).any(1)
    assert 0 < int(touched.sum()) <= 2**in_dim * 500
    field.zero_grad()
    field(torch.full((1, in_dim), 0.01)).sum().backward()  # inside a cell: its 2^D corners
    assert int(field.table.grad.ne(0).any(1).sum()) == 2**in_dim

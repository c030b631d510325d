"""unrender.models: encoder / decoder shapes, configs, losses that train, predictions as meshes."""

import json

import pytest
import torch

from unrender.geometry import closed_surface, cube, icosphere, icosphere_verts_faces, sample_points_from_meshes
from unrender.models import (
    FastEncoder,
    MeshDecoder,
    ModelConfig,
    PointDecoder,
    Prediction,
    ResNet18Encoder,
    SingleViewModel,
    VoxelConvDecoder,
    VoxelMLPDecoder,
    build_model,
)
from unrender.structures import Meshes, PointClouds, Voxels
from unrender.threads import using_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with using_threads(1):
        yield


@pytest.mark.parametrize("encoder", [FastEncoder, ResNet18Encoder])
@pytest.mark.parametrize("norm", ["group", "batch"])
def test_encoders_map_images_to_codes(encoder, norm):
    torch.manual_seed(0)
    enc = encoder(latent=48, norm=norm)
    code = enc(torch.rand(3, 4, 64, 64))
    assert code.shape == (3, 48) and torch.isfinite(code).all()


def test_fast_encoder_refuses_another_image_size():
    with pytest.raises(ValueError, match="images: expected 64x64"):
        FastEncoder()(torch.rand(1, 4, 32, 32))


def test_decoders_shapes_and_ranges():
    code = torch.randn(2, 256)
    assert VoxelConvDecoder(resolution=32)(code).shape == (2, 32, 32, 32)
    assert VoxelConvDecoder(resolution=16)(code).shape == (2, 16, 16, 16)
    assert VoxelMLPDecoder(resolution=16, hidden=32)(code).shape == (2, 16, 16, 16)
    assert PointDecoder(n_points=100, hidden=64)(code).shape == (2, 100, 3)
    dec = MeshDecoder(level=2, radius=0.3, hidden=64)
    verts = dec(code)
    V = icosphere_verts_faces(2)[0].shape[0]
    assert verts.shape == (2, V, 3) and dec.faces.shape == (20 * 16, 3)
    # The last layer starts at zero: an untrained decoder gives the sphere of radius 0.3.
    assert torch.allclose(verts.norm(dim=-1), torch.full((2, V), 0.3), atol=1e-5)
    with torch.no_grad():
        dec.net[-1].bias.fill_(50.0)
    assert dec(code).abs().max() <= 0.5  # tanh keeps every coordinate inside the bounds


@pytest.mark.parametrize("kind, shape", [("vox", (2, 32, 32, 32)), ("points", (2, 1024, 3)), ("mesh", (2, 642, 3))])
def test_default_models_forward_shapes(kind, shape):
    torch.manual_seed(0)
    model = build_model(kind=kind)
    assert isinstance(model, SingleViewModel) and model.kind == kind
    assert model(torch.rand(2, 4, 64, 64)).shape == shape


@pytest.mark.parametrize("kind", ["vox", "points", "mesh"])
def test_group_norm_makes_each_output_independent_of_the_batch(kind):
    """What DDP needs: a sample's output (training mode) does not depend on the other samples of its batch."""
    torch.manual_seed(0)
    images = torch.rand(4, 4, 64, 64)
    model = build_model(kind=kind, latent=32, hidden=32).train()
    batch_norm = build_model(kind=kind, latent=32, hidden=32, norm="batch").train()
    with torch.no_grad():
        for m in (model, batch_norm):  # the mesh decoder's last layer starts at zero (the sphere)
            m.decoder.net[-1].weight.normal_(0.0, 0.01)
        assert torch.allclose(model(images)[:2], model(images[:2]), atol=1e-5)
        assert not torch.allclose(batch_norm(images)[:2], batch_norm(images[:2]), atol=1e-5)


def test_build_model_names_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown keys \['depth'\]"):
        build_model(kind="vox", depth=3)


def test_loss_names_a_missing_batch_key():
    model = build_model(kind="vox", latent=8)
    with pytest.raises(ValueError, match="batch: expected a dict with 'voxels' for a vox model, found \\['image'\\]"):
        model.loss(model(torch.rand(1, 4, 64, 64)), {"image": torch.rand(1, 4, 64, 64)})


def test_model_refuses_bad_images():
    model = build_model(kind="points", hidden=32)
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(2, 3, 64, 64))


@pytest.mark.parametrize(
    "field, value",
    [("kind", "sdf"), ("encoder", "vit"), ("norm", "layer"), ("latent", 0), ("image_size", 60), ("resolution", 24),
     ("ico_radius", 0.6), ("edge_weight", -1.0), ("pos_weight", 0.0), ("n_points", 1.5)],
)
def test_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{field: value})


def test_config_json_round_trip_and_unknown_keys():
    cfg = ModelConfig(kind="vox", latent=64, pos_weight=None)
    assert ModelConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match=r"unknown keys \['width'\]"):
        ModelConfig.from_dict({"kind": "vox", "width": 3})


def _sphere_batch(B=2, P=512):
    """Images of nothing in particular and the truth of a ball of radius 0.35 (voxels, points)."""
    g = torch.Generator().manual_seed(0)
    points = sample_points_from_meshes(icosphere(3), P, generator=g)[0] * 0.35
    c = (torch.arange(32) + 0.5) / 32 - 0.5
    z, y, x = torch.meshgrid(c, c, c, indexing="ij")
    voxels = ((x**2 + y**2 + z**2) < 0.35**2).float()
    return {
        "image": torch.rand(B, 4, 64, 64, generator=g),
        "voxels": voxels.expand(B, 32, 32, 32).clone(),
        "points": points.expand(B, P, 3).clone(),
    }


@pytest.mark.parametrize("kind", ["vox", "points", "mesh"])
def test_loss_is_finite_and_falls_when_overfitting_one_batch(kind):
    torch.manual_seed(0)
    model = build_model(kind=kind, latent=32, hidden=64, n_points=256, ico_level=2, mesh_samples=512, ico_radius=0.2)
    batch = _sphere_batch()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for _ in range(30):
        loss, terms = model.loss(model(batch["image"]), batch)
        assert torch.isfinite(loss) and loss.dim() == 0
        assert terms["loss"] == pytest.approx(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0]
    expected = {"vox": {"loss", "bce"}, "points": {"loss", "chamfer"}, "mesh": {"loss", "chamfer", "edge", "laplacian", "normal"}}
    assert set(terms) == expected[kind]


@pytest.mark.parametrize("kind", ["vox", "points", "mesh"])
def test_predict_gives_meshes_for_every_kind(kind):
    torch.manual_seed(0)
    model = build_model(kind=kind, latent=32, hidden=64)
    if kind == "vox":  # from the starting occupancy prior (12 %) to about half the cells occupied
        torch.nn.init.zeros_(model.decoder.net[-1].bias)
    model.train()
    pred = model.predict(torch.rand(2, 4, 64, 64))
    assert isinstance(pred, Prediction) and isinstance(pred.meshes, Meshes) and len(pred.meshes) == 2
    assert model.training  # the mode is restored
    assert (pred.voxels is not None) == (kind == "vox") and (pred.points is not None) == (kind == "points")
    if kind == "vox":
        assert isinstance(pred.voxels, Voxels) and pred.voxels.grids_padded().shape == (2, 32, 32, 32)
    if kind == "points":
        assert isinstance(pred.points, PointClouds) and pred.points.points_padded().shape == (2, 1024, 3)
    for v in pred.meshes.verts_list():
        assert v.shape[0] > 0 and v.abs().max() <= 0.5 + 2 / 32
    if kind == "mesh":
        assert all(closed_surface(v.double(), f) for v, f in zip(pred.meshes.verts_list(), pred.meshes.faces_list()))


def test_vox_prediction_of_a_full_grid_is_a_closed_box_at_the_bounds():
    """Probabilities above 0.5 everywhere: padding closes the surface half a cell outside the grid's centres."""
    model = build_model(kind="vox", latent=8)
    with torch.no_grad():
        model.decoder.net[-1].weight.zero_()
        model.decoder.net[-1].bias.fill_(5.0)
    mesh = model.predict(torch.rand(1, 4, 64, 64)).meshes
    verts = mesh.verts_list()[0]
    assert torch.allclose(verts.abs().amax(0), torch.full((3,), 0.5), atol=1e-3)
    assert closed_surface(verts.double(), mesh.faces_list()[0])


def test_points_prediction_encloses_a_sphere_of_points():
    """The points model's mesh is the closed surface around its cloud (a ball here, about its size)."""
    model = build_model(kind="points", latent=8, hidden=8)
    target = sample_points_from_meshes(icosphere(4), 1024, generator=torch.Generator().manual_seed(1))[0] * 0.4
    with torch.no_grad():
        model.decoder.net[-1].weight.zero_()
        model.decoder.net[-1].bias.copy_(target.reshape(-1))
    mesh = model.predict(torch.rand(1, 4, 64, 64)).meshes
    r = mesh.verts_list()[0].norm(dim=1)
    assert 0.33 < float(r.mean()) < 0.45
    assert closed_surface(mesh.verts_list()[0].double(), mesh.faces_list()[0])


def test_points_prediction_of_a_slab_is_closed():
    """Flat faces at the cloud's extremes (a table top, a seat) still give a closed surface."""
    model = build_model(kind="points", latent=8, hidden=8)
    g = torch.Generator().manual_seed(2)
    slab = sample_points_from_meshes(cube(), 1024, generator=g)[0] * torch.tensor([0.45, 0.08, 0.3])
    with torch.no_grad():
        model.decoder.net[-1].weight.zero_()
        model.decoder.net[-1].bias.copy_(slab.reshape(-1))
    mesh = model.predict(torch.rand(1, 4, 64, 64)).meshes
    v, f = mesh.verts_list()[0], mesh.faces_list()[0]
    assert closed_surface(v.double(), f)
    assert torch.allclose(v.amax(0), slab.amax(0), atol=0.04) and torch.allclose(v.amin(0), slab.amin(0), atol=0.04)

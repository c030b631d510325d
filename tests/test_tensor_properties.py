"""TensorProperties: the one batched-properties base of lights, materials, cameras and textures."""

import pytest
import torch

from unrender.cameras import CamerasBase, PerspectiveCameras
from unrender.render import DirectionalLights, Materials, TexturesUV, TexturesVertex
from unrender.tensor_properties import TensorProperties, batch_size, broadcast_batch

D = torch.float64


# ----------------------------------------------------------------------------- broadcast
def test_numbers_rows_and_batches_broadcast_to_n():
    a = torch.arange(6.0).reshape(3, 2)
    p = TensorProperties(scale=2.0, color=((0.1, 0.2, 0.3),), offset=a, weight=torch.tensor(0.5))
    assert len(p) == 3 and not p.isempty()
    assert p.scale.shape == (3,) and torch.equal(p.scale, torch.full((3,), 2.0))
    assert p.color.shape == (3, 3) and torch.equal(p.color, torch.tensor([[0.1, 0.2, 0.3]]).expand(3, 3))
    assert p.offset is a  # already (N, ...): kept as it is
    assert p.weight.shape == (3,)
    assert p.scale.dtype == torch.get_default_dtype()
    assert TensorProperties(dtype=D, x=1.0).x.dtype == D
    assert TensorProperties(x=torch.ones(2, dtype=D)).x.dtype == D  # tensors keep their dtype


def test_broadcast_keeps_the_autograd_graph():
    x = torch.ones(1, 3, requires_grad=True)
    p = TensorProperties(x=x, y=torch.zeros(4, 3))
    p.x.sum().backward()
    assert torch.equal(x.grad, torch.full((1, 3), 4.0))


def test_lists_of_tensors_are_per_item_lists():
    maps = [torch.rand(4, 4, 3), torch.rand(8, 2, 3)]
    p = TensorProperties(maps=maps, gain=1.0)
    assert len(p) == 2 and p.gain.shape == (2,) and p.maps[1] is maps[1]
    one = TensorProperties(maps=[maps[0]], w=torch.ones(3))
    assert len(one.maps) == 3 and all(m is maps[0] for m in one.maps)


def test_batch_size_error_names_argument_expected_and_found():
    with pytest.raises(ValueError, match=r"b: expected batch size 1 or 3 to match the other arguments \(a: 3, b: 2\), found 2"):
        TensorProperties(a=torch.zeros(3), b=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="maps: expected batch size 1 or 3"):
        TensorProperties(a=torch.zeros(3), maps=[torch.zeros(2)] * 2)
    with pytest.raises(ValueError, match="a: expected a number, a sequence of numbers, an array or a tensor, found 'red'"):
        TensorProperties(a="red")
    assert batch_size({"a": 1, "b": 4, "c": 1}) == 4
    out, n = broadcast_batch({"a": torch.zeros(1, 2), "b": torch.zeros(5)})
    assert n == 5 and out["a"].shape == (5, 2)
    with pytest.raises(ValueError, match="lights: expected a batch of 1 or 2 DirectionalLights"):
        DirectionalLights(direction=torch.randn(3, 3)).check_batch(2)
    with pytest.raises(ValueError, match=r"verts_features: expected a batch of 1 or 4 TexturesVertex \(one per mesh\), found 2"):
        TexturesVertex([torch.rand(3, 3)] * 2).check_batch(4, "verts_features", per="mesh")
    Materials().check_batch(7)  # one material serves every image


# ----------------------------------------------------------------------------- indexing
def test_indexing_with_int_slice_list_and_tensors():
    p = TensorProperties(v=torch.arange(5.0), items=[torch.full((2,), float(i)) for i in range(5)])
    cases = [
        (2, [2]),
        (-1, [4]),
        (slice(1, 4, 2), [1, 3]),
        ([0, 3], [0, 3]),
        (torch.tensor([True, False, True, True, False]), [0, 2, 3]),
        (torch.tensor([4, 0]), [4, 0]),
        (torch.tensor([1, 1], dtype=torch.int32), [1, 1]),
    ]
    for index, rows in cases:
        sub = p[index]
        assert len(sub) == len(rows), index
        assert sub.v.tolist() == [float(r) for r in rows], index
        assert [float(t[0]) for t in sub.items] == [float(r) for r in rows], index
    assert len(p[torch.zeros(5, dtype=torch.bool)]) == 0
    with pytest.raises(IndexError):
        p[5]
    with pytest.raises(IndexError):
        p[[0, -6]]
    for bad, match in [("a", "index: expected an int"), (True, "index: expected an int"), ([0, 1.0], "list of ints"),
                       (torch.tensor([True, False]), r"bool mask of shape \(5,\)"), (torch.tensor([0.0]), "integer tensor")]:
        with pytest.raises(ValueError, match=match):
            p[bad]


def test_extend_repeats_each_item_in_a_row():
    p = TensorProperties(v=torch.tensor([1.0, 2.0]), items=[torch.zeros(1), torch.ones(1)])
    e = p.extend(3)
    assert len(e) == 6 and e.v.tolist() == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert [float(t) for t in e.items] == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="n"):
        p.extend(0)


# ----------------------------------------------------------------------------- the four families
def _families():
    """One member of each family whose tensors require grad, with the name of one float field."""
    g = torch.Generator().manual_seed(0)
    leaf = lambda *s: torch.rand(*s, generator=g, dtype=D).requires_grad_()  # noqa: E731
    light = DirectionalLights(direction=leaf(3, 3), diffuse_color=leaf(3))
    material = Materials(diffuse_color=leaf(3, 3), shininess=leaf(3))
    camera = PerspectiveCameras(focal_length=leaf(3), R=torch.eye(3, dtype=D), T=leaf(3, 3), image_size=(32, 48))
    uv = TexturesUV([leaf(4, 4, 3), leaf(2, 6, 3), leaf(5, 5, 3)], [torch.zeros(2, 3, dtype=torch.long)] * 3, [leaf(4, 2)] * 3)
    vertex = TexturesVertex(leaf(3, 5, 3))
    return {"light": (light, "direction"), "material": (material, "shininess"), "camera": (camera, "T"),
            "uv texture": (uv, "_maps"), "vertex texture": (vertex, "_feats")}


def _tensors(obj):
    out = []
    for k in obj._FIELDS:
        v = getattr(obj, k)
        out += v if isinstance(v, list) else [] if v is None else [v]
    return out


@pytest.mark.parametrize("family", ["light", "material", "camera", "uv texture", "vertex texture"])
def test_each_family_is_a_tensor_properties_batch(family):
    obj, field = _families()[family]
    assert isinstance(obj, TensorProperties) and len(obj) == 3
    # clone: same values, own storage, still in the graph
    c = obj.clone()
    assert type(c) is type(obj) and len(c) == 3
    for a, b in zip(_tensors(obj), _tensors(c)):
        assert torch.equal(a, b) and a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr()
    moved = getattr(c, field)
    first = moved[0] if isinstance(moved, list) else moved
    first.detach().add_(1.0)  # writing into the clone leaves the original as it was
    orig = getattr(obj, field)
    assert not torch.equal((orig[0] if isinstance(orig, list) else orig), first)
    assert first.requires_grad
    # detach: same values and storage, no grad
    d = obj.detach()
    for a, b in zip(_tensors(obj), _tensors(d)):
        assert torch.equal(a, b) and not b.requires_grad
        assert a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    assert any(t.requires_grad for t in _tensors(obj))
    # to: in place, returns self; dtype casts floats only
    assert obj.to("cpu") is obj and obj.cpu() is obj and obj.device == torch.device("cpu")
    obj.to(dtype=torch.float32)
    assert all(t.dtype == (torch.float32 if t.is_floating_point() else torch.int64) for t in _tensors(obj))
    # indexing: the rows / items of every field
    sub = obj[[2, 0]]
    assert type(sub) is type(obj) and len(sub) == 2
    for k in obj._FIELDS:
        v, s = getattr(obj, k), getattr(sub, k)
        if isinstance(v, list):
            assert s[0] is v[2] and s[1] is v[0]
        elif v is not None:
            assert torch.equal(s, v[[2, 0]])
    assert len(obj[1]) == 1 and len(obj[:2]) == 2


def test_family_broadcast_and_settings_survive_new_batches():
    light = DirectionalLights(direction=torch.randn(4, 3))
    assert light.ambient_color.shape == (4, 3) and torch.equal(light[3].ambient_color, torch.full((1, 3), 0.5))
    mat = Materials(diffuse_color=torch.rand(2, 3))
    assert mat.shininess.shape == (2,) and mat[1].shininess.tolist() == [64.0]
    cams = PerspectiveCameras(focal_length=torch.tensor([1.0, 2.0]), in_ndc=False, image_size=(10, 20))
    sub = cams[1]
    assert isinstance(sub, CamerasBase) and sub.in_ndc() is False and sub.image_size.tolist() == [[10, 20]]
    assert sub.focal_length.tolist() == [[2.0, 2.0]]
    tex = TexturesUV(torch.rand(1, 4, 4, 3), torch.zeros(1, 2, 3, dtype=torch.long), torch.rand(1, 3, 2),
                     padding_mode="zeros", align_corners=False, sampling_mode="nearest")
    ext = tex.extend(3)
    assert len(ext) == 3 and (ext.padding_mode, ext.align_corners, ext.sampling_mode) == ("zeros", False, "nearest")
    assert all(m is tex.maps_list()[0] for m in ext.maps_list()) and len(tex) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("family", ["light", "material", "camera", "uv texture", "vertex texture"])
def test_each_family_moves_to_cuda_and_back(family):
    obj, _ = _families()[family]
    before = [t.detach().clone() for t in _tensors(obj)]
    assert obj.cuda() is obj and obj.device.type == "cuda"
    assert all(t.is_cuda for t in _tensors(obj))
    assert obj[torch.tensor([True, False, True], device="cuda")].device.type == "cuda"
    obj.cpu()
    assert all(torch.equal(a, b) for a, b in zip(before, _tensors(obj)))

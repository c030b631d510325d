"""The table of kinds: every kind round-trips through its files, is recognised, described and checked;
registering a kind makes it a method input and output with no other change."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from unrender.io.body_params import BodyParameters
from unrender.io.views import PosedViews
from unrender.cameras import PerspectiveCameras
from unrender.geometry.primitives import icosphere
from unrender.kinds import INPUT_KINDS, KINDS, OUTPUT_KINDS, Kind, get_kind, kind_of, load_as, register_kind
from unrender.methods import Input, Method, Output, Result, coerce_input, input_kind, load_input, run_method, save_result
from unrender.methods.inputs import INPUT_SUFFIXES
from unrender.methods.save import describe_input
from unrender.structures import Meshes, PointClouds, Voxels

G = torch.Generator().manual_seed(0)
EXAMPLES = {
    "mesh": icosphere(1),
    "points": PointClouds([torch.randn(40, 3, generator=G)]),
    "voxels": Voxels([torch.rand(4, 5, 6, generator=G)], torch.tensor([[-1.0, -1, -2], [1, 2, 1]])),
    "image": torch.rand(6, 7, 3, generator=G),
    "cameras": PerspectiveCameras(focal_length=((1.2, 1.3),), principal_point=((0.1, 0.0),), T=((0.0, 0.0, 3.0),)),
    "body": BodyParameters(
        betas=torch.randn(10, generator=G, dtype=torch.float64),
        body_pose=torch.randn(2, 3, generator=G, dtype=torch.float64),
        global_orient=torch.randn(3, generator=G, dtype=torch.float64),
        transl=torch.randn(3, generator=G, dtype=torch.float64),
        joint_names=("root", "spine", "head"), parents=(-1, 0, 1),
        rest_joints=torch.randn(3, 3, generator=G, dtype=torch.float64), focal=1000.0, image_size=(640, 480)),
    "keypoints": torch.randn(5, 2, generator=G),
    "views": PosedViews(torch.randint(0, 256, (2, 6, 7, 3), generator=G) / 255.0,
                        PerspectiveCameras(focal_length=1.5, T=((0.0, 0.0, 3.0), (0.1, 0.0, 4.0)), image_size=(6, 7)),
                        torch.randint(0, 256, (2, 6, 7), generator=G) / 255.0, splits=["train", "test"]),
}


def _same(kind: str, a, b) -> bool:
    if kind == "body":
        return all(torch.allclose(x, y) for x, y in zip(a.as_dict().values(), b.as_dict().values())) and (
            a.joint_names, a.parents, a.focal, a.image_size) == (b.joint_names, b.parents, b.focal, b.image_size)
    if kind == "mesh":
        return torch.allclose(a.verts_packed(), b.verts_packed(), atol=1e-6) and torch.equal(a.faces_packed(), b.faces_packed())
    if kind == "points":
        return torch.allclose(a.points_packed(), b.points_packed(), atol=1e-6)
    if kind == "voxels":
        return torch.equal(a.grids_list()[0], b.grids_list()[0]) and torch.equal(a.bounds(), b.bounds())
    if kind == "views":  # 8-bit images: exact; cameras through float64 JSON
        return (torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks) and a.splits == b.splits
                and torch.allclose(a.cameras.get_full_projection_transform().get_matrix(),
                                   b.cameras.get_full_projection_transform().get_matrix(), atol=1e-5))
    if kind == "image":
        return a.shape == b.shape and float((a - b).abs().max()) <= 1 / 255 + 1e-6  # 8-bit PNG
    if kind == "cameras":
        p = torch.randn(1, 20, 3, generator=torch.Generator().manual_seed(1))
        return type(a) is type(b) and torch.allclose(a.transform_points(p), b.transform_points(p), atol=1e-6)
    return torch.equal(a, b)


def test_the_table_holds_the_kinds_of_today():
    assert tuple(INPUT_KINDS) == ("mesh", "points", "voxels", "image", "cameras", "body", "keypoints", "views")
    assert tuple(OUTPUT_KINDS) == tuple(k for k in INPUT_KINDS if KINDS[k].save is not None)
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_kind_round_trips_save_then_load(tmp_path, name):
    kind, value = get_kind(name), EXAMPLES[name]
    files = kind.save(tmp_path / "out", value)
    assert files[0].suffix == kind.suffixes[0] and all(f.exists() for f in files)
    assert len(files) == 1 or name == "views"  # views: the transforms JSON, then its images
    assert _same(name, value, kind.load(files[0], "x"))
    assert _same(name, value, load_as((name,), files[0], "x"))


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_recognise_describe_and_check(name):
    kind, value = get_kind(name), EXAMPLES[name]
    assert kind.recognise(value) and kind_of(value, [name]) is kind
    assert kind_of(value).name == input_kind(value)
    desc = describe_input(value, (name,))
    assert desc == kind.describe(value) and json.loads(json.dumps(desc)) == desc
    assert describe_input(value) == kind_of(value).describe(value)
    assert desc["kind"] in (name, "tensor")
    checked = coerce_input(Input("x", (name,), "x"), value, "cpu")
    assert _same(name, value, checked) or name == "image"


@pytest.mark.parametrize("name, bad, pattern", [
    ("mesh", Meshes([torch.zeros(3, 3)] * 2, [torch.tensor([[0, 1, 2]])] * 2), r"thing: expected one mesh, found a batch of 2"),
    ("points", torch.tensor([[0.0, float("nan"), 0.0]]), r"thing points: .*finite"),
    ("voxels", Voxels([torch.full((2, 2, 2), 2.0)]), r"thing: expected occupancy values in \[0, 1\]"),
    ("image", torch.rand(4, 4, 2), r"thing: expected an \(H, W, 1\|3\|4\) image, found shape \(4, 4, 2\)"),
    ("keypoints", torch.tensor([[0.0, float("inf")]]), r"thing: .*finite"),
    ("cameras", torch.zeros(2, 2), r"thing: expected a cameras, found a image"),
])
def test_a_bad_value_gives_a_named_error(name, bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        coerce_input(Input("thing", (name,), "x"), bad, "cpu")


def test_a_mesh_serves_a_points_input_as_its_vertices():
    mesh = EXAMPLES["mesh"]
    pts = coerce_input(Input("t", ("points",), "x"), mesh, "cpu")
    assert isinstance(pts, PointClouds) and torch.equal(pts.points_packed(), mesh.verts_packed())


def test_loading_prefers_what_the_file_holds(tmp_path):
    get_kind("voxels").save(tmp_path / "grid", EXAMPLES["voxels"])
    assert isinstance(load_as(("points", "voxels"), tmp_path / "grid.npz", "t"), Voxels)
    get_kind("keypoints").save(tmp_path / "kp", EXAMPLES["keypoints"])
    assert torch.equal(load_as(("cameras", "keypoints"), tmp_path / "kp.json", "t"), EXAMPLES["keypoints"])
    with pytest.raises(ValueError, match=r"t: expected a cameras in .*kp\.json"):
        load_as(("cameras",), tmp_path / "kp.json", "t")
    with pytest.raises(ValueError, match=r"t: expected a mesh file \(\.obj, \.ply\), found 'kp\.json'"):
        load_as(("mesh",), tmp_path / "kp.json", "t")


def test_register_kind_refuses_duplicates_and_non_kinds():
    with pytest.raises(ValueError, match="'mesh' is already registered"):
        register_kind(KINDS["mesh"])
    with pytest.raises(ValueError, match="kind: expected a Kind"):
        register_kind("mesh")
    with pytest.raises(ValueError, match="kind: expected one of .*found 'triangles'"):
        get_kind("triangles")


# ----------------------------------------------------------------------------- adding a kind is one entry
@dataclass
class Polyline:
    points: torch.Tensor  # (N, 3)

    def to(self, device):
        return Polyline(self.points.to(device))


def _load_poly(path: Path, name: str) -> Polyline:
    rows = [list(map(float, line.split())) for line in path.read_text().splitlines() if line.strip()]
    if not rows or any(len(r) != 3 for r in rows):
        raise ValueError(f"{path}: expected rows of 3 numbers")
    return Polyline(torch.tensor(rows))


def _save_poly(stem: Path, value: Polyline) -> list[Path]:
    p = stem.with_suffix(".poly")
    p.write_text("\n".join(" ".join(repr(float(x)) for x in row) for row in value.points.tolist()))
    return [p]


def _check_poly(name, value, accepts):
    if value.points.shape[0] < 2:
        raise ValueError(f"{name}: expected a polyline of 2 or more points, found {value.points.shape[0]}")
    return value


POLYLINE = Kind(
    "polyline", (Polyline,), "a polyline through (N, 3) points",
    recognise=lambda v: isinstance(v, Polyline),
    describe=lambda v: {"kind": "polyline", "points": int(v.points.shape[0])},
    check=_check_poly, suffixes=(".poly",), load=_load_poly, save=_save_poly,
)


class Reverse(Method):
    id = "reverse-polyline"
    label = "Reverse"
    description = "reverse a polyline"

    def run(self, inputs, params, progress):
        return Result({"line": Polyline(inputs["line"].points.flip(0))}, history=[0.0])


@pytest.fixture
def polyline_kind():
    register_kind(POLYLINE)
    yield POLYLINE
    del KINDS["polyline"]


def test_a_registered_kind_is_a_method_input_and_output(tmp_path, polyline_kind):
    Reverse.inputs = (Input("line", ("polyline",), "the polyline"),)  # valid only once the kind is registered
    Reverse.outputs = (Output("line", "polyline", "the reversed polyline"),)
    assert "polyline" in INPUT_KINDS and "polyline" in OUTPUT_KINDS and INPUT_SUFFIXES["polyline"] == (".poly",)
    (tmp_path / "in.poly").write_text("0 0 0\n1 0 0\n1 1 0\n")
    method = Reverse()
    line = load_input(method.inputs[0], tmp_path / "in.poly")
    result = run_method(method, {"line": line}, {})
    summary = save_result(method, {"line": line}, result, tmp_path / "out")
    assert summary["files"]["line"] == ["line.poly"] and summary["inputs"]["line"] == {"kind": "polyline", "points": 3}
    assert _load_poly(tmp_path / "out" / "line.poly", "x").points.tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match="line: expected a polyline of 2 or more points, found 1"):
        run_method(method, {"line": Polyline(torch.zeros(1, 3))}, {})
    with pytest.raises(ValueError, match="line: expected a polyline, found a mesh"):
        run_method(method, {"line": EXAMPLES["mesh"]}, {})


def test_kinds_without_a_picture_give_no_default_pictures(tmp_path, polyline_kind):
    Reverse.inputs = (Input("line", ("polyline",), "the polyline"),)
    Reverse.outputs = (Output("line", "polyline", "the reversed polyline"),)
    method = Reverse()
    result = run_method(method, {"line": Polyline(torch.rand(4, 3))}, {})
    assert method.pictures({}, result) == {}
    assert KINDS["cameras"].picture is None and KINDS["mesh"].picture is not None


@pytest.mark.parametrize("name", ["mesh", "points", "voxels"])
def test_geometry_kinds_are_pictured_by_render_still(name):
    pic = get_kind(name).picture(EXAMPLES[name], size=32)
    assert pic.shape == (32, 32, 3) and float(pic.min()) < 0.9  # something drawn on the white background
    empty = get_kind(name).picture(Voxels([torch.zeros(3, 3, 3)]), size=16)
    assert torch.equal(empty, torch.ones(16, 16, 3))

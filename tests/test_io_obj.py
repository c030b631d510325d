"""OBJ / MTL reading and writing: index forms, polygons, materials, errors, round trips."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from unrender import Meshes
from unrender.io import Material, ObjMesh, load_mesh, load_mtl, load_obj, save_image, save_mesh, save_obj


def write(tmp_path: Path, text: str, name: str = "m.obj") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def cube() -> tuple[torch.Tensor, torch.Tensor]:
    """Unit cube: 8 verts, 6 quads as ``(6, 4)``."""
    v = torch.tensor([[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)])
    q = torch.tensor([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
    return v, q


def area(v: torch.Tensor, f: torch.Tensor) -> float:
    return float(Meshes([v], [f]).faces_areas_packed().sum())


TRI = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"


# ----------------------------------------------------------------------------- index forms
@pytest.mark.parametrize(
    "face, has_uv, has_n",
    [
        ("f 1 2 3\nf 1 3 4", False, False),
        ("f 1/1 2/2 3/3\nf 1/1 3/3 4/1", True, False),
        ("f 1//1 2//2 3//1\nf 1//2 3//1 4//2", False, True),
        ("f 1/1/1 2/2/2 3/3/1\nf 1/1/2 3/3/1 4/1/2", True, True),
    ],
)
def test_index_forms(tmp_path, face, has_uv, has_n):
    p = write(tmp_path, TRI + "vt 0 0\nvt 1 0\nvt 0 1\nvn 0 0 1\nvn 1 0 0\n" + face + "\n")
    m = load_obj(p)
    assert isinstance(m, ObjMesh)
    assert m.verts.dtype == torch.float32 and m.verts.shape == (4, 3)
    assert m.faces.dtype == torch.int64
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert (m.faces_uvs is not None) == has_uv
    assert (m.faces_normals is not None) == has_n
    if has_uv:
        assert m.faces_uvs.tolist() == [[0, 1, 2], [0, 2, 0]]
        assert m.verts_uvs.shape == (3, 2)
    if has_n:
        assert m.faces_normals.tolist() == [[0, 1, 0], [1, 0, 1]]
    assert m.normals.shape == (2, 3)
    assert m.face_materials.tolist() == [-1, -1]


def test_negative_indices(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf -3/-3 -2/-2 -1/-1\nv 5 5 5\nf -4 -1 -2\n"
    m = load_obj(write(tmp_path, text))
    assert m.faces.tolist() == [[0, 1, 2], [0, 3, 2]]
    assert m.faces_uvs.tolist() == [[0, 1, 2], [-1, -1, -1]]


def test_negative_and_positive_mixed_with_signs(tmp_path):
    m = load_obj(write(tmp_path, TRI + "f +1 -3 4\n"))
    assert m.faces.tolist() == [[0, 1, 3]]


def test_mixed_forms_in_one_file(tmp_path):
    text = TRI + "vt 0 0\nvn 0 0 1\nf 1 2 3\nf 1/1 2/1 4/1\nf 2//1 3//1 4//1\nf 1/1/1 3/1/1 4/1/1\n"
    m = load_obj(write(tmp_path, text))
    assert m.faces.tolist() == [[0, 1, 2], [0, 1, 3], [1, 2, 3], [0, 2, 3]]
    assert m.faces_uvs.tolist() == [[-1] * 3, [0] * 3, [-1] * 3, [0] * 3]
    assert m.faces_normals.tolist() == [[-1] * 3, [-1] * 3, [0] * 3, [0] * 3]


def test_polygons_fan_triangulated(tmp_path):
    text = "".join(f"v {np.cos(a)} {np.sin(a)} 0\n" for a in np.linspace(0, 2 * np.pi, 6, endpoint=False))
    text += "vt 0 0\n" * 6 + "f 1/1 2/2 3/3 4/4 5/5 6/6\nf 1 2 3 4\nf 1 2 3\n"
    m = load_obj(write(tmp_path, text))
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5], [0, 1, 2], [0, 2, 3], [0, 1, 2]]
    assert m.faces_uvs[:4].tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5]]
    assert m.faces_uvs[4:].eq(-1).all()
    hexagon = 6 * 0.5 * np.sin(np.pi / 3)
    assert abs(area(m.verts, m.faces[:4]) - hexagon) < 1e-5


def test_tolerated_statements(tmp_path):
    text = (
        "# comment\r\n\r\nmtllib \r\n".replace("mtllib \r\n", "")
        + "o thing\r\ng group1 group2\r\ns 1\r\ns off\r\n"
        + "v 0 0 0 # trailing comment\r\nv 1 0 0\r\n  v\t0 1 0\r\nv 0 0 1 1.0\r\n"
        + "vp 0.5\r\nl 1 2\r\np 1\r\ncstype bezier\r\n"
        + "f 1 2 \\\r\n  3\r\nf\t1 3 4\r\n"
    )
    m = load_obj(write(tmp_path, text))
    assert m.verts.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3]]


def test_utf8_bom_and_non_utf8_comment(tmp_path):
    p = tmp_path / "bom.obj"
    p.write_bytes(b"\xef\xbb\xbfv 0 0 0\n# caf\xe9 latin-1\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    m = load_obj(p)
    assert m.verts.shape == (3, 3) and m.faces.tolist() == [[0, 1, 2]]


def test_line_continuation_keeps_line_numbers(tmp_path):
    text = "v 0 0 \\\n 0\nv 1 0 0\nv 0 1 0\nf 1 2 \\\n3\nf 1 2 9\n"
    with pytest.raises(ValueError, match=r"m\.obj: line 7: .*vertex index.*found 9"):
        load_obj(write(tmp_path, text))
    m = load_obj(write(tmp_path, text.replace("f 1 2 9\n", "")))
    assert m.faces.tolist() == [[0, 1, 2]]


def test_vertex_colors_and_w(tmp_path):
    m = load_obj(write(tmp_path, "v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 0.5\nf 1 2 3\n"))
    assert m.verts_colors.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0.5]]
    assert m.verts.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    # Mixed: colours only when every vertex has them.
    m = load_obj(write(tmp_path, "v 0 0 0 1 0 0\nv 1 0 0\nv 0 1 0 1\nf 1 2 3\n"))
    assert m.verts_colors is None and m.verts.shape == (3, 3)


def test_vt_with_one_or_three_components(tmp_path):
    m = load_obj(write(tmp_path, TRI + "vt 0.5\nvt 0.25 0.75 0.0\nvt 1 1\nf 1/1 2/2 3/3\n"))
    assert m.verts_uvs.tolist() == [[0.5, 0], [0.25, 0.75], [1, 1]]


def test_empty_and_points_only(tmp_path):
    m = load_obj(write(tmp_path, ""))
    assert m.verts.shape == (0, 3) and m.faces.shape == (0, 3) and m.verts_uvs is None
    m = load_obj(write(tmp_path, "v 1 2 3\n"))
    assert m.verts.tolist() == [[1, 2, 3]] and m.faces.shape == (0, 3)


def test_forward_references(tmp_path):
    m = load_obj(write(tmp_path, "f 1 2 3\n" + TRI))
    assert m.faces.tolist() == [[0, 1, 2]]


# ----------------------------------------------------------------------------- materials
def make_textured(tmp_path: Path) -> Path:
    tex = torch.zeros(4, 8, 3)
    tex[:, :4, 0] = 1.0
    tex[:, 4:, 2] = 1.0
    save_image(tmp_path / "tex image.png", tex)
    (tmp_path / "sub").mkdir()
    save_image(tmp_path / "sub" / "other.png", torch.full((2, 2, 4), 0.5))
    (tmp_path / "m.mtl").write_text(
        "# materials\nnewmtl red\nKa 0.1 0.2 0.3\nKd 1 0 0\nKs 0.5 0.5 0.5\nNs 100\nd 0.5\nillum 2\n"
        "map_Kd -s 1 1 1 -o 0 0 -bm 0.5 tex image.png\n\n"
        "newmtl green\nKd 0.2\nTr 0.25\nmap_Kd sub\\other.png\nKe 0 0 0\n"
        "newmtl unused\nKd spectral file.rfl\n"
    )
    text = ("mtllib m.mtl\n" + TRI + "vt 0 0\nvt 1 0\nvt 0 1\n"
            "f 1/1 2/2 3/3\nusemtl green\nf 1/1 3/3 4/1\nusemtl red\nf 2 3 4\nusemtl nowhere\nf 1 2 4 3\n")
    return write(tmp_path, text)


def test_materials_and_textures(tmp_path):
    m = load_obj(make_textured(tmp_path))
    assert m.material_names == ["green", "red", "nowhere", "unused"]
    assert m.face_materials.tolist() == [-1, 0, 1, 2, 2]
    red, green = m.materials["red"], m.materials["green"]
    assert isinstance(red, Material)
    assert red.ambient.tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert red.diffuse.tolist() == [1, 0, 0]
    assert red.specular.tolist() == [0.5, 0.5, 0.5]
    assert red.shininess == 100 and red.opacity == 0.5
    assert red.texture_path == tmp_path / "tex image.png"
    img = red.texture_image
    assert img.shape == (4, 8, 3) and img.dtype == torch.float32
    assert img.min() >= 0 and img.max() <= 1
    assert img[0, 0].tolist() == [1, 0, 0] and img[0, 7].tolist() == [0, 0, 1]
    assert green.diffuse.tolist() == pytest.approx([0.2] * 3) and green.opacity == pytest.approx(0.75)
    assert green.texture_image.shape == (2, 2, 3)  # alpha dropped
    assert m.materials["nowhere"].texture_image is None  # referenced but undefined: defaults
    assert m.materials["unused"].diffuse.tolist() == [1, 1, 1]


def test_materials_without_textures(tmp_path):
    m = load_obj(make_textured(tmp_path), load_textures=False)
    assert m.materials["red"].texture_image is None
    assert m.materials["red"].texture_path.name == "tex image.png"


def test_missing_mtl_and_texture_warn(tmp_path):
    p = write(tmp_path, "mtllib nothere.mtl\n" + TRI + "usemtl a\nf 1 2 3\n")
    with pytest.warns(UserWarning, match="nothere.mtl"):
        m = load_obj(p)
    assert m.material_names == ["a"] and m.face_materials.tolist() == [0]
    (tmp_path / "t.mtl").write_text("newmtl a\nmap_Kd missing.png\n")
    p = write(tmp_path, "mtllib t.mtl\n" + TRI + "usemtl a\nf 1 2 3\n")
    with pytest.warns(UserWarning, match="missing.png"):
        m = load_obj(p)
    assert m.materials["a"].texture_image is None


def test_load_mtl_errors(tmp_path):
    bad = {
        "Kd 1 x 0": r"line 2: expected numbers after 'Kd'",
        "Kd 1 0": r"line 2: expected 1 or 3 numbers after 'Kd'",
        "Ns 1 2": r"line 2: expected 1 number after 'Ns'",
        "d nan": r"line 2: expected finite numbers",
        "map_Kd": r"line 2: expected a file name after 'map_Kd'",
    }
    for stmt, msg in bad.items():
        (tmp_path / "e.mtl").write_text(f"newmtl a\n{stmt}\n")
        with pytest.raises(ValueError, match=r"e\.mtl: " + msg):
            load_mtl(tmp_path / "e.mtl")
    (tmp_path / "e.mtl").write_text("Kd 1 1 1\n")
    with pytest.raises(ValueError, match=r"e\.mtl: line 1: expected 'newmtl'"):
        load_mtl(tmp_path / "e.mtl")
    # An error in the MTL surfaces through load_obj, naming the MTL.
    (tmp_path / "e.mtl").write_text("newmtl a\nKd 1 x 0\n")
    with pytest.raises(ValueError, match=r"e\.mtl: line 2"):
        load_obj(write(tmp_path, "mtllib e.mtl\n" + TRI))


def test_corrupt_texture_raises(tmp_path):
    (tmp_path / "t.png").write_bytes(b"not a png at all")
    (tmp_path / "t.mtl").write_text("newmtl a\nmap_Kd t.png\n")
    with pytest.raises(ValueError, match=r"t\.png"):
        load_obj(write(tmp_path, "mtllib t.mtl\n" + TRI))


# ----------------------------------------------------------------------------- writer round trips
def test_round_trip_plain_and_polygons(tmp_path):
    v, q = cube()
    save_obj(tmp_path / "c.obj", v, q)
    m = load_obj(tmp_path / "c.obj")
    assert torch.equal(m.verts, v)
    assert m.faces.shape == (12, 3)
    assert abs(area(m.verts, m.faces) - 6.0) < 1e-6
    assert torch.equal(m.faces[::2], q[:, [0, 1, 2]]) and torch.equal(m.faces[1::2], q[:, [0, 2, 3]])


@pytest.mark.parametrize("uvs", [False, True])
@pytest.mark.parametrize("normals", [False, True])
def test_round_trip_attributes(tmp_path, uvs, normals):
    g = torch.Generator().manual_seed(0)
    v = torch.randn(50, 3, generator=g) * 1e3
    f = torch.randint(0, 50, (80, 3), generator=g)
    kw = {}
    if uvs:
        kw.update(verts_uvs=torch.rand(30, 2, generator=g), faces_uvs=torch.randint(0, 30, (80, 3), generator=g))
    if normals:
        kw.update(normals=torch.randn(20, 3, generator=g), faces_normals=torch.randint(0, 20, (80, 3), generator=g))
    save_obj(tmp_path / "r.obj", v, f, **kw)
    m = load_obj(tmp_path / "r.obj")
    assert torch.equal(m.verts, v) and torch.equal(m.faces, f)  # %.9g is exact for float32
    if uvs:
        assert torch.equal(m.verts_uvs, kw["verts_uvs"]) and torch.equal(m.faces_uvs, kw["faces_uvs"])
    else:
        assert m.verts_uvs is None and m.faces_uvs is None
    if normals:
        assert torch.equal(m.normals, kw["normals"]) and torch.equal(m.faces_normals, kw["faces_normals"])
    else:
        assert m.normals is None and m.faces_normals is None


def test_round_trip_texture_map(tmp_path):
    v, q = cube()
    uv = torch.rand(8, 2)
    tex = torch.rand(16, 32, 3)
    save_obj(tmp_path / "t.obj", v, q, verts_uvs=uv, faces_uvs=q, verts_colors=torch.rand(8, 3), texture_map=tex)
    assert (tmp_path / "t.mtl").is_file() and (tmp_path / "t.png").is_file()
    m = load_obj(tmp_path / "t.obj")
    assert m.material_names == ["material_0"]
    assert m.face_materials.eq(0).all()
    img = m.materials["material_0"].texture_image
    assert img.shape == (16, 32, 3)
    assert (img - tex).abs().max() <= 0.5 / 255 + 1e-6
    assert torch.equal(m.verts_uvs, uv) and m.verts_colors.shape == (8, 3)


def test_round_trip_through_meshes(tmp_path):
    v, q = cube()
    tri = torch.cat([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    save_mesh(tmp_path / "a.obj", Meshes([v], [tri]))
    save_mesh(tmp_path / "b.obj", (v, tri))
    save_mesh(tmp_path / "c.ply", v, tri)
    for name in ("a.obj", "b.obj", "c.ply"):
        mesh = load_mesh(tmp_path / name)
        assert isinstance(mesh, Meshes) and len(mesh) == 1
        assert torch.equal(mesh.verts_list()[0], v) and torch.equal(mesh.faces_list()[0], tri)
    with pytest.raises(ValueError, match=r"\.stl"):
        load_mesh(tmp_path / "x.stl")
    with pytest.raises(ValueError, match="faces"):
        save_mesh(tmp_path / "x.obj", v)


def test_save_obj_validation(tmp_path):
    v, q = cube()
    with pytest.raises(ValueError, match="faces: expected indices in"):
        save_obj(tmp_path / "x.obj", v, q + 1)
    with pytest.raises(ValueError, match="verts: expected finite"):
        save_obj(tmp_path / "x.obj", v * float("nan"), q)
    with pytest.raises(ValueError, match="verts: expected shape"):
        save_obj(tmp_path / "x.obj", v[:, :2], q)
    with pytest.raises(ValueError, match="both or neither"):
        save_obj(tmp_path / "x.obj", v, q, verts_uvs=torch.rand(3, 2))
    with pytest.raises(ValueError, match="texture_map"):
        save_obj(tmp_path / "x.obj", v, q, texture_map=torch.rand(2, 2, 3))
    with pytest.raises(ValueError, match="faces_uvs: expected shape"):
        save_obj(tmp_path / "x.obj", v, q, verts_uvs=torch.rand(3, 2), faces_uvs=torch.zeros(2, 4, dtype=torch.int64))


# ----------------------------------------------------------------------------- errors
OBJ_ERRORS = [
    ("v 1 2\n", 1, r"expected 3, 4 or 6 numbers after 'v', found 2"),
    ("v 1 2 3\nv 1 2 x\n", 2, r"expected a number in 'v' statement, found 'x'"),
    ("v 1 2 3\nv 1 nan 3\n", 2, r"expected finite numbers in 'v'"),
    ("v 1 2 inf 0 0 0\n", 1, r"expected finite numbers in 'v'"),
    ("v 1 2 3\nv 1 2 3 1 1 nan\n", 2, r"expected finite numbers in 'v'"),
    (TRI + "vt 1 2 3 4\n", 5, r"expected 1, 2 or 3 numbers after 'vt', found 4"),
    (TRI + "vn 1 2\n", 5, r"expected 3 numbers after 'vn', found 2"),
    (TRI + "vt 0 nan\n", 5, r"expected finite numbers in 'vt'"),
    (TRI + "f 1 2\n", 5, r"expected at least 3 vertices in face, found 2"),
    (TRI + "f\n", 5, r"expected at least 3 vertices in face, found 0"),
    (TRI + "f 1 2 3\nf 1 2 5\n", 6, r"expected a vertex index in \[1, 4\].*found 5"),
    (TRI + "f 1 2 0\n", 5, r"expected non-zero integer indices.*'0'"),
    (TRI + "f 1 2 -5\n", 5, r"expected a vertex index in \[1, 4\] or \[-4, -1\], found -5"),
    ("v 0 0 0\nf -1 -2 -3\n" + TRI, 2, r"expected a vertex index in \[1, 1\] or \[-1, -1\].*found -2"),
    (TRI + "f 1/1 2/1 3/1\n", 5, r"expected no texture coordinate index \(none defined\), found 1"),
    (TRI + "vn 0 0 1\nf 1//1 2//2 3//1\n", 6, r"expected a normal index in \[1, 1\].*found 2"),
    (TRI + "f 1 2 x\n", 5, r"expected a face corner|expected non-zero integer indices"),
    (TRI + "f 1/ 2 3\n", 5, r"expected a face corner"),
    (TRI + "f 1/1/1/1 2 3\n", 5, r"expected a face corner"),
    (TRI + "f 1.5 2 3\n", 5, r"expected non-zero integer indices"),
    (TRI + "f 1 2 3 # ok\nf 1 2 3 4 99999999999999999999999\n", 6, r"expected non-zero integer indices"),
    (TRI + "usemtl\n", 5, r"expected a material name after 'usemtl'"),
    (TRI + "mtllib   \n", 5, r"expected a file name after 'mtllib'"),
    # garbage values: colours out of range, numbers float() accepts but files do not write
    ("v 0 0 0 1.5 0 0\n", 1, r"expected vertex colour components in \[0, 1\], found \[1.5, 0.0, 0.0\]"),
    ("v 0 0 0\nv 0 0 0 0 -0.1 0\n", 2, r"expected vertex colour components in \[0, 1\]"),
    ("v 0 0 0 0 0 255\nv 1 1 1\n", 1, r"expected vertex colour components in \[0, 1\]"),
    ("v 1_000 0 0\n", 1, r"expected a number in 'v' statement, found '1_000'"),
    ("v 0 0 0\nv 0 \u0661 0\n", 2, r"expected a number in 'v' statement, found '\u0661'"),
    ("v 0 0 0\nvt \uff10.5 0\n", 2, r"expected a number in 'vt' statement, found '\uff10.5'"),
    ("vn 0 0 1_0\n", 1, r"expected a number in 'vn' statement, found '1_0'"),
    (TRI + "f 1 2 \u0663\n", 5, r"expected non-zero integer indices in face corner"),
    (TRI + "f 1 2 1_0\n", 5, r"expected non-zero integer indices in face corner"),
]


@pytest.mark.parametrize("text, line, msg", OBJ_ERRORS)
def test_errors_name_file_and_line(tmp_path, text, line, msg):
    p = write(tmp_path, text, "broken file.obj")
    with pytest.raises(ValueError, match=re.escape(str(p)) + rf": line {line}: " + msg):
        load_obj(p)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.obj"):
        load_obj(tmp_path / "nope.obj")
    with pytest.raises(ValueError, match="path"):
        load_obj(3)


def test_binary_garbage_is_value_error(tmp_path):
    p = tmp_path / "g.obj"
    p.write_bytes(b"v \xff\xfe 1 2\nf 1 2 3\n")
    with pytest.raises(ValueError, match=r"line 1"):
        load_obj(p)


# ----------------------------------------------------------------------------- PyTorch3D parity and speed
@pytest.mark.pytorch3d
def test_matches_pytorch3d(tmp_path):
    p3d_io = pytest.importorskip("pytorch3d.io")
    p = make_textured(tmp_path)
    ours = load_obj(p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts, faces, aux = p3d_io.load_obj(p, load_textures=False)
    assert torch.equal(ours.verts, verts)
    assert torch.equal(ours.faces, faces.verts_idx)
    assert torch.equal(ours.verts_uvs, aux.verts_uvs)
    assert torch.equal(ours.faces_uvs, faces.textures_idx)


def test_icosphere_100k_faces_is_fast(tmp_path):
    from unrender.geometry.primitives import icosphere_verts_faces

    v, f = icosphere_verts_faces(6)  # 40962 verts, 81920 faces
    n = torch.nn.functional.normalize(v, dim=1)
    save_obj(tmp_path / "ico.obj", v, f, normals=n, faces_normals=f, verts_uvs=v[:, :2], faces_uvs=f)
    t = time.perf_counter()
    m = load_obj(tmp_path / "ico.obj")
    dt = time.perf_counter() - t
    assert torch.equal(m.faces, f) and torch.equal(m.faces_normals, f) and torch.equal(m.verts, v)
    assert dt < 4.0, f"load_obj took {dt:.2f} s"


# ----------------------------------------------------------------------------- paths leading out of the model's folder
def model_in(tmp_path: Path, mtllib: str, map_kd: str = "t.png", mtl_at: str = "model/m.mtl") -> Path:
    """``tmp_path/model/m.obj`` naming ``mtllib``; the MTL at ``mtl_at`` names ``map_Kd``; ``t.png`` everywhere."""
    (tmp_path / "model" / "sub").mkdir(parents=True)
    for d in ("", "model", "model/sub"):
        save_image(tmp_path / d / "t.png", torch.full((2, 2, 3), 0.5))
    (tmp_path / mtl_at).write_text(f"newmtl a\nKd 1 0 0\nmap_Kd {map_kd}\n")
    return write(tmp_path / "model", f"mtllib {mtllib}\n" + TRI + "usemtl a\nf 1 2 3\n")


@pytest.mark.parametrize("mtllib, mtl_at", [
    ("../m.mtl", "m.mtl"), ("sub/../../m.mtl", "m.mtl"), ("{root}/m.mtl", "m.mtl"), ("..\\m.mtl", "m.mtl"),
])
def test_material_library_outside_the_model_folder_is_not_read(tmp_path, mtllib, mtl_at):
    p = model_in(tmp_path, mtllib.format(root=tmp_path), mtl_at=mtl_at)
    with pytest.warns(UserWarning, match=r"m\.obj: line 1: material library .* is outside the model's folder .*"
                                         r"allow_outside_paths=True"):
        m = load_obj(p)
    assert m.materials["a"].diffuse.tolist() == [1, 1, 1] and m.materials["a"].texture_image is None  # defaults
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load_obj(p, allow_outside_paths=True)
    assert m.materials["a"].diffuse.tolist() == [1, 0, 0] and m.materials["a"].texture_image is not None


@pytest.mark.parametrize("map_kd", ["../t.png", "{root}/t.png", "sub/../../t.png", "C:\\textures\\t.png",
                                    "\\\\server\\share\\t.png"])
def test_texture_outside_the_model_folder_is_not_read(tmp_path, map_kd):
    p = model_in(tmp_path, "m.mtl", map_kd.format(root=tmp_path))
    with pytest.warns(UserWarning, match=r"m\.mtl: line 3: texture .* is outside the model's folder"):
        m = load_obj(p)
    a = m.materials["a"]
    assert a.diffuse.tolist() == [1, 0, 0] and a.texture_path is None and a.texture_image is None
    with pytest.warns(UserWarning, match=r"outside the model's folder"):
        load_mtl(tmp_path / "model" / "m.mtl")
    if "\\" not in map_kd:
        assert load_obj(p, allow_outside_paths=True).materials["a"].texture_image.shape == (2, 2, 3)


def test_paths_inside_the_model_folder_are_read(tmp_path):
    # An MTL in a subfolder may name a texture beside the OBJ: still inside the model's folder.
    p = model_in(tmp_path, "sub/m.mtl", "../t.png", mtl_at="model/sub/m.mtl")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = load_obj(p)
    assert m.materials["a"].texture_path == tmp_path / "model" / "sub" / ".." / "t.png"
    assert m.materials["a"].texture_image.shape == (2, 2, 3)
    # Read alone, the same MTL's folder is its root: the texture is outside.
    with pytest.warns(UserWarning, match="outside the model's folder"):
        assert load_mtl(tmp_path / "model" / "sub" / "m.mtl")["a"].texture_image is None
    assert load_mtl(tmp_path / "model" / "sub" / "m.mtl", root=tmp_path / "model")["a"].texture_image is not None


def test_a_link_leading_out_of_the_model_folder_is_not_followed(tmp_path):
    p = model_in(tmp_path, "m.mtl", "link.png")
    (tmp_path / "model" / "link.png").symlink_to(tmp_path / "t.png")
    with pytest.warns(UserWarning, match="outside the model's folder"):
        assert load_obj(p).materials["a"].texture_image is None


# ----------------------------------------------------------------------------- line continuations in linear time
def continued_obj(n: int) -> str:
    """A polygon of ``3 n`` corners written one corner triple per continued line."""
    return TRI + "f 1 2 3" + " \\\n 1 2 3" * (n - 1) + "\n"


def continued_mtl(n: int) -> str:
    return "newmtl a\n# a comment \\\n" + "swallowed 0 0 0 \\\n" * n + "\nKd 1 0 0\n"


def best_time(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.parametrize("kind", ["obj", "mtl"])
def test_line_continuations_parse_in_linear_time(tmp_path, kind):
    make = continued_obj if kind == "obj" else continued_mtl
    read = load_obj if kind == "obj" else load_mtl
    n = 2_000_000 // (len(make(2)) - len(make(1)))  # a 2 MB file
    big = write(tmp_path, make(n), f"big.{kind}")
    assert 1.9e6 < big.stat().st_size < 2.3e6
    t_big = best_time(lambda: read(big), 1)
    assert t_big < 2.0, f"{kind}: {t_big:.2f} s for a 2 MB file"
    small = write(tmp_path, make(n // 4), f"small.{kind}")
    t_small = best_time(lambda: read(small))
    t_big = best_time(lambda: read(big))
    assert t_big < 8 * t_small + 0.05, f"{kind}: 4x the size took {t_big / t_small:.1f}x the time (quadratic: 16x)"
    if kind == "obj":
        assert read(big).faces.shape == (3 * n - 2, 3)
    else:
        assert read(big)["a"].diffuse.tolist() == [1, 0, 0]


# ----------------------------------------------------------------------------- garbage values
GARBAGE_MTL = {
    "Kd 1e39 0 0": "expected non-negative numbers within float32 range after 'Kd'",
    "Ka -0.1 0 0": "expected non-negative numbers within float32 range after 'Ka'",
    "Ks 0 -1e-9 0": "expected non-negative numbers within float32 range after 'Ks'",
    "Ns -5": "expected non-negative numbers within float32 range after 'Ns'",
    "Ns 1e40": "expected non-negative numbers within float32 range after 'Ns'",
    "d 1.5": r"expected 1 number in \[0, 1\] after 'd'",
    "d -0.5": r"expected 1 number in \[0, 1\] after 'd'",
    "Tr 2": r"expected 1 number in \[0, 1\] after 'Tr'",
    "Kd 1_0 0 0": "expected numbers after 'Kd'",
    "Kd \u0661 0 0": "expected numbers after 'Kd'",  # Arabic-Indic one
    "Ns \uff11\uff10": "expected numbers after 'Ns'",  # full-width 10
}


@pytest.mark.parametrize("stmt", list(GARBAGE_MTL))
def test_mtl_values_out_of_range_are_refused(tmp_path, stmt):
    (tmp_path / "e.mtl").write_text(f"newmtl a\n{stmt}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"e\.mtl: line 2: " + GARBAGE_MTL[stmt]):
        load_mtl(tmp_path / "e.mtl")


def test_mtl_values_at_their_bounds_are_read(tmp_path):
    (tmp_path / "e.mtl").write_text("newmtl a\nKd 0 0.5 3\nKs 3.4e38 0 0\nNs 0\nd 0\nnewmtl b\nTr 1\nd 1\n")
    mats = load_mtl(tmp_path / "e.mtl")
    assert mats["a"].diffuse.tolist() == [0, 0.5, 3] and mats["a"].opacity == 0 and mats["b"].opacity == 1

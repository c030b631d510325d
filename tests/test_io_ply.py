"""PLY reading and writing: ascii and both binary byte orders, arbitrary layouts, errors, speed."""

from __future__ import annotations

import re
import struct
import time
import warnings
from pathlib import Path

import pytest
import torch

from unrender import Meshes, PointClouds
from unrender.io import PlyData, load_mesh, load_ply, load_point_cloud, save_ply, save_point_cloud

FORMATS = ["ascii", "binary_little_endian", "binary_big_endian"]
_ST = {"char": "b", "uchar": "B", "short": "h", "ushort": "H", "int": "i", "uint": "I", "float": "f", "double": "d",
       "int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f",
       "float64": "d"}


def make_ply(path: Path, fmt: str, elements, *, comments=("made by the tests",)) -> Path:
    """Write a PLY file independently of ``save_ply``.

    ``elements``: list of ``(name, props, rows)``; a prop is ``(type, name)`` or
    ``("list", count_type, item_type, name)``; a row holds one value per prop
    (a list of values for list props).
    """
    head = ["ply", f"format {fmt} 1.0"] + [f"comment {c}" for c in comments]
    body_txt: list[str] = []
    body_bin = bytearray()
    bo = {"binary_little_endian": "<", "binary_big_endian": ">"}.get(fmt, "")
    for name, props, rows in elements:
        head.append(f"element {name} {len(rows)}")
        head += [f"property {' '.join(q)}" for q in props]
        for row in rows:
            toks = []
            for q, val in zip(props, row):
                if q[0] == "list":
                    toks.append(str(len(val)))
                    toks += [repr(x) for x in val]
                    if bo:
                        body_bin += struct.pack(bo + _ST[q[1]], len(val))
                        body_bin += struct.pack(bo + _ST[q[2]] * len(val), *val)
                else:
                    toks.append(repr(val))
                    if bo:
                        body_bin += struct.pack(bo + _ST[q[0]], val)
            body_txt.append(" ".join(toks))
    head.append("end_header")
    header = ("\n".join(head) + "\n").encode()
    path.write_bytes(header + (bytes(body_bin) if bo else "\n".join(body_txt).encode() + b"\n"))
    return path


XYZ = [("float", "x"), ("float", "y"), ("float", "z")]
QUAD_VERTS = [(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 1.0, 0.0), (0.0, 1.0, 0.0), (0.5, 0.5, 1.0)]


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("fmt", FORMATS)
def test_simple_triangles(tmp_path, fmt):
    p = make_ply(tmp_path / "t.ply", fmt, [
        ("vertex", XYZ, QUAD_VERTS),
        ("face", [("list", "uchar", "int", "vertex_indices")], [([0, 1, 2],), ([0, 2, 3],), ([0, 1, 4],)]),
    ])
    d = load_ply(p)
    assert isinstance(d, PlyData)
    assert d.verts.dtype == torch.float32 and d.verts.tolist() == [list(v) for v in QUAD_VERTS]
    assert d.faces.dtype == torch.int64 and d.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4]]
    assert d.normals is None and d.colors is None and d.verts_uvs is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("count_t, index_t, name", [
    ("uchar", "int", "vertex_indices"), ("int", "uint", "vertex_index"), ("ushort", "short", "vertex_indices"),
    ("uint8", "uint16", "vertex_index"), ("char", "uchar", "vertex_indices"), ("uint", "int32", "vertex_indices"),
])
def test_mixed_polygons_and_index_types(tmp_path, fmt, count_t, index_t, name):
    faces = [[0, 1, 2, 3], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]
    p = make_ply(tmp_path / "t.ply", fmt, [
        ("vertex", XYZ, QUAD_VERTS),
        ("face", [("list", count_t, index_t, name)], [(f,) for f in faces]),
    ])
    d = load_ply(p)
    assert d.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_elements_and_properties_are_skipped(tmp_path, fmt):
    verts = [(i * 1.0, i * 2.0, i * 3.0) for i in range(5)]
    vprops = [("uchar", "flag"), ("double", "x"), ("float", "confidence"), ("double", "y"),
              ("list", "uchar", "float", "weights"), ("double", "z"), ("short", "id"),
              ("float", "nx"), ("float", "ny"), ("float", "nz"), ("uchar", "red"), ("uchar", "green"),
              ("uchar", "blue"), ("uchar", "alpha"), ("float", "s"), ("float", "t")]
    vrows = [(7, x, 0.5, y, [0.1] * (i % 3), z, -i, 0.0, 0.0, 1.0, 255, 0, 51, 255, 0.25, 0.75)
             for i, (x, y, z) in enumerate(verts)]
    p = make_ply(tmp_path / "t.ply", fmt, [
        ("camera", [("float", "view_px"), ("list", "int", "int", "junk")], [(1.0, [1, 2, 3]), (2.0, [])]),
        ("vertex", vprops, vrows),
        ("material", [("list", "uchar", "uchar", "name")], [([1, 2],), ([3],)]),
        ("face", [("uchar", "flags"), ("list", "uchar", "int", "vertex_indices"), ("list", "uchar", "float", "texcoord"),
                  ("int", "tag")],
         [(1, [0, 1, 2], [0.0] * 6, 9), (2, [0, 2, 3, 4], [0.0] * 8, 9), (3, [1, 2, 3], [], 9)]),
        ("edge", [("int", "vertex1"), ("int", "vertex2")], [(0, 1), (1, 2)]),
        ("empty", [], []),
    ])
    d = load_ply(p)
    assert d.verts.tolist() == [list(v) for v in verts]
    assert d.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 4], [1, 2, 3]]
    assert d.normals.tolist() == [[0, 0, 1]] * 5
    assert d.colors.shape == (5, 4)
    assert d.colors[0].tolist() == pytest.approx([1.0, 0.0, 0.2, 1.0])
    assert d.verts_uvs.tolist() == [[0.25, 0.75]] * 5


@pytest.mark.parametrize("fmt", FORMATS)
def test_float_and_ushort_colors(tmp_path, fmt):
    p = make_ply(tmp_path / "f.ply", fmt, [
        ("vertex", XYZ + [("float", "red"), ("float", "green"), ("float", "blue")],
         [(0.0, 0.0, 0.0, 0.25, 0.5, 1.0)]),
    ])
    assert load_ply(p).colors.tolist() == [[0.25, 0.5, 1.0]]
    p = make_ply(tmp_path / "u.ply", fmt, [
        ("vertex", XYZ + [("ushort", "red"), ("ushort", "green"), ("ushort", "blue")], [(0.0, 0.0, 0.0, 65535, 0, 0)]),
    ])
    assert load_ply(p).colors.tolist() == [[1.0, 0.0, 0.0]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_point_cloud_without_faces(tmp_path, fmt):
    p = make_ply(tmp_path / "p.ply", fmt, [("vertex", XYZ, QUAD_VERTS)])
    d = load_ply(p)
    assert d.faces is None and d.verts.shape == (5, 3)
    p = make_ply(tmp_path / "p.ply", fmt, [("vertex", XYZ, []), ("face", [("list", "uchar", "int", "vertex_indices")], [])])
    d = load_ply(p)
    assert d.verts.shape == (0, 3) and d.faces.shape == (0, 3)


def test_crlf_header_and_ascii_body(tmp_path):
    text = ("ply\r\nformat ascii 1.0\r\ncomment windows\r\nelement vertex 3\r\nproperty float x\r\nproperty float y\r\n"
            "property float z\r\nelement face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n"
            "0 0 0\r\n1 0 0\r\n\r\n0 1 0\r\n3 0 1 2\r\n")
    (tmp_path / "w.ply").write_bytes(text.encode())
    d = load_ply(tmp_path / "w.ply")
    assert d.faces.tolist() == [[0, 1, 2]] and d.verts.shape == (3, 3)


def test_binary_crlf_end_header(tmp_path):
    head = b"ply\r\nformat binary_little_endian 1.0\r\nelement vertex 1\r\nproperty float x\r\nproperty float y\r\n" \
           b"property float z\r\nend_header\r\n"
    (tmp_path / "b.ply").write_bytes(head + struct.pack("<3f", 1, 2, 3))
    assert load_ply(tmp_path / "b.ply").verts.tolist() == [[1, 2, 3]]


# ----------------------------------------------------------------------------- writer
@pytest.mark.parametrize("ascii, big_endian", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("channels", [3, 4])
def test_round_trip(tmp_path, ascii, big_endian, channels):
    g = torch.Generator().manual_seed(1)
    v = torch.randn(200, 3, generator=g) * 100
    f = torch.randint(0, 200, (300, 3), generator=g)
    n = torch.nn.functional.normalize(torch.randn(200, 3, generator=g), dim=1)
    c = torch.rand(200, channels, generator=g)
    save_ply(tmp_path / "r.ply", v, f, normals=n, colors=c, ascii=ascii, big_endian=big_endian)
    head = (tmp_path / "r.ply").read_bytes()[:60]
    assert (b"ascii" in head) == ascii and (b"big" in head) == big_endian
    d = load_ply(tmp_path / "r.ply")
    assert torch.equal(d.verts, v) and torch.equal(d.faces, f) and torch.equal(d.normals, n)
    assert d.colors.shape == (200, channels)
    assert (d.colors - c).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("ascii", [True, False])
def test_round_trip_polygons_and_uint8_colors(tmp_path, ascii):
    v = torch.tensor(QUAD_VERTS)
    q = torch.tensor([[0, 1, 2, 3]])
    col = torch.tensor([[255, 0, 0]] * 5, dtype=torch.uint8)
    save_ply(tmp_path / "q.ply", v, q, colors=col, ascii=ascii)
    d = load_ply(tmp_path / "q.ply")
    assert d.faces.tolist() == [[0, 1, 2], [0, 2, 3]] and d.colors[:, 0].eq(1).all()
    save_ply(tmp_path / "pts.ply", v, ascii=ascii)
    assert load_ply(tmp_path / "pts.ply").faces is None


def test_save_ply_validation(tmp_path):
    v = torch.tensor(QUAD_VERTS)
    with pytest.raises(ValueError, match="faces: expected indices"):
        save_ply(tmp_path / "x.ply", v, torch.tensor([[0, 1, 5]]))
    with pytest.raises(ValueError, match="verts: expected finite"):
        save_ply(tmp_path / "x.ply", v * float("inf"))
    with pytest.raises(ValueError, match="normals: expected shape"):
        save_ply(tmp_path / "x.ply", v, normals=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="colors: expected shape"):
        save_ply(tmp_path / "x.ply", v, colors=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="faces: expected an integer"):
        save_ply(tmp_path / "x.ply", v, torch.zeros(1, 3))


def test_point_cloud_helpers(tmp_path):
    pts = torch.rand(100, 3)
    n = torch.nn.functional.normalize(torch.randn(100, 3), dim=1)
    col = torch.rand(100, 3)
    save_point_cloud(tmp_path / "c.ply", pts, normals=n, colors=col)
    pc = load_point_cloud(tmp_path / "c.ply")
    assert isinstance(pc, PointClouds) and len(pc) == 1
    assert torch.equal(pc.points_list()[0], pts) and torch.equal(pc.normals_list()[0], n)
    assert (pc.features_list()[0] - col).abs().max() <= 0.5 / 255 + 1e-6
    save_point_cloud(tmp_path / "d.ply", pc, ascii=True)
    pc2 = load_point_cloud(tmp_path / "d.ply")
    assert torch.equal(pc2.points_list()[0], pts) and torch.allclose(pc2.features_list()[0], pc.features_list()[0])
    with pytest.raises(ValueError, match=r"\.ply"):
        load_point_cloud(tmp_path / "c.obj")
    mesh = load_mesh(tmp_path / "c.ply")
    assert isinstance(mesh, Meshes) and mesh.faces_list()[0].shape == (0, 3)


# ----------------------------------------------------------------------------- errors
def header(fmt="ascii", body="element vertex 1\nproperty float x\nproperty float y\nproperty float z\n"):
    return f"ply\nformat {fmt} 1.0\n{body}end_header\n"


HEADER_ERRORS = [
    ("plx\n", 1, r"expected 'ply'"),
    ("ply extra\nformat ascii 1.0\nend_header\n", 1, r"expected 'ply'"),
    ("ply\nformat text 1.0\nend_header\n", 2, r"expected 'format ascii\|binary_little_endian\|binary_big_endian"),
    ("ply\nformat ascii 1.0\nformat ascii 1.0\nend_header\n", 3, r"expected one 'format' line"),
    ("ply\nformat ascii 1.0\nelement vertex -1\nend_header\n", 3, r"expected 'element <name> <count >= 0>'"),
    ("ply\nformat ascii 1.0\nelement vertex 1e3\nend_header\n", 3, r"expected 'element <name> <count >= 0>'"),
    ("ply\nformat ascii 1.0\nproperty float x\nend_header\n", 3, r"expected 'element' before 'property'"),
    ("ply\nformat ascii 1.0\nelement vertex 1\nproperty flt x\nend_header\n", 4, r"expected 'property <type> <name>'"),
    ("ply\nformat ascii 1.0\nelement f 1\nproperty list float int v\nend_header\n", 4, r"expected an integer list count type, found 'float'"),
    ("ply\nformat ascii 1.0\nelement vertex 1\nbogus\nend_header\n", 4, r"expected a header keyword"),
    ("ply\nformat ascii 1.0\nelement vertex 1\nend_header junk\n", 4, r"expected 'end_header'"),
]


@pytest.mark.parametrize("text, line, msg", HEADER_ERRORS)
def test_header_errors_name_file_and_line(tmp_path, text, line, msg):
    p = tmp_path / "bad header.ply"
    p.write_bytes(text.encode())
    with pytest.raises(ValueError, match=re.escape(str(p)) + rf": line {line}: " + msg):
        load_ply(p)


def test_header_structure_errors(tmp_path):
    p = tmp_path / "h.ply"
    p.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 0\n")
    with pytest.raises(ValueError, match=re.escape(str(p)) + r": expected 'end_header'.*found end of file"):
        load_ply(p)
    p.write_bytes(b"ply\nelement vertex 0\nend_header\n")
    with pytest.raises(ValueError, match=r"h\.ply: expected a 'format' line"):
        load_ply(p)
    p.write_bytes(header(body="element point 0\nproperty float x\n").encode())
    with pytest.raises(ValueError, match=r"h\.ply: expected an 'element vertex'"):
        load_ply(p)
    for fmt in FORMATS:  # a property-less vertex element with a huge count
        p.write_bytes(header(fmt, body="element vertex 99999999999\n").encode())
        with pytest.raises(ValueError, match=r"h\.ply: element 'vertex': expected scalar properties x, y, z, found \[\]"):
            load_ply(p)
    p.write_bytes(header(body="element vertex 0\nproperty float x\nproperty float y\n").encode())
    with pytest.raises(ValueError, match=r"h\.ply: element 'vertex': expected scalar properties x, y, z"):
        load_ply(p)
    p.write_bytes(header(body="element vertex 0\nproperty float x\nproperty float y\nproperty float z\n"
                         "element face 0\nproperty list uchar int corners\n").encode())
    with pytest.raises(ValueError, match=r"h\.ply: element 'face': expected a list property vertex_indices"):
        load_ply(p)


ASCII_BODY_ERRORS = [
    ("0 0\n", 8, r"expected a value for property 'z' of element 'vertex', found end of line"),
    ("0 0 0 0\n", 8, r"expected 3 values for element 'vertex', found 4"),
    ("0 0 x\n", 8, r"expected a number for property 'z', found 'x'"),
    ("0 0 nan\n", None, r"element 'vertex' \(#0\): expected finite coordinates"),
    ("0 0 0\n3 0 0\n", 11, r"expected 3 values in list 'vertex_indices', found 2"),
    ("0 0 0\n3 0 0 0 0\n", 11, r"expected 4 values for element 'face', found 5"),
    ("0 0 0\nx 0 0 0\n", 11, r"expected a list length for property 'vertex_indices', found 'x'"),
    ("0 0 0\n3 0 0 0.5\n", 11, r"expected integers in list 'vertex_indices', found '0.5'"),
    ("0 0 0\n3 0 0 1\n", None, r"element 'face' \(#0\): expected vertex indices in \[0, 0\], found 1"),
    ("0 0 0\n2 0 0\n", None, r"element 'face' \(#0\): expected at least 3 vertex indices, found 2"),
    ("", None, r"element 'vertex': header declares 1 lines, found only 0 lines left"),
]


@pytest.mark.parametrize("body, line, msg", ASCII_BODY_ERRORS)
def test_ascii_body_errors(tmp_path, body, line, msg):
    p = tmp_path / "a b.ply"
    face = "element face 1\nproperty list uchar int vertex_indices\n" if body.count("\n") == 2 else ""
    p.write_bytes((header(body="element vertex 1\nproperty float x\nproperty float y\nproperty float z\n" + face)
                   + body).encode())
    where = rf": line {line}: " if line else ": "
    with pytest.raises(ValueError, match=re.escape(str(p)) + where + msg):
        load_ply(p)


@pytest.mark.parametrize("bo", ["<", ">"])
def test_binary_body_errors(tmp_path, bo):
    fmt = "binary_little_endian" if bo == "<" else "binary_big_endian"
    p = tmp_path / "b.ply"
    face_head = "element face 2\nproperty list uchar int vertex_indices\n"
    vert_head = "element vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
    verts = struct.pack(bo + "9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
    cases = [
        (verts[:30], vert_head, r"element 'vertex': header declares 3 elements of at least 12 bytes, found only 30"),
        (verts + struct.pack(bo + "B3i", 3, 0, 1, 2) + b"\x03\x00", vert_head + face_head,
         r"element 'face'.*(past the end|found only)"),
        (verts + struct.pack(bo + "B3iB3i", 3, 0, 1, 2, 4, 0, 1, 2), vert_head + face_head,
         r"element 'face' \(#1\): record runs past the end of the file"),
        (verts + struct.pack(bo + "B3iB", 3, 0, 1, 2, 255) + b"\x00" * 16, vert_head + face_head,
         r"element 'face' \(#1\): record runs past the end of the file"),
        (verts + struct.pack(bo + "B3iB3i", 3, 0, 1, 2, 3, 0, 1, 7), vert_head + face_head,
         r"element 'face' \(#1\): expected vertex indices in \[0, 2\], found 7"),
        (verts + struct.pack(bo + "B3iB3i", 3, 0, 1, 2, 3, 0, -1, 2), vert_head + face_head,
         r"element 'face' \(#1\): expected vertex indices in \[0, 2\], found -1"),
        (struct.pack(bo + "9f", 0, 0, 0, 1, float("nan"), 0, 0, 1, 0), vert_head,
         r"element 'vertex' \(#1\): expected finite coordinates"),
        (verts + struct.pack(bo + "B2iB3i", 2, 0, 1, 3, 0, 1, 2), vert_head + face_head,
         r"element 'face' \(#0\): expected at least 3 vertex indices, found 2"),
    ]
    for body, head, msg in cases:
        p.write_bytes(header(fmt, head).encode() + body)
        with pytest.raises(ValueError, match=re.escape(str(p)) + ": " + msg):
            load_ply(p)
    # float indices must be whole numbers
    p.write_bytes(header(fmt, vert_head + "element face 1\nproperty list uchar float vertex_indices\n").encode()
                  + verts + struct.pack(bo + "B3f", 3, 0, 1.5, 2))
    with pytest.raises(ValueError, match=r"element 'face' \(#0\): expected integer vertex indices, found 1.5"):
        load_ply(p)
    # signed list count
    p.write_bytes(header(fmt, vert_head + "element face 1\nproperty list char int vertex_indices\n").encode()
                  + verts + struct.pack(bo + "b", -3) + b"\x00" * 12)
    with pytest.raises(ValueError, match=r"element 'face' \(#0\): list 'vertex_indices' has negative length -3"):
        load_ply(p)


def test_lying_headers_fail_fast(tmp_path):
    p = tmp_path / "lie.ply"
    for fmt in ("ascii", "binary_little_endian", "binary_big_endian"):
        for body in ("element vertex 4000000000\nproperty float x\nproperty float y\nproperty float z\n",
                     "element junk 4000000000\nproperty list uint int stuff\n"
                     "element vertex 0\nproperty float x\nproperty float y\nproperty float z\n",
                     "element vertex 99999999999999999999\nproperty float x\nproperty float y\nproperty float z\n"):
            p.write_bytes(header(fmt, body).encode() + b"\x00" * 100)
            t = time.perf_counter()
            with pytest.raises(ValueError, match=r"lie\.ply"):
                load_ply(p)
            assert time.perf_counter() - t < 0.5


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.ply"):
        load_ply(tmp_path / "none.ply")
    with pytest.raises(ValueError, match="expected a regular file"):
        load_ply(tmp_path)


# ----------------------------------------------------------------------------- PyTorch3D parity and speed
@pytest.mark.pytorch3d
@pytest.mark.parametrize("fmt", FORMATS)
def test_matches_pytorch3d(tmp_path, fmt):
    p3d_io = pytest.importorskip("pytorch3d.io")
    g = torch.Generator().manual_seed(2)
    v = torch.randn(100, 3, generator=g)
    f = torch.randint(0, 100, (150, 3), generator=g)
    save_ply(tmp_path / "m.ply", v, f, ascii=fmt == "ascii", big_endian=fmt == "binary_big_endian")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv, pf = p3d_io.load_ply(tmp_path / "m.ply")
    d = load_ply(tmp_path / "m.ply")
    assert torch.equal(d.verts, pv) and torch.equal(d.faces, pf)


def test_million_vertices_binary_is_fast(tmp_path):
    g = torch.Generator().manual_seed(3)
    pts = torch.rand(1_000_000, 3, generator=g)
    f = torch.randint(0, 1_000_000, (200_000, 3), generator=g)
    save_ply(tmp_path / "big.ply", pts, f, normals=pts, colors=pts)
    t = time.perf_counter()
    d = load_ply(tmp_path / "big.ply")
    dt = time.perf_counter() - t
    assert torch.equal(d.verts, pts) and torch.equal(d.faces, f)
    assert dt < 2.5, f"load_ply took {dt:.2f} s"


def test_mixed_polygon_binary_walk_is_reasonable(tmp_path):
    # Alternating triangles and quads defeat the uniform fast path.
    n = 50_000
    v = torch.rand(n + 4, 3)
    body = bytearray()
    for i in range(n):
        body += struct.pack("<B3i", 3, i, i + 1, i + 2) if i % 2 else struct.pack("<B4i", 4, i, i + 1, i + 2, i + 3)
    head = header("binary_little_endian", f"element vertex {n + 4}\nproperty float x\nproperty float y\nproperty float z\n"
                  f"element face {n}\nproperty list uchar int vertex_indices\n")
    (tmp_path / "m.ply").write_bytes(head.encode() + v.numpy().astype("<f4").tobytes() + bytes(body))
    t = time.perf_counter()
    d = load_ply(tmp_path / "m.ply")
    dt = time.perf_counter() - t
    assert d.faces.shape == (n // 2 * 2 + n // 2, 3)
    assert d.faces[:3].tolist() == [[0, 1, 2], [0, 2, 3], [1, 2, 3]]
    assert dt < 3.0, f"load_ply took {dt:.2f} s"


# ----------------------------------------------------------------------------- garbage values
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("ctype, value, msg", [
    ("float", 1.5, r"colours in \[0, 1\].*found \[0.25, 1.5, 0.0\]"),
    ("float", -0.25, r"colours in \[0, 1\].*found \[0.25, -0.25, 0.0\]"),
    ("char", -5, r"colours in \[0, 1\].*found \[0.24\d*, -0.039\d*, 0.0\]"),
    ("short", -1, r"colours in \[0, 1\]"),
    ("double", 1e300, r"finite colors"),
])
def test_colors_outside_their_range_are_refused(tmp_path, fmt, ctype, value, msg):
    good, zero = (0.25, 0.0) if ctype in ("float", "double") else (31, 0)
    p = make_ply(tmp_path / "c.ply", fmt, [
        ("vertex", XYZ + [(ctype, "red"), (ctype, "green"), (ctype, "blue")],
         [(0.0, 0.0, 0.0, good, good, good), (1.0, 0.0, 0.0, good, value, zero)]),
    ])
    with pytest.raises(ValueError, match=r"c\.ply: element 'vertex' \(#1\): expected " + msg):
        load_ply(p)


@pytest.mark.parametrize("token", ["1_000", "\u0661", "\uff11", "0x10"])
def test_ascii_numbers_are_plain(tmp_path, token):
    p = tmp_path / "n.ply"
    p.write_bytes(header(body="element vertex 1\nproperty float x\nproperty float y\nproperty float z\n").encode()
                  + f"0 {token} 0\n".encode("utf-8"))
    with pytest.raises(ValueError, match=r"n\.ply: line 8: expected a number for property 'y'"):
        load_ply(p)
    p.write_bytes(header(body="element vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
                              "element face 1\nproperty list uchar int vertex_indices\n").encode()
                  + f"0 0 0\n1 0 0\n0 1 0\n3 0 1 {token}\n".encode("utf-8"))
    with pytest.raises(ValueError, match=r"n\.ply: line 13: expected integers in list 'vertex_indices'"):
        load_ply(p)

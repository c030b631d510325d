"""Blender round trip: meshes built in bpy, written by Blender's own OBJ / PLY exporters, read by ours.

Each exported file must hold the same geometry as Blender's evaluated mesh in
world space: vertex positions set-equal, the same number of triangles after
triangulation, the same surface area, and the same UVs / normals / colours /
materials on each corner where the exporter wrote them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy", reason="the Blender round trip needs the bpy module (Blender as a Python module)")

from unrender import Meshes  # noqa: E402
from unrender.io import load_obj, load_ply  # noqa: E402

pytestmark = pytest.mark.blender

# Blender's own axes: +Y forward, +Z up, so exported coordinates equal world coordinates.
AXES = dict(forward_axis="Y", up_axis="Z")
MESHES = ["poly", "sphere", "cylinder", "monkey"]


# ----------------------------------------------------------------------------- Blender side
@dataclass
class BlenderMesh:
    """Evaluated mesh data in world space (numpy)."""

    verts: np.ndarray  # (V, 3)
    polys: list[list[int]]  # vertex indices per polygon
    loop_verts: np.ndarray  # (L,) vertex of each corner
    loop_uvs: np.ndarray  # (L, 2)
    corner_normals: np.ndarray  # (L, 3)
    vertex_normals: np.ndarray  # (V, 3)
    colors_srgb: np.ndarray | None  # (V, 4) point colours
    poly_materials: list[str]
    material_colors: dict[str, tuple[float, float, float]]
    loop_triangles: int
    loop_triangle_area: float


def _evaluated(ob) -> BlenderMesh:
    dg = bpy.context.evaluated_depsgraph_get()
    ob_eval = ob.evaluated_get(dg)
    me = ob_eval.to_mesh()
    try:
        mw = np.array(ob.matrix_world, dtype=np.float64)
        co = np.array([v.co for v in me.vertices], dtype=np.float64)
        verts = co @ mw[:3, :3].T + mw[:3, 3]
        rot = mw[:3, :3]
        nrm = lambda n: n / np.linalg.norm(n, axis=1, keepdims=True)  # noqa: E731
        loop_verts = np.array([lp.vertex_index for lp in me.loops], dtype=np.int64)
        uv = me.uv_layers.active
        loop_uvs = np.array([d.uv for d in uv.data], dtype=np.float64) if uv else np.zeros((0, 2))
        corner = nrm(np.array([n.vector for n in me.corner_normals], dtype=np.float64) @ rot.T)
        vnorm = nrm(np.array([n.vector for n in me.vertex_normals], dtype=np.float64) @ rot.T)
        col = me.color_attributes.get("Col")
        colors = np.array([c.color_srgb for c in col.data], dtype=np.float64) if col else None
        mats = [m.name if m else "" for m in me.materials]
        poly_mats = [mats[p.material_index] if mats else "" for p in me.polygons]
        me.calc_loop_triangles()
        return BlenderMesh(
            verts=verts,
            polys=[list(p.vertices) for p in me.polygons],
            loop_verts=loop_verts,
            loop_uvs=loop_uvs,
            corner_normals=corner,
            vertex_normals=vnorm,
            colors_srgb=colors,
            poly_materials=poly_mats,
            material_colors={m.name: tuple(m.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value[:3])
                             for m in me.materials if m},
            loop_triangles=len(me.loop_triangles),
            loop_triangle_area=float(sum(t.area for t in me.loop_triangles)),  # object space; transforms are rigid
        )
    finally:
        ob_eval.to_mesh_clear()


def _material(name: str, rgb, image=None):
    mat = bpy.data.materials.new(name)
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    if image is not None:
        tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
        tex.image = image
        mat.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _build_scene(tmp: Path) -> dict[str, BlenderMesh]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene

    # Hand-made mesh: two quads, a pentagon, a hexagon, a triangle; UVs, point colours, two materials.
    verts = [(0, 0, 0), (1, 0, 0), (1, 1, 0), (0, 1, 0), (2, 0, 0.3), (2, 1, 0.5), (3, 0.5, 0),
             (2.6, 1.6, 0.2), (1.4, 2.1, 0), (0.5, 2.4, 0.4), (-0.6, 1.5, 0)]
    faces = [(0, 1, 2, 3), (1, 4, 5, 2), (4, 6, 7, 5), (2, 5, 7, 8, 9), (3, 2, 9, 10)]
    me = bpy.data.meshes.new("poly")
    me.from_pydata(verts, [], faces)
    me.update()
    uv = me.uv_layers.new(name="UVMap")
    for i, d in enumerate(uv.data):
        d.uv = ((i * 0.37) % 1.0, (i * 0.61) % 1.0)
    col = me.color_attributes.new(name="Col", type="BYTE_COLOR", domain="POINT")
    for i, c in enumerate(col.data):
        c.color = (i / 10, 0.5, 1 - i / 10, 1.0)
    me.materials.append(_material("Red", (1.0, 0.0, 0.0)))
    me.materials.append(_material("Blue", (0.0, 0.0, 1.0)))
    me.polygons[2].material_index = 1
    me.polygons[4].material_index = 1
    ob = bpy.data.objects.new("poly", me)
    scene.collection.objects.link(ob)
    ob.location = (0.5, -1.0, 2.0)
    ob.rotation_euler = (0.3, 0.2, 0.1)

    bpy.ops.mesh.primitive_uv_sphere_add(segments=16, ring_count=8, radius=1.5, location=(0, 0, 3))
    bpy.context.active_object.name = "sphere"
    bpy.context.active_object.data.shade_smooth()

    img = bpy.data.images.new("checker", 8, 4)
    px = np.zeros((4, 8, 4), np.float32)
    px[..., 0] = np.linspace(0, 1, 8)[None]
    px[..., 3] = 1
    img.pixels.foreach_set(px.ravel())
    img.filepath_raw = str(tmp / "checker.png")
    img.file_format = "PNG"
    img.save()
    bpy.ops.mesh.primitive_cylinder_add(vertices=9, end_fill_type="NGON", location=(-3, 0, 0))
    bpy.context.active_object.name = "cylinder"
    bpy.context.active_object.data.materials.append(_material("Textured", (0.2, 0.4, 0.6), image=img))

    bpy.ops.mesh.primitive_monkey_add(location=(3, 3, 0), rotation=(0.0, 0.0, 0.7))
    bpy.context.active_object.name = "monkey"
    bpy.context.view_layer.update()
    return {name: _evaluated(bpy.data.objects[name]) for name in MESHES}


@pytest.fixture(scope="module")
def blender(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blender")
    meshes = _build_scene(tmp)
    yield tmp, meshes
    bpy.ops.wm.read_factory_settings(use_empty=True)


def _select_only(name: str) -> None:
    for o in bpy.context.scene.objects:
        o.select_set(o.name == name)
    bpy.context.view_layer.objects.active = bpy.data.objects[name]


def _export(op, name: str, path: Path, **kw) -> Path:
    props = {p.identifier for p in op.get_rna_type().properties}
    unknown = set(kw) - props
    assert not unknown, f"{op.idname()} has no keyword(s) {sorted(unknown)}"
    _select_only(name)
    result = op(filepath=str(path), export_selected_objects=True, **kw)
    assert result == {"FINISHED"}
    return path


# ----------------------------------------------------------------------------- comparisons
def _cd(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    return torch.cdist(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64))


def assert_same_points(ours: np.ndarray, theirs: np.ndarray, tol: float = 1e-5) -> None:
    d = _cd(ours, theirs)
    assert d.min(1).values.max() < tol, "a vertex we read is not in Blender's mesh"
    assert d.min(0).values.max() < tol, "a vertex of Blender's mesh is missing"


def assert_same_pairs(our_pos, our_attr, their_pos, their_attr, tol: float, tol_pos: float = 1e-5) -> None:
    """Every (position, attribute) corner we read is one of Blender's corners and vice versa."""
    da = _cd(our_attr, their_attr)
    da[_cd(our_pos, their_pos) >= tol_pos] = float("inf")
    assert da.min(1).values.max() < tol, "a corner attribute we read does not occur in Blender at that position"
    assert da.min(0).values.max() < tol, "a Blender corner attribute is missing at its position"


def fan_area(verts: np.ndarray, polys: list[list[int]]) -> float:
    total = 0.0
    for p in polys:
        for i in range(1, len(p) - 1):
            a, b, c = verts[p[0]], verts[p[i]], verts[p[i + 1]]
            total += 0.5 * np.linalg.norm(np.cross(b - a, c - a))
    return total


def area(verts: torch.Tensor, faces: torch.Tensor) -> float:
    return float(Meshes([verts.double()], [faces]).faces_areas_packed().sum())


def face_records(path: Path) -> int:
    """Number of faces the file declares, counted without our readers."""
    data = path.read_bytes()
    if path.suffix == ".obj":
        return sum(1 for line in data.decode().splitlines() if line.startswith("f "))
    return int(re.search(rb"element face (\d+)", data).group(1))


def check_geometry(bm: BlenderMesh, verts: torch.Tensor, faces: torch.Tensor, path: Path, triangulated: bool) -> None:
    assert_same_points(verts.numpy(), bm.verts)
    ours = area(verts, faces)
    if not triangulated:
        # The same polygons, fan-triangulated as we do. (Blender's own triangulation of a
        # non-planar or concave polygon differs, so its area is not compared here.)
        assert faces.shape[0] == bm.loop_triangles == sum(len(p) - 2 for p in bm.polys)
        assert ours == pytest.approx(fan_area(bm.verts, bm.polys), rel=1e-5)
    else:
        # Blender's exporter triangulates by its own rules (and drops one degenerate
        # triangle of Suzanne's): compare with the file and loosely with Blender's loop triangles.
        assert faces.shape[0] == face_records(path)
        assert abs(faces.shape[0] - bm.loop_triangles) <= 1
        assert ours == pytest.approx(bm.loop_triangle_area, rel=5e-3)


def corners(faces: torch.Tensor, idx: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Unique (vertex, attribute index) corners of triangles."""
    pairs = torch.stack([faces.reshape(-1), idx.reshape(-1)], 1).unique(dim=0)
    return pairs[:, 0].numpy(), pairs[:, 1].numpy()


# ----------------------------------------------------------------------------- tests
def test_exporter_keywords_exist():
    obj_props = {p.identifier for p in bpy.ops.wm.obj_export.get_rna_type().properties}
    ply_props = {p.identifier for p in bpy.ops.wm.ply_export.get_rna_type().properties}
    assert {"forward_axis", "up_axis", "export_uv", "export_normals", "export_colors", "export_materials",
            "export_triangulated_mesh", "export_selected_objects", "apply_modifiers", "path_mode"} <= obj_props
    assert {"forward_axis", "up_axis", "ascii_format", "export_normals", "export_colors", "export_uv",
            "export_triangulated_mesh", "export_selected_objects"} <= ply_props


OBJ_VARIANTS = {
    "plain": dict(export_uv=False, export_normals=False, export_materials=False),
    "uv": dict(export_uv=True, export_normals=False, export_materials=False),
    "normals": dict(export_uv=False, export_normals=True, export_materials=False),
    "all": dict(export_uv=True, export_normals=True, export_materials=True, export_colors=True, path_mode="RELATIVE"),
    "triangulated": dict(export_uv=True, export_normals=True, export_materials=True, export_triangulated_mesh=True),
}


@pytest.mark.parametrize("variant", list(OBJ_VARIANTS))
@pytest.mark.parametrize("name", MESHES)
def test_obj_export_round_trip(blender, name, variant):
    tmp, meshes = blender
    bm = meshes[name]
    kw = OBJ_VARIANTS[variant]
    p = _export(bpy.ops.wm.obj_export, name, tmp / f"{name}_{variant}.obj", **AXES, **kw)
    m = load_obj(p)
    check_geometry(bm, m.verts, m.faces, p, triangulated=variant == "triangulated")
    v = m.verts.double().numpy()

    if kw["export_uv"]:
        vi, ti = corners(m.faces, m.faces_uvs)
        assert (ti >= 0).all()
        assert_same_pairs(v[vi], m.verts_uvs.numpy()[ti], bm.verts[bm.loop_verts], bm.loop_uvs, tol=1e-5)
    else:
        assert m.faces_uvs is None and m.verts_uvs is None

    if kw["export_normals"]:
        vi, ni = corners(m.faces, m.faces_normals)
        assert (ni >= 0).all()
        assert torch.allclose(m.normals.norm(dim=1), torch.ones(1), atol=2e-4)
        if variant != "triangulated":  # triangles of a non-planar polygon get their own normals
            # Blender writes normals with 4 decimals.
            assert_same_pairs(v[vi], m.normals.numpy()[ni], bm.verts[bm.loop_verts], bm.corner_normals, tol=2e-4)
    else:
        assert m.faces_normals is None and m.normals is None

    if kw.get("export_colors") and bm.colors_srgb is not None:
        assert m.verts_colors is not None
        assert_same_pairs(v, m.verts_colors.numpy(), bm.verts, bm.colors_srgb[:, :3], tol=2e-4)

    if kw["export_materials"] and bm.material_colors:
        assert set(m.material_names) == set(bm.material_colors)
        names = [m.material_names[i] for i in m.face_materials.tolist()]
        want = Counter()
        for poly, mat in zip(bm.polys, bm.poly_materials):
            want[mat] += len(poly) - 2
        assert Counter(names) == want
        for mat_name, rgb in bm.material_colors.items():
            mat = m.materials[mat_name]
            if mat.texture_path is None:
                assert mat.diffuse.tolist() == pytest.approx(rgb, abs=1e-6)
            else:
                assert mat.texture_path.name == "checker.png"
                img = mat.texture_image
                assert img.shape == (4, 8, 3)
                assert (img[..., 0] - torch.linspace(0, 1, 8)).abs().max() < 1.0 / 255 + 1e-6
        if name == "cylinder":
            assert m.materials["Textured"].texture_image is not None
    elif not kw["export_materials"]:
        assert m.material_names == [] and m.face_materials.eq(-1).all()


@pytest.mark.parametrize("triangulated", [False, True])
@pytest.mark.parametrize("ascii", [True, False])
@pytest.mark.parametrize("name", MESHES)
def test_ply_export_round_trip(blender, name, ascii, triangulated):
    tmp, meshes = blender
    bm = meshes[name]
    p = _export(bpy.ops.wm.ply_export, name, tmp / f"{name}_{ascii}_{triangulated}.ply", **AXES, ascii_format=ascii,
                export_normals=True, export_uv=True, export_colors="SRGB", export_triangulated_mesh=triangulated)
    assert (b"format ascii" in p.read_bytes()[:100]) == ascii
    d = load_ply(p)
    check_geometry(bm, d.verts, d.faces, p, triangulated=triangulated)
    v = d.verts.double().numpy()
    # Blender's PLY exporter writes smooth vertex normals, splitting vertices where UVs differ;
    # after triangulating it writes the triangulated mesh's vertex normals, which we cannot reproduce.
    assert d.normals is not None
    assert torch.allclose(d.normals.norm(dim=1), torch.ones(1), atol=1e-5)
    if not triangulated:
        assert_same_pairs(v, d.normals.numpy(), bm.verts, bm.vertex_normals, tol=1e-5)
    assert d.verts_uvs is not None
    assert_same_pairs(v, d.verts_uvs.numpy(), bm.verts[bm.loop_verts], bm.loop_uvs, tol=1e-5)
    if bm.colors_srgb is not None:
        assert d.colors is not None and d.colors.shape[1] == 4
        assert_same_pairs(v, d.colors.numpy(), bm.verts, bm.colors_srgb, tol=3.0 / 255)
    else:
        assert d.colors is None


def test_ply_export_without_extras(blender):
    tmp, meshes = blender
    p = _export(bpy.ops.wm.ply_export, "monkey", tmp / "bare.ply", **AXES, ascii_format=False,
                export_normals=False, export_uv=False, export_colors="NONE")
    d = load_ply(p)
    assert d.normals is None and d.colors is None and d.verts_uvs is None
    check_geometry(meshes["monkey"], d.verts, d.faces, p, triangulated=False)

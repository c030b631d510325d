"""PyTorch3D's view of a loaded OBJ: ``verts, faces, aux = load_obj(f)``, per-face texture
atlases and ``load_objs_as_meshes``.

``load_obj`` returns an ``ObjMesh``; iterating it gives PyTorch3D's triple

* ``verts``: ``(V, 3)`` float32;
* ``ObjFaces(verts_idx (F, 3), normals_idx (F, 3), textures_idx (F, 3), materials_idx (F,))``
  int64, ``-1`` where a corner has no normal / UV or a face no material;
* ``ObjProperties(normals (N, 3) | None, verts_uvs (T, 2) | None, material_colors,
  texture_images, texture_atlas (F, R, R, 3) | None)``: ``material_colors`` maps each
  material the faces use to ``{"ambient_color", "diffuse_color", "specular_color" (3,),
  "shininess" (1,)}`` and ``texture_images`` to its ``(H, W, 3)`` image (both ``None``
  when no material library was read; unlike PyTorch3D, also with ``load_textures=False``,
  which skips the images only).

As in PyTorch3D, an OBJ without ``usemtl`` whose library holds one material uses it
for every face.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

__all__ = ["ObjFaces", "ObjProperties", "obj_as_tuple", "make_texture_atlas", "load_objs_as_meshes"]


class ObjFaces(NamedTuple):
    """The face indices of PyTorch3D's ``load_obj`` (its ``Faces``)."""

    verts_idx: torch.Tensor
    normals_idx: torch.Tensor
    textures_idx: torch.Tensor
    materials_idx: torch.Tensor


class ObjProperties(NamedTuple):
    """The extra data of PyTorch3D's ``load_obj`` (its ``Properties``)."""

    normals: torch.Tensor | None
    verts_uvs: torch.Tensor | None
    material_colors: dict | None
    texture_images: dict | None
    texture_atlas: torch.Tensor | None


def _materials_idx(obj) -> torch.Tensor:
    idx = obj.face_materials
    if idx.numel() and int(idx.max()) < 0 and len(obj.materials) == 1:
        idx = idx.clamp(min=0)  # no usemtl, one material: PyTorch3D gives it to every face
    return idx


def obj_as_tuple(obj) -> tuple[torch.Tensor, ObjFaces, ObjProperties]:
    """An ``ObjMesh`` as PyTorch3D's ``(verts, Faces, Properties)``."""
    F = obj.faces.shape[0]
    absent = torch.full((F, 3), -1, dtype=torch.int64)
    mat_idx = _materials_idx(obj)
    used = sorted({int(i) for i in mat_idx.unique().tolist() if i >= 0})
    colors = images = None
    if obj.materials:
        colors, images = {}, {}
        for i in used:
            name = obj.material_names[i]
            m = obj.materials[name]
            colors[name] = {"ambient_color": m.ambient, "diffuse_color": m.diffuse, "specular_color": m.specular,
                            "shininess": torch.tensor([float(m.shininess)], dtype=torch.float32)}
            if m.texture_image is not None:
                images[name] = m.texture_image[..., :3]
    faces = ObjFaces(obj.faces,
                     obj.faces_normals if obj.faces_normals is not None else absent,
                     obj.faces_uvs if obj.faces_uvs is not None else absent.clone(),
                     mat_idx)
    aux = ObjProperties(obj.normals, obj.verts_uvs, colors, images, getattr(obj, "texture_atlas", None))
    return obj.verts, faces, aux


def make_texture_atlas(obj, size: int = 4, wrap: str | None = "repeat") -> torch.Tensor:
    """``(F, size, size, 3)`` per-face texels of a loaded OBJ, PyTorch3D's ``create_texture_atlas``.

    A face with a textured material samples its image (bilinear, at the centroid of each
    of the ``size**2`` sub-triangles, in the layout ``TexturesAtlas`` reads); one without
    gets its material's diffuse colour, white without a material. ``wrap``: ``"repeat"``
    (UVs modulo 1), ``"clamp"`` (to [0, 1]) or ``None``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"texture_atlas_size: expected an int >= 1, found {size!r}")
    if wrap not in ("repeat", "clamp", None):
        raise ValueError(f"texture_wrap: expected 'repeat', 'clamp' or None, found {wrap!r}")
    R = size
    _, faces, aux = obj_as_tuple(obj)
    F = faces.verts_idx.shape[0]
    atlas = torch.ones(F, R, R, 3, dtype=torch.float32)
    if not aux.material_colors:
        return atlas
    for i, name in enumerate(obj.material_names):
        sel = faces.materials_idx == i
        if name in aux.material_colors and bool(sel.any()):
            atlas[sel] = aux.material_colors[name]["diffuse_color"].to(torch.float32)
    if aux.verts_uvs is None or not aux.texture_images:
        return atlas
    fvu = aux.verts_uvs[faces.textures_idx.clamp(min=0)]  # (F, 3, 2)
    if wrap == "repeat" and bool(((fvu > 1) | (fvu < 0)).any()):  # only then, as PyTorch3D (1 stays 1)
        warnings.warn("texture UVs outside [0, 1]: their integer part is dropped (texture_wrap='repeat')", stacklevel=2)
        fvu = fvu % 1
    elif wrap == "clamp":
        fvu = fvu.clamp(0.0, 1.0)
    # Barycentric centre of each atlas cell (below the diagonal: lower sub-triangle; above: mirrored).
    rng = torch.arange(R)
    Y, X = torch.meshgrid(rng, rng, indexing="ij")
    grid = torch.stack([X, Y], -1).to(torch.float32)
    below = (grid.sum(-1) < R)[..., None]
    b01 = torch.where(below, (grid + 1.0 / 3.0) / R, ((R - 1.0 - grid) + 2.0 / 3.0) / R)
    bary = torch.cat([b01, 1 - b01.sum(-1, keepdim=True)], -1)  # (R, R, 3)
    for i, name in enumerate(obj.material_names):
        image = aux.texture_images.get(name)
        sel = faces.materials_idx == i
        if image is None or not bool(sel.any()):
            continue
        uv = (fvu[sel][:, None, None] * bary[..., None]).sum(-2)  # (F_m, R, R, 2)
        img = torch.flip(image.to(torch.float32), [0]).permute(2, 0, 1)[None].expand(uv.shape[0], -1, -1, -1)
        out = torch.nn.functional.grid_sample(img, uv * 2.0 - 1.0, mode="bilinear", align_corners=True)
        atlas[sel] = out.permute(0, 2, 3, 1)
    return atlas


def load_objs_as_meshes(files, device=None, load_textures: bool = True, create_texture_atlas: bool = False,
                        texture_atlas_size: int = 4, texture_wrap: str | None = "repeat", *,
                        allow_outside_paths: bool = False):
    """OBJ files as one ``Meshes`` batch with their textures, PyTorch3D's call form.

    ``allow_outside_paths``: as :func:`unrender.io.load_obj` (material and texture
    paths that leave an OBJ's folder are not followed by default).

    Each mesh gets a ``TexturesAtlas`` (``create_texture_atlas=True``) or a ``TexturesUV``
    of its UVs and the first material image (when it has UVs and an image), else none; a
    batch keeps textures only when every mesh has some (as ``join_meshes_as_batch``).
    """
    from ..render.textures import TexturesAtlas, TexturesUV  # textures are render's classes: the one upward import of io
    from ..structures import Meshes, join_meshes_as_batch
    from .obj import load_obj

    if isinstance(files, (str, bytes)) or not hasattr(files, "__iter__"):
        raise ValueError(f"files: expected a list of OBJ paths, found {type(files).__name__}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    meshes = []
    for f in files:
        obj = load_obj(f, load_textures=load_textures, create_texture_atlas=create_texture_atlas,
                       texture_atlas_size=texture_atlas_size, texture_wrap=texture_wrap,
                       allow_outside_paths=allow_outside_paths)
        verts, faces, aux = obj_as_tuple(obj)
        tex = None
        if create_texture_atlas:
            tex = TexturesAtlas([aux.texture_atlas.to(device)])
        elif aux.texture_images and aux.verts_uvs is not None:
            image = next(iter(aux.texture_images.values())).to(device)
            tex = TexturesUV([image], [faces.textures_idx.clamp(min=0).to(device)], [aux.verts_uvs.to(device)])
        meshes.append(Meshes([verts.to(device)], [faces.verts_idx.to(device)], textures=tex))
    if not meshes:
        raise ValueError("files: expected at least one OBJ file, found none")
    return meshes[0] if len(meshes) == 1 else join_meshes_as_batch(meshes)

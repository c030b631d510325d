"""Shading: lighting models and the shader modules that turn fragments into images.

Lighting models (numerics as PyTorch3D's ``mesh/shading.py``, all in world
space, camera position from ``cameras.get_camera_center()``):

* Phong: position and vertex normal interpolated per pixel, lit per pixel;
* Gouraud: vertices lit, lit colours interpolated (per-vertex textures only);
* flat: each face lit at its centroid with its face normal.

``colour = (ambient + diffuse) * texel + specular`` with
``ambient = materials.ambient_color * lights.ambient_color`` and the diffuse
and specular terms scaled by the material colours.

Unlike PyTorch3D, every function works on the covered (pixel, face) slots
only (``blending.Slots``), and hard shaders shade only the nearest face of
each pixel; empty pixels cost nothing and a render of an empty scene is the
background with alpha 0.

Shaders are called as ``shader(fragments, meshes, textures=..., lights=...,
cameras=..., materials=..., blend_params=...)``; keyword arguments override
what was given at construction. ``textures`` is a ``TexturesVertex``, a
``TexturesUV``, a ``TexturesAtlas``, a ``(V, 3)`` colour tensor, or ``None``:
then the mesh's own ``meshes.textures`` (as PyTorch3D), or white without.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..blending import (
    BlendParams,
    Slots,
    hard_blend_packed,
    select_slots,
    silhouette_alpha,
    softmax_blend_packed,
)
from ..lighting import PointLights, property_rows
from ..materials import Materials
from ..textures import TexturesVertex, as_textures, gather_interpolate

__all__ = [
    "phong_shading",
    "gouraud_shading",
    "flat_shading",
    "ShaderBase",
    "HardPhongShader",
    "SoftPhongShader",
    "HardGouraudShader",
    "SoftGouraudShader",
    "HardFlatShader",
    "SoftSilhouetteShader",
    "HardDepthShader",
]


# ------------------------------------------------------------------ helpers
def camera_centers(cameras, n_images: int, like: torch.Tensor) -> torch.Tensor:
    """``(1|N, 3)`` camera centres in world space, checked against ``n_images``."""
    if cameras is None:
        raise ValueError("cameras: expected a cameras object (at construction or in the call), found None")
    if not hasattr(cameras, "get_camera_center"):
        raise ValueError(f"cameras: expected an object with get_camera_center(), found {type(cameras).__name__}")
    c = cameras.get_camera_center()
    c = c.reshape(-1, 3).to(dtype=like.dtype, device=like.device)
    if c.shape[0] not in (1, n_images):
        raise ValueError(f"cameras: expected 1 or {n_images} cameras (one per image), found {c.shape[0]}")
    return c


def _check_batch(meshes, n_images: int, lights, materials) -> None:
    if len(meshes) != n_images:
        raise ValueError(f"meshes: expected {n_images} meshes (the fragments' batch size), found {len(meshes)}")
    lights.check_batch(n_images)
    materials.check_batch(n_images)


def lighting_packed(points, normals, batch, lights, cam, materials):
    """Ambient ``(1|P, C)``, diffuse and specular ``(P, C)`` (or ``None``) for packed items.

    Args:
        points, normals: ``(P, 3)`` world-space positions and normals.
        batch: ``(P,)`` image of each item.
        cam: ``(1|N, 3)`` camera centres.
    """
    dt = points.dtype
    ambient = property_rows(materials.ambient_color, batch).to(dt) * property_rows(lights.ambient_color, batch).to(dt)
    dif, spe = lights.shade_packed(
        points, normals, batch, property_rows(cam, batch), materials.take("shininess", batch).to(dt)
    )
    if dif is not None:
        dif = property_rows(materials.diffuse_color, batch).to(dt) * dif
        spe = property_rows(materials.specular_color, batch).to(dt) * spe
    return ambient, dif, spe


def _combine(ambient, dif, spe, texels):
    if dif is None:
        return ambient * texels
    return (ambient + dif) * texels + spe


def phong_packed(meshes, slots: Slots, lights, cam, materials, texels) -> torch.Tensor:
    """Per-pixel Phong colours ``(P, C)`` at ``slots`` for texels ``(1|P, C)``."""
    verts = meshes.verts_packed()
    corners = meshes.faces_packed()[slots.face]
    # positions and normals gathered and interpolated together
    both = gather_interpolate(torch.cat([verts, meshes.verts_normals_packed()], 1), corners, slots.bary.to(verts.dtype))
    points, normals = both[:, :3], both[:, 3:]
    return _combine(*lighting_packed(points, normals, slots.batch, lights, cam, materials), texels)


def gouraud_packed(meshes, slots: Slots, lights, cam, materials, textures) -> torch.Tensor:
    """Per-vertex lit colours interpolated at ``slots`` -> ``(P, C)``."""
    verts = meshes.verts_packed()
    if textures is None:
        vcol = torch.ones(1, 3, dtype=verts.dtype, device=verts.device)
    elif isinstance(textures, TexturesVertex):
        vcol = textures.verts_features_packed(meshes).to(verts.dtype)
    else:
        raise ValueError(f"textures: Gouraud shading needs per-vertex colours (TexturesVertex), found {type(textures).__name__}")
    batch = meshes.verts_packed_to_mesh_idx() if len(meshes) > 1 else None
    lit = _combine(*lighting_packed(verts, meshes.verts_normals_packed(), batch, lights, cam, materials), vcol)
    if lit.shape[0] != verts.shape[0]:  # only ambient light and white: one colour
        lit = lit.expand(verts.shape[0], -1)
    return gather_interpolate(lit, meshes.faces_packed()[slots.face], slots.bary.to(lit.dtype))


def flat_packed(meshes, slots: Slots, lights, cam, materials, texels) -> torch.Tensor:
    """Per-face lit colours (face centroid and normal) at ``slots`` -> ``(P, C)``."""
    verts, faces = meshes.verts_packed(), meshes.faces_packed()
    F = faces.shape[0]
    if slots.face.shape[0] < F:  # fewer covered slots than faces: light each slot
        fidx = slots.face
        batch = slots.batch
    else:  # light each face once, then gather
        fidx = None
        batch = meshes.faces_packed_to_mesh_idx() if len(meshes) > 1 else None
    sel = faces if fidx is None else faces[fidx]
    centroids = verts[sel].mean(dim=-2)
    normals = meshes.faces_normals_packed()
    normals = normals if fidx is None else normals[fidx]
    ambient, dif, spe = lighting_packed(centroids, normals, batch, lights, cam, materials)
    if fidx is None:
        ambient = ambient if ambient.shape[0] == 1 else ambient[slots.face]
        if dif is not None:
            dif, spe = dif[slots.face], spe[slots.face]
    return _combine(ambient, dif, spe, texels)


def _texels(textures, meshes, slots: Slots, like: torch.Tensor) -> torch.Tensor:
    if textures is None:
        return torch.ones(1, 3, dtype=like.dtype, device=like.device)
    return textures.sample_packed(meshes, slots).to(like.dtype)


# ------------------------------------------------ PyTorch3D-style functions
def _dense(vals: torch.Tensor, slots: Slots) -> torch.Tensor:
    N, H, W, K = slots.shape
    C = vals.shape[-1]
    vals = vals.expand(slots.index.shape[0], C)
    return torch.zeros(N * H * W * K, C, dtype=vals.dtype, device=vals.device).index_put((slots.index,), vals).reshape(N, H, W, K, C)


def _dense_texels(texels, slots: Slots) -> torch.Tensor:
    if texels is None:
        return None
    if texels.dim() == 5:  # PyTorch3D layout (N, H, W, K, C)
        return texels.reshape(-1, texels.shape[-1])[slots.index]
    return texels


def _shade_texels(shade_packed, meshes, fragments, lights, cameras, materials, texels) -> torch.Tensor:
    """``shade_packed`` (Phong or flat) of every covered slot, lit with per-pixel ``texels`` (white when None),
    scattered to ``(N, H, W, K, C)``."""
    slots = select_slots(fragments)
    verts = meshes.verts_packed()
    tex = _dense_texels(texels, slots)
    tex = torch.ones(1, 3, dtype=verts.dtype, device=verts.device) if tex is None else tex
    cam = camera_centers(cameras, slots.shape[0], verts)
    return _dense(shade_packed(meshes, slots, lights, cam, materials, tex), slots)


def phong_shading(meshes, fragments, lights, cameras, materials, texels=None) -> torch.Tensor:
    """Per-pixel Phong colours ``(N, H, W, K, C)`` (0 where no face).

    ``texels``: ``(N, H, W, K, C)`` from ``textures.sample_textures`` or ``None`` (white).
    """
    return _shade_texels(phong_packed, meshes, fragments, lights, cameras, materials, texels)


def gouraud_shading(meshes, fragments, lights, cameras, materials, textures=None) -> torch.Tensor:
    """Per-vertex lit colours interpolated per pixel: ``(N, H, W, K, C)``."""
    slots = select_slots(fragments)
    cam = camera_centers(cameras, slots.shape[0], meshes.verts_packed())
    return _dense(gouraud_packed(meshes, slots, lights, cam, materials, as_textures(textures)), slots)


def flat_shading(meshes, fragments, lights, cameras, materials, texels=None) -> torch.Tensor:
    """Per-face lit colours ``(N, H, W, K, C)``."""
    return _shade_texels(flat_packed, meshes, fragments, lights, cameras, materials, texels)


# ------------------------------------------------------------------ shaders
class ShaderBase(nn.Module):
    """Holds default cameras, lights, materials, blend parameters and textures.

    Defaults: ``PointLights()`` and ``Materials()`` as in PyTorch3D,
    ``BlendParams()`` (white background), white textures.
    """

    def __init__(self, device="cpu", cameras=None, lights=None, materials=None, blend_params=None, textures=None) -> None:
        super().__init__()
        self.cameras = cameras
        self.lights = lights if lights is not None else PointLights(device=device)
        self.materials = materials if materials is not None else Materials(device=device)
        self.blend_params = blend_params if blend_params is not None else BlendParams()
        self.textures = as_textures(textures)

    def to(self, device):
        if self.cameras is not None:
            self.cameras = self.cameras.to(device)
        self.lights = self.lights.to(device)
        self.materials = self.materials.to(device)
        if self.textures is not None:
            self.textures = self.textures.to(device)
        return self

    def _setup(self, fragments, meshes, kwargs):
        lights = kwargs.get("lights", self.lights)
        materials = kwargs.get("materials", self.materials)
        n = fragments.pix_to_face.shape[0]
        _check_batch(meshes, n, lights, materials)
        cameras = kwargs.get("cameras", self.cameras)
        textures = as_textures(kwargs["textures"]) if kwargs.get("textures") is not None else self.textures
        if textures is None:
            textures = getattr(meshes, "textures", None)  # the mesh's own, as PyTorch3D's shaders use
        bp = kwargs.get("blend_params", self.blend_params)
        return cameras, lights, materials, textures, bp

    @staticmethod
    def _znear_zfar(cameras, kwargs):
        return kwargs.get("znear", getattr(cameras, "znear", 1.0)), kwargs.get("zfar", getattr(cameras, "zfar", 100.0))

    def _shade(self, fragments, meshes, kwargs, shading, *, soft: bool, per_vertex: bool = False) -> torch.Tensor:
        """Light the covered slots with ``shading`` (``*_packed``) and blend them.

        ``soft``: SoftRas blending of the K faces, else the nearest face only.
        ``per_vertex``: ``shading`` takes the textures themselves (Gouraud), not texels.
        """
        cameras, lights, materials, textures, bp = self._setup(fragments, meshes, kwargs)
        slots = select_slots(fragments, nearest_only=not soft)
        verts = meshes.verts_packed()
        cam = camera_centers(cameras, slots.shape[0], verts)
        tex = textures if per_vertex else _texels(textures, meshes, slots, verts)
        colors = shading(meshes, slots, lights, cam, materials, tex).expand(slots.index.shape[0], -1)
        if soft:
            znear, zfar = self._znear_zfar(cameras, kwargs)
            return softmax_blend_packed(colors, slots, fragments, bp, znear, zfar)
        return hard_blend_packed(colors, slots, bp)


class HardPhongShader(ShaderBase):
    """Per-pixel lighting, nearest face only. Returns ``(N, H, W, 4)`` RGBA."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        return self._shade(fragments, meshes, kwargs, phong_packed, soft=False)


class SoftPhongShader(ShaderBase):
    """Per-pixel lighting, SoftRas blending of the K faces. Returns ``(N, H, W, 4)``."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        return self._shade(fragments, meshes, kwargs, phong_packed, soft=True)


class HardGouraudShader(ShaderBase):
    """Per-vertex lighting, nearest face only (``TexturesVertex`` or white)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        return self._shade(fragments, meshes, kwargs, gouraud_packed, soft=False, per_vertex=True)


class SoftGouraudShader(ShaderBase):
    """Per-vertex lighting with SoftRas blending (``TexturesVertex`` or white)."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        return self._shade(fragments, meshes, kwargs, gouraud_packed, soft=True, per_vertex=True)


class HardFlatShader(ShaderBase):
    """Per-face lighting, nearest face only."""

    def forward(self, fragments, meshes, **kwargs) -> torch.Tensor:
        return self._shade(fragments, meshes, kwargs, flat_packed, soft=False)


class SoftSilhouetteShader(nn.Module):
    """Soft silhouette: RGB 1, alpha ``1 - prod_k (1 - sigmoid(-dists / sigma))``.

    For SoftRas-consistent edges rasterise with
    ``blur_radius = log(1 / 1e-4 - 1) * sigma`` and several faces per pixel.
    Returns ``(N, H, W, 4)``.
    """

    def __init__(self, blend_params: BlendParams | None = None) -> None:
        super().__init__()
        self.blend_params = blend_params if blend_params is not None else BlendParams()

    def forward(self, fragments, meshes=None, **kwargs) -> torch.Tensor:
        bp = kwargs.get("blend_params", self.blend_params)
        alpha = silhouette_alpha(fragments, bp)
        return torch.cat([torch.ones(*alpha.shape, 3, dtype=alpha.dtype, device=alpha.device), alpha[..., None]], -1)


class HardDepthShader(ShaderBase):
    """Depth of the nearest face, ``zfar`` where none: ``(N, H, W, 1)``."""

    def forward(self, fragments, meshes=None, **kwargs) -> torch.Tensor:
        cameras = kwargs.get("cameras", self.cameras)
        zfar = kwargs.get("zfar", getattr(cameras, "zfar", 100.0))
        z = fragments.zbuf[..., :1]
        if isinstance(zfar, torch.Tensor) and zfar.numel() > 1:
            zfar = zfar.to(z).reshape(-1, 1, 1, 1)
        return torch.where(fragments.pix_to_face[..., :1] < 0, torch.as_tensor(zfar, dtype=z.dtype, device=z.device), z)

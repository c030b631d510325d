"""Mesh rasterisation, hard and soft, with the contract of PyTorch3D's.

``rasterize_meshes`` returns, for every pixel, the ``K`` faces nearest in depth
that cover it (hard, ``blur_radius = 0``) or that lie within ``blur_radius``
of it (soft, SoftRas style), with their depth, barycentric coordinates and
signed squared distance, as :class:`Fragments`. ``MeshRasterizer`` first
moves world-space vertices into NDC with a camera. The computation (and how
it differs from PyTorch3D's kernels) is in the engine,
:mod:`unrender.render.mesh._raster_kernel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn

from ..._validate import check_meshes, check_positive_int, parse_real
from ...screen import parse_image_size
from ._raster_kernel import rasterize_faces

__all__ = ["Fragments", "RasterizationSettings", "MeshRasterizer", "rasterize_meshes"]


@dataclass(frozen=True)
class Fragments:
    """Rasterisation output, ``K = faces_per_pixel``.

    pix_to_face: ``(N, H, W, K)`` int64, index into the packed faces, nearest
        first; -1 where fewer than K faces were found.
    zbuf: ``(N, H, W, K)`` view depth of each face at the pixel; -1 if empty.
    bary_coords: ``(N, H, W, K, 3)`` barycentric coordinates; -1 if empty.
    dists: ``(N, H, W, K)`` signed squared NDC distance from the pixel centre
        to the face's 2D outline (negative inside); -1 if empty.
    """

    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: Optional[torch.Tensor]

    def detach(self) -> "Fragments":
        return Fragments(
            self.pix_to_face,
            self.zbuf.detach(),
            self.bary_coords.detach(),
            None if self.dists is None else self.dists.detach(),
        )



def rasterize_meshes(
    meshes,
    image_size: Union[int, Sequence[int]] = 256,
    blur_radius: float = 0.0,
    faces_per_pixel: int = 8,
    bin_size: Optional[int] = None,
    max_faces_per_bin: Optional[int] = None,
    perspective_correct: bool = False,
    clip_barycentric_coords: bool = False,
    cull_backfaces: bool = False,
    z_clip_value: Optional[float] = None,
    cull_to_frustum: bool = False,
):
    """Rasterise meshes whose vertices are already in NDC (z = view depth).

    Args:
        meshes: ``Meshes`` batch of N meshes (or any object with PyTorch3D's
            packed-view methods): x, y in NDC (+X left, +Y up, the shorter
            image side spanning [-1, 1]), z the view-space depth.
        image_size: ``S`` or ``(H, W)`` in pixels.
        blur_radius: squared NDC distance (PyTorch3D's convention: boxes grow
            by ``sqrt(blur_radius)``, a pixel outside a face is kept when its
            squared distance is ``< blur_radius``). 0 = hard rasterisation.
        faces_per_pixel: K, nearest faces kept per pixel (default 8 as in
            PyTorch3D's ``rasterize_meshes``; ``RasterizationSettings`` uses 1).
        bin_size, max_faces_per_bin: accepted for compatibility; they change
            nothing here (there are no fixed bins to overflow).
        perspective_correct: perspective-correct barycentrics (``z`` must be
            the view depth).
        clip_barycentric_coords: clamp barycentrics to the face (then
            renormalise) before interpolating the depth.
        cull_backfaces: skip faces whose NDC winding is clockwise, i.e.
            facing away from the camera.
        z_clip_value: if set, faces are clipped to ``z >= z_clip_value`` first
            (see :mod:`unrender.render.mesh._raster_clip`); results refer to the
            original faces.
        cull_to_frustum: accepted for compatibility; faces outside the image
            are never visited, so it changes nothing (PyTorch3D's culling
            tests the wrong axis and can drop faces it should keep).

    Returns:
        ``Fragments(pix_to_face (N, H, W, K) int64, zbuf (N, H, W, K),
        bary_coords (N, H, W, K, 3), dists (N, H, W, K))``; empty slots are -1.
        zbuf, bary_coords and dists are differentiable with respect to the
        vertices. As in PyTorch3D, faces with ``|2 x area| <= 1e-8`` (zero
        area) or a vertex at ``z < 1e-8`` (behind the camera: clip first with
        ``z_clip_value``) are skipped, and so are pixels where the depth is < 0.

    Differences from PyTorch3D (float32 forward values are identical):

    * Gradients: where the perspective correction clamps its denominator to
      1e-8 (pixels in the blur band well outside a face), PyTorch3D's backward
      ignores the clamp and can return gradients of 1e20; here the clamped
      denominator is a constant (the exact derivative of the forward).
      Elsewhere gradients agree to float rounding.
    * ``z_clip_value``: both edge-interpolation weights of a clipped face
      carry gradients (PyTorch3D detaches one); the two halves of a split face
      compete for a pixel among all candidates (PyTorch3D only against a half
      still in its running top K).
    * ``bin_size``, ``max_faces_per_bin``, ``cull_to_frustum`` change nothing
      and never raise "too many faces per bin".
    * float64 vertices are rasterised in float64 (PyTorch3D: float32 only).
    """
    check_meshes("meshes", meshes)
    H, W = parse_image_size(image_size)
    blur_radius = parse_real("blur_radius", blur_radius)
    if blur_radius < 0:
        raise ValueError(f"blur_radius: expected a number >= 0, found {blur_radius}")
    K = check_positive_int("faces_per_pixel", faces_per_pixel)
    if bin_size is not None:
        check_positive_int("bin_size", bin_size, minimum=0)
    if max_faces_per_bin is not None:
        check_positive_int("max_faces_per_bin", max_faces_per_bin)
    if z_clip_value is not None:
        z_clip_value = parse_real("z_clip_value", z_clip_value)

    nf = meshes.num_faces_per_mesh()
    N = len(nf)
    if N == 0:
        device = getattr(meshes, "device", torch.device("cpu"))
        e = torch.zeros(0, H, W, K, device=device)
        return Fragments(e.long() - 1, e, torch.zeros(0, H, W, K, 3, device=device), e.clone())
    verts = meshes.verts_packed()
    faces = meshes.faces_packed()
    device = verts.device
    dtype = verts.dtype if verts.is_floating_point() else torch.float32
    fv = verts[faces].to(dtype)  # (F, 3, 3), differentiable
    face_mesh = torch.repeat_interleave(torch.arange(N, device=device), nf.to(device))
    pix_to_face, zbuf, bary_coords, dists = rasterize_faces(
        fv, face_mesh, N, H, W, K, blur_radius, perspective_correct, clip_barycentric_coords, cull_backfaces, z_clip_value
    )
    return Fragments(pix_to_face, zbuf, bary_coords, dists)


@dataclass
class RasterizationSettings:
    """Rasteriser parameters, as PyTorch3D's (see :func:`rasterize_meshes`).

    ``perspective_correct=None`` follows the camera; ``clip_barycentric_coords
    =None`` means "clip when ``blur_radius > 0``"; ``z_clip_value=None`` means
    ``znear / 2`` for perspective cameras, no clipping otherwise.
    """

    image_size: Union[int, tuple[int, int]] = 256
    blur_radius: float = 0.0
    faces_per_pixel: int = 1
    bin_size: Optional[int] = None
    max_faces_per_bin: Optional[int] = None
    perspective_correct: Optional[bool] = None
    clip_barycentric_coords: Optional[bool] = None
    cull_backfaces: bool = False
    z_clip_value: Optional[float] = None
    cull_to_frustum: bool = False


class MeshRasterizer(nn.Module):
    """Project world-space meshes with a camera and rasterise them.

    ``cameras``: unrender's cameras (``unrender.cameras``), or any object with
    PyTorch3D's camera interface (``get_world_to_view_transform``,
    ``get_projection_transform``, ``get_ndc_camera_transform``,
    ``is_perspective``, ``get_znear``, ``len``), PyTorch3D's cameras included.
    Keyword arguments of ``forward`` override ``cameras`` and
    ``raster_settings``; the others (e.g. ``R``, ``T``, ``eps``) go to the
    camera methods.
    """

    def __init__(self, cameras=None, raster_settings: Optional[RasterizationSettings] = None) -> None:
        super().__init__()
        self.cameras = cameras
        self.raster_settings = raster_settings if raster_settings is not None else RasterizationSettings()

    def to(self, device):
        if self.cameras is not None and hasattr(self.cameras, "to"):
            self.cameras = self.cameras.to(device)
        return self

    def transform(self, meshes_world, **kwargs):
        """World-space ``Meshes`` -> the same meshes with x, y in NDC and z the
        view-space depth (PyTorch3D's ``MeshRasterizer.transform``).

        Uses ``cameras.project_to_ndc_with_depth`` when the camera has it
        (unrender's cameras: one matrix product); otherwise PyTorch3D's own
        sequence of transforms, so PyTorch3D cameras give PyTorch3D's numbers.
        """
        check_meshes("meshes_world", meshes_world)
        cameras = kwargs.get("cameras", self.cameras)
        if cameras is None:
            raise ValueError("cameras: expected a camera, at construction or as forward(..., cameras=), found None")
        n_cam, n_mesh = len(cameras), len(meshes_world)
        if n_cam != 1 and n_cam != n_mesh:
            raise ValueError(f"cameras: expected 1 or {n_mesh} cameras (one per mesh), found {n_cam}")
        eps = kwargs.get("eps", None)
        cam_kwargs = {k: v for k, v in kwargs.items() if k not in ("eps", "cameras", "raster_settings")}
        verts_world = meshes_world.verts_padded()
        if hasattr(cameras, "project_to_ndc_with_depth"):
            verts_ndc = cameras.project_to_ndc_with_depth(verts_world, eps=eps, **cam_kwargs)
            if verts_ndc.dim() == 2:
                verts_ndc = verts_ndc[None]
        else:
            verts_view = cameras.get_world_to_view_transform(**cam_kwargs).transform_points(verts_world, eps=eps)
            to_ndc = cameras.get_ndc_camera_transform(**cam_kwargs)
            try:
                proj = cameras.get_projection_transform(**cam_kwargs)
            except NotImplementedError:
                proj = None
            if proj is not None:
                verts_ndc = proj.compose(to_ndc).transform_points(verts_view, eps=eps)
            else:
                verts_ndc = to_ndc.transform_points(cameras.transform_points(verts_world, eps=eps), eps=eps)
            verts_ndc = torch.cat([verts_ndc[..., :2], verts_view[..., 2:3]], -1)
        return meshes_world.update_padded(verts_ndc)

    def forward(self, meshes_world, **kwargs) -> Fragments:
        """Rasterise ``meshes_world`` (N meshes) -> :class:`Fragments`."""
        meshes_ndc = self.transform(meshes_world, **kwargs)
        rs = kwargs.get("raster_settings", self.raster_settings)
        cameras = kwargs.get("cameras", self.cameras)
        clip_bary = rs.clip_barycentric_coords
        if clip_bary is None:
            clip_bary = rs.blur_radius > 0.0
        perspective_correct = rs.perspective_correct
        if perspective_correct is None:
            perspective_correct = bool(cameras.is_perspective())
        z_clip = rs.z_clip_value
        if z_clip is None and perspective_correct:
            znear = cameras.get_znear()
            if isinstance(znear, torch.Tensor):
                znear = znear.min().item()
            z_clip = None if znear is None else znear / 2
        return rasterize_meshes(
            meshes_ndc,
            image_size=rs.image_size,
            blur_radius=rs.blur_radius,
            faces_per_pixel=rs.faces_per_pixel,
            bin_size=rs.bin_size,
            max_faces_per_bin=rs.max_faces_per_bin,
            perspective_correct=perspective_correct,
            clip_barycentric_coords=clip_bary,
            cull_backfaces=rs.cull_backfaces,
            z_clip_value=z_clip,
            cull_to_frustum=rs.cull_to_frustum,
        )

"""Turntables: a mesh or point cloud rendered from cameras circling it.

``turntable(obj)`` frames the object automatically (bounding sphere), lights
it with a light that travels with the camera (as if the object spun on a
turntable under studio lights) and returns ``(n_frames, H, W, 3|4)`` images;
``save_turntable`` writes them as an animated GIF and, optionally, PNG frames.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .._validate import check_positive_int, parse_real
from ..structures import Meshes, PointClouds
from .lighting import DirectionalLights, as_batch_property
from .materials import Materials
from .blending import BlendParams
from ..screen import parse_image_size
from .mesh import HardFlatShader, HardGouraudShader, HardPhongShader, MeshRasterizer, MeshRenderer, RasterizationSettings
from .points import PointsRasterizationSettings, PointsRasterizer, PointsRenderer
from .textures import TexturesVertex, as_textures

__all__ = ["turntable", "turntable_cameras", "save_turntable", "point_spacing", "composite_splats"]

_SHADERS = {"phong": HardPhongShader, "gouraud": HardGouraudShader, "flat": HardFlatShader}
_DEFAULT_COLOR = (0.72, 0.74, 0.78)


def point_spacing(points: torch.Tensor, *, sample: int = 4096, seed: int = 0) -> float:
    """Mean distance from a point of ``points (P, 3)`` to its nearest other point (0 for fewer
    than 2 points), measured on at most ``sample`` seeded query points against the whole cloud."""
    from ..ops import knn_points

    P = points.shape[0]
    if P < 2:
        return 0.0
    q = points
    if P > sample:
        q = points[torch.randperm(P, generator=torch.Generator().manual_seed(seed))[:sample]]
    d2 = knn_points(q[None].float(), points[None].float(), K=2).dists[0, :, 1]
    return float(d2.clamp_min(0).sqrt().mean())


def composite_splats(
    img: torch.Tensor,
    background: torch.Tensor,
    window: int = 11,
    *,
    depth: torch.Tensor | None = None,
    depth_tolerance: float = 0.0,
    with_coverage: bool = False,
) -> torch.Tensor:
    """``(H, W, 3)`` picture of splats ``img (H, W, 4)`` (premultiplied RGB over black, coverage)
    over ``background (3,)``, without the background showing through gaps between splats.

    The colour is the coverage-weighted mean of the splats; the coverage is boosted (x 3); a pixel
    of low coverage whose ``window`` x ``window`` neighbourhood is mostly covered (a gap inside the
    surface, not its outline) takes the neighbourhood's mean colour. ``with_coverage``: also
    return that coverage as a 4th channel (``(H, W, 4)``).

    ``depth``: ``(H, W)`` view-space depth of the splats at each pixel (any value where nothing
    is drawn). A pixel more than ``depth_tolerance`` behind the nearest depth in its window sees
    another part of the surface; where the near surface surrounds it (most of the window), it is
    seen through a gap in the near one (the far side of a cloud): it is cleared, then filled as a gap.
    """
    import torch.nn.functional as F

    pool = lambda x: F.avg_pool2d(x.permute(2, 0, 1)[None], window, 1, window // 2, count_include_pad=False)[0].permute(1, 2, 0)  # noqa: E731
    if depth is not None:
        drawn = img[..., 3] > 0
        d = torch.where(drawn, depth.to(img), torch.full_like(img[..., 3], float("inf")))
        near = -F.max_pool2d(-d[None, None], window, 1, window // 2)[0, 0]
        behind = drawn & (d > near + depth_tolerance)
        front = (drawn & ~behind).to(img)[..., None]
        # behind the near surface and surrounded by it: seen through a hole (beyond the near surface's
        # outline, a farther part is what the eye sees, and stays)
        img = img.masked_fill(behind[..., None] & (pool(front) > 0.6), 0.0)
    a = img[..., 3:].clamp(0, 1)
    pre = img[..., :3]
    a_n, pre_n = pool(a), pool(pre)
    cover = (3.0 * a).clamp(0, 1)
    gap = (cover < 1) & (a_n > 0.6)
    rgb = torch.where(gap, pre_n / a_n.clamp_min(1e-6), pre / a.clamp_min(1e-6))
    cover = torch.where(gap, torch.ones_like(cover), cover)
    out = (rgb * cover + (1 - cover) * background.to(rgb)).clamp(0, 1)
    return torch.cat([out, cover], -1) if with_coverage else out


def _splat_window(height: int, width: int) -> int:
    """The :func:`composite_splats` window for an ``height`` x ``width`` picture: odd, about
    1/24 of the shorter side (the gaps between splats scale with the picture), at least 5."""
    return 2 * max(min(height, width) // 48, 2) + 1


def _bounding_sphere(points: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Centre (bounding-box centre) and radius of a sphere holding ``points`` ``(P, 3)``."""
    if points.shape[0] == 0:
        return torch.zeros(3, dtype=points.dtype, device=points.device), 1.0
    center = (points.min(0).values + points.max(0).values) / 2
    radius = float((points - center).norm(dim=1).max())
    return center, radius if radius > 0 else 1.0


def turntable_cameras(
    center,
    radius: float,
    n_frames: int = 36,
    elevation: float = 20.0,
    distance: float | None = None,
    fov: float = 40.0,
    up: str = "y",
    start_azimuth: float = 0.0,
    device="cpu",
):
    """``n_frames`` ``FoVPerspectiveCameras`` on a circle around ``center``.

    Args:
        center: ``(3,)`` point looked at. radius: bounding-sphere radius,
            used to choose ``distance`` when it is ``None`` (the sphere then
            fills ~90% of the shorter image side) and the depth range.
        elevation: degrees above the horizontal plane.
        up: ``"y"`` (PyTorch3D / OBJ convention) or ``"z"`` (Blender).
        start_azimuth: degrees; the frames step by ``360 / n_frames``.

    Returns:
        ``(cameras, camera_centres (n_frames, 3))``.
    """
    from ..cameras import FoVPerspectiveCameras, look_at_view_transform

    n_frames = check_positive_int("n_frames", n_frames)
    elevation = parse_real("elevation", elevation)
    fov = parse_real("fov", fov)
    if not 0 < fov < 180:
        raise ValueError(f"fov: expected an angle in (0, 180) degrees, found {fov}")
    if up not in ("y", "z"):
        raise ValueError(f"up: expected 'y' or 'z', found {up!r}")
    if distance is None:
        distance = 1.1 * radius / math.sin(math.radians(fov) / 2)
    distance = parse_real("distance", distance)
    if distance <= 0:
        raise ValueError(f"distance: expected a positive number, found {distance}")
    center = torch.as_tensor(center, dtype=torch.float32, device=device).reshape(3)
    az = torch.deg2rad(torch.arange(n_frames, dtype=torch.float64) * (360.0 / n_frames) + start_azimuth)
    el = math.radians(elevation)
    ce, se = math.cos(el), math.sin(el)
    if up == "y":  # azimuth 0 looks from +Z, as PyTorch3D's spherical angles
        offs = torch.stack([ce * torch.sin(az), torch.full_like(az, se), ce * torch.cos(az)], -1)
        up_v = (0.0, 1.0, 0.0)
    else:  # azimuth 0 looks from -Y (Blender's front view)
        offs = torch.stack([ce * torch.sin(az), -ce * torch.cos(az), torch.full_like(az, se)], -1)
        up_v = (0.0, 0.0, 1.0)
    eye = center.double() + distance * offs.to(device)
    R, T = look_at_view_transform(eye=eye.float(), at=center[None].expand(n_frames, 3), up=(up_v,), device=device)
    znear = max(1e-3, (distance - 1.5 * radius) * 0.5)
    zfar = distance + 4 * radius
    cams = FoVPerspectiveCameras(znear=znear, zfar=zfar, fov=fov, R=R, T=T, device=device)
    return cams, eye.float()


def _default_lights(eye: torch.Tensor, center: torch.Tensor, up: str) -> DirectionalLights:
    """Key light from above-left of each camera (moves with it)."""
    view = torch.nn.functional.normalize(eye - center, dim=1)
    up_v = torch.tensor([0.0, 1.0, 0.0] if up == "y" else [0.0, 0.0, 1.0], device=eye.device).expand_as(view)
    side = torch.nn.functional.normalize(torch.cross(up_v, view, dim=1), dim=1)
    direction = view + 0.6 * up_v - 0.4 * side
    return DirectionalLights(
        ambient_color=((0.38, 0.38, 0.38),),
        diffuse_color=((0.62, 0.62, 0.62),),
        specular_color=((0.18, 0.18, 0.18),),
        direction=direction,
        device=eye.device,
    )


def _mesh_textures(verts: torch.Tensor, colors, textures):
    if textures is not None:
        return as_textures(textures)
    if colors is None:
        colors = _DEFAULT_COLOR
    if isinstance(colors, torch.Tensor) and colors.dim() == 2:
        if colors.shape != (verts.shape[0], 3):
            raise ValueError(f"colors: expected shape ({verts.shape[0]}, 3) (one RGB per vertex) or 3 numbers, found {tuple(colors.shape)}")
        return TexturesVertex(colors.to(verts))
    c = as_batch_property("colors", colors, 3, dtype=verts.dtype, device=verts.device)
    if c.shape[0] != 1:
        raise ValueError(f"colors: expected 3 numbers or ({verts.shape[0]}, 3) per-vertex colours, found shape {tuple(c.shape)}")
    return TexturesVertex(c.expand(verts.shape[0], 3))


def _point_features(pts: torch.Tensor, cloud: PointClouds, colors) -> torch.Tensor:
    if colors is None:
        feats = cloud.features_list()
        if feats is not None and feats[0].shape[1] in (3, 4):
            return feats[0][:, :3].to(pts)
        colors = _DEFAULT_COLOR
    if isinstance(colors, torch.Tensor) and colors.dim() == 2:
        if colors.shape != (pts.shape[0], 3):
            raise ValueError(f"colors: expected shape ({pts.shape[0]}, 3) (one RGB per point) or 3 numbers, found {tuple(colors.shape)}")
        return colors.to(pts)
    c = as_batch_property("colors", colors, 3, dtype=pts.dtype, device=pts.device)
    if c.shape[0] != 1:
        raise ValueError(f"colors: expected 3 numbers or ({pts.shape[0]}, 3) per-point colours, found shape {tuple(c.shape)}")
    return c.expand(pts.shape[0], 3)


def turntable(
    obj,
    n_frames: int = 36,
    image_size: int = 256,
    elevation: float = 20.0,
    distance: float | None = None,
    *,
    fov: float = 40.0,
    up: str = "y",
    start_azimuth: float = 0.0,
    lights=None,
    materials: Materials | None = None,
    colors=None,
    textures=None,
    shader: str = "phong",
    background=(1.0, 1.0, 1.0),
    alpha: bool = False,
    point_radius: float | None = None,
    points_per_pixel: int = 8,
    cull_backfacing: bool = True,
    batch_size: int = 6,
) -> torch.Tensor:
    """Render ``obj`` from ``n_frames`` cameras evenly spaced around it.

    Args:
        obj: a ``Meshes`` or ``PointClouds`` holding one item, or a
            ``(verts (V, 3), faces (F, 3))`` tuple.
        n_frames: number of frames (azimuth step ``360 / n_frames``).
        image_size: ``S`` or ``(H, W)``.
        elevation: camera elevation in degrees.
        distance: camera distance; ``None`` frames the bounding sphere.
        fov: vertical field of view in degrees.
        up: ``"y"`` or ``"z"`` (Blender scenes).
        lights: lights (1 or ``n_frames`` in the batch); default: a
            directional key light that moves with the camera.
        materials: mesh materials (default: white, shininess 32).
        colors: 3 numbers, or per-vertex / per-point ``(V, 3)`` colours; point
            clouds default to their 3/4-channel features.
        textures: mesh ``TexturesVertex`` / ``TexturesUV`` (overrides ``colors``).
        shader: ``"phong"``, ``"gouraud"`` or ``"flat"`` (meshes).
        background: RGB of empty pixels.
        alpha: also return the coverage as a 4th channel.
        point_radius: NDC disk radius for point clouds (default: 3 x the mean nearest-neighbour
            spacing, :func:`point_spacing`, seen from the camera, within [3 px, 0.025]). Splats
            are composited by coverage (:func:`composite_splats`: no background speckles between
            them), and a pixel's points more than 4 splat radii behind its nearest are left out
            (the far side of a cloud does not show through).
        points_per_pixel: K for point clouds.
        cull_backfacing: for clouds with normals, skip points facing away
            from the camera (no far side showing through gaps).
        batch_size: frames rendered at once (bounds memory).

    Returns:
        ``(n_frames, H, W, 3)`` (or ``4`` with ``alpha``) float in [0, 1].
    """
    if isinstance(obj, tuple) and len(obj) == 2:
        obj = Meshes([obj[0]], [obj[1]])
    if not isinstance(obj, (Meshes, PointClouds)):
        raise ValueError(f"obj: expected Meshes, PointClouds or a (verts, faces) tuple, found {type(obj).__name__}")
    if len(obj) != 1:
        raise ValueError(f"obj: expected one mesh or point cloud, found a batch of {len(obj)}")
    if shader not in _SHADERS:
        raise ValueError(f"shader: expected one of {sorted(_SHADERS)}, found {shader!r}")
    batch_size = check_positive_int("batch_size", batch_size)
    is_mesh = isinstance(obj, Meshes)
    pts = obj.verts_list()[0] if is_mesh else obj.points_list()[0]
    device = pts.device
    bg = as_batch_property("background", background, 3, dtype=torch.float32, device=device)[0]
    center, radius = _bounding_sphere(pts.detach().float())
    cams, eye = turntable_cameras(center, radius, n_frames, elevation, distance, fov, up, start_azimuth, device)
    if lights is None:
        lights = _default_lights(eye, center, up)
    else:
        lights.check_batch(n_frames)
    H, W = parse_image_size(image_size)

    frames = []
    if is_mesh:
        verts, faces = obj.verts_list()[0], obj.faces_list()[0]
        tex = _mesh_textures(verts, colors, textures)
        if shader == "gouraud" and not isinstance(tex, TexturesVertex):
            raise ValueError("textures: the Gouraud shader needs per-vertex colours (TexturesVertex)")
        mats = materials if materials is not None else Materials(shininess=32.0, device=device)
        settings = RasterizationSettings(image_size=(H, W), blur_radius=0.0, faces_per_pixel=1)
        bp = BlendParams(background_color=bg)
        for s in range(0, n_frames, batch_size):
            b = min(batch_size, n_frames - s)
            cam_b = cams[list(range(s, s + b))]
            batch_tex = tex
            if isinstance(tex, TexturesVertex):
                batch_tex = TexturesVertex([tex.verts_features_list()[0]] * b)
            elif len(tex) == 1:
                batch_tex = tex.extend(b)
            renderer = MeshRenderer(
                MeshRasterizer(cameras=cam_b, raster_settings=settings),
                _SHADERS[shader](cameras=cam_b, lights=_slice_lights(lights, s, b), materials=mats, blend_params=bp),
            )
            with torch.no_grad():
                frames.append(renderer(Meshes([verts] * b, [faces] * b), textures=batch_tex))
        out = torch.cat(frames, 0)
    else:
        feats = _point_features(pts, obj, colors)
        feats = torch.cat([feats, torch.ones_like(feats[:, :1])], 1)  # coverage channel (depth is added per frame)
        if point_radius is None:  # splats that close the gaps between neighbouring points (no background speckles)
            cam_dist = float((eye[0] - center).norm())
            ndc_per_unit = 1.0 / (cam_dist * math.tan(math.radians(fov) / 2))
            point_radius = min(max(3.0 * point_spacing(pts.detach()) * ndc_per_unit, 3.0 / min(H, W)), 0.025)
        point_radius = parse_real("point_radius", point_radius)
        if point_radius < 0:
            raise ValueError(f"point_radius: expected a number >= 0, found {point_radius}")
        settings = PointsRasterizationSettings(image_size=(H, W), radius=point_radius, points_per_pixel=points_per_pixel)
        nrm = obj.normals_list()[0] if (cull_backfacing and obj.normals_list() is not None) else None
        # a splat's radius in world units at the object; points farther behind a pixel's nearest than a few
        # radii are another part of the surface (the far side of a cloud without normals): not composited
        world_radius = point_radius * float((eye[0] - center).norm()) * math.tan(math.radians(fov) / 2)
        window = _splat_window(H, W)
        # depths within a window of one surface differ by up to ~ its width (slopes up to ~60 degrees)
        tolerance = 4.0 * world_radius + 2.0 * window * world_radius / max(point_radius * min(H, W) / 2, 1e-9)
        for s in range(0, n_frames, batch_size):
            b = min(batch_size, n_frames - s)
            renderer = PointsRenderer(PointsRasterizer(cameras=cams[list(range(s, s + b))], raster_settings=settings), "alpha",
                                      depth_window=4.0 * world_radius)
            if nrm is None:
                keep = [slice(None)] * b
            else:  # drop points whose normal faces away from that frame's camera
                keep = [((eye[s + i] - pts) * nrm).sum(1) > 0 for i in range(b)]
            z = [(pts[keep[i]] @ cams.R[s + i] + cams.T[s + i])[:, 2:] for i in range(b)]  # view-space depth
            with torch.no_grad():
                img = renderer(PointClouds([pts[k] for k in keep]),
                               features=torch.cat([torch.cat([feats[k], zi], 1) for k, zi in zip(keep, z)]))
            # premultiplied over black: composited by coverage, gaps between splats filled, far side left out
            depth = img[..., 4] / img[..., 3].clamp_min(1e-6)
            frames.append(torch.stack([composite_splats(f[..., :4], bg, window, depth=d, depth_tolerance=tolerance,
                                                        with_coverage=True) for f, d in zip(img, depth)]))
        out = torch.cat(frames, 0)
    out = out.clamp(0, 1)
    return out if alpha else out[..., :3].contiguous()


def _slice_lights(lights, start: int, count: int):
    if len(lights) == 1:
        return lights
    return lights[start : start + count]


def save_turntable(path_gif, frames, png_dir=None, fps: float = 12.0, prefix: str = "frame") -> dict:
    """Write ``frames`` ``(N, H, W, 3|4)`` (floats in [0, 1]) as a GIF and optionally PNGs.

    The GIF gets the RGB channels (``turntable`` colours are already over
    their background, GIF has no alpha); PNGs keep all channels. PNGs are
    named ``{prefix}_000.png``, ... in ``png_dir`` (created).

    Returns:
        ``{"gif": path, "frames": [png paths]}``.
    """
    from ..io import save_gif, save_image

    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[-1] not in (3, 4) or frames.shape[0] == 0:
        found = f"shape {tuple(frames.shape)}" if hasattr(frames, "shape") else type(frames).__name__
        raise ValueError(f"frames: expected a non-empty (N, H, W, 3|4) tensor, found {found}")
    frames = frames.detach().cpu()
    if frames.is_floating_point():
        if not bool(torch.isfinite(frames).all()):
            raise ValueError("frames: expected finite values in [0, 1], found NaN or infinite entries")
        frames = frames.clamp(0, 1)
    path_gif = Path(path_gif)
    path_gif.parent.mkdir(parents=True, exist_ok=True)
    save_gif(path_gif, frames[..., :3], fps=fps)
    written = []
    if png_dir is not None:
        png_dir = Path(png_dir)
        png_dir.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(frames):
            p = png_dir / f"{prefix}_{i:03d}.png"
            save_image(p, f)
            written.append(p)
    return {"gif": path_gif, "frames": written}

"""Diffuse scenes lit as Blender lights them: meshes with base colours, sun and point lights, a world colour.

A :class:`Scene` holds world-space :class:`SceneMesh` es (a base colour, RGB or
per vertex, and optional normals), :class:`SceneSunLight` s, :class:`ScenePointLight` s
and a world colour. :func:`render_scene` rasterises it with
:class:`~unrender.render.MeshRasterizer` (all meshes joined into one mesh) and
shades every covered pixel as a Lambertian surface; :func:`compare_images`
measures how far two renders are apart (silhouette IoU, PSNR, the difference
image). The add-on's "Compare renders" converts a Blender scene into these
classes; nothing here imports ``bpy``.

Light units (Blender's), measured with Cycles in Blender 5.0.1: a 4 m white
Diffuse BSDF plane seen by an orthographic camera, film transparent, view
transform "Standard", 64-256 samples, pixels read back from a 32-bit OpenEXR
(linear). ``rho`` is the albedo, ``n`` the normal, radiance is what a pixel
stores:

* **Sun** of strength ``S`` (W/m^2, Blender's "Strength"): irradiance
  ``E = S max(0, n . -d)`` for light travelling along ``d`` (the sun object's
  local ``-Z``), radiance ``rho E / pi``. Measured: ``S = 1`` straight down
  gives 0.31831 (``1 / pi`` = 0.31831); ``S = 3`` at 60 degrees gives 0.477465
  (``1.5 / pi`` = 0.477465). The glTF exporter agrees (it writes the sun's
  W/m^2 unchanged as lux, times 683 lm/W). The sun's angular diameter
  changes nothing while the whole disc is above the horizon (a uniform cone
  of directions gives the same ``E``).
* **Point** light of power ``P`` (W) and radius ``r`` (``shadow_soft_size``):
  radiant intensity ``P / (4 pi)`` W/sr (the glTF exporter's conversion too),
  irradiance ``E = P / (4 pi) max(0, cos theta) / (rho2 + r^2)`` at squared
  distance ``rho2`` with "Soft Falloff" on (Blender's default), and
  ``/ rho2`` with it off (an exact sphere light above the horizon).
  Measured with ``P = 100`` at heights 1.2-5 above the plane, ``r`` in
  {0, 0.25, 1}, over the whole visible plane (off-centre light): the ratio of
  the render to the formula is 0.9999 +- 0.0008 (soft falloff, ``r = 1``,
  height 2), 0.9999 +- 0.0011 (no soft falloff) and 0.9990 for ``r = 0``; the
  plain inverse square law is off by up to 40 % with soft falloff at
  ``r / rho = 0.8``.
* **World** colour ``C`` (Background colour x strength, or ``World.color``):
  a uniform environment of radiance ``C``, so an unoccluded diffuse surface
  sees irradiance ``pi C`` and returns ``rho C``. Measured: a world of
  ``(0.5, 0.25, 0.1) x 2`` gives ``(1.0, 0.5, 0.2)`` on the white plane. On a
  real object part of that sky is hidden by the object itself and its
  neighbours (ambient occlusion); unrender ignores that, so concave objects
  render brighter than in Cycles.

A light's colour multiplies its strength; Blender's light ``exposure`` is a
factor ``2^exposure`` (as the glTF exporter reads it; the add-on folds it
into the strength).

What is not modelled: shadows, inter-reflections, specular reflection (a
Principled BSDF's specular layer), textures, spot and area lights.

Anti-aliasing: Blender's engines weight the samples around each pixel
centre with a pixel filter, which :func:`render_scene` repeats on
``antialias x antialias`` regular samples per pixel (normalised over the
samples inside the image; Blender also samples outside the border, so the
outermost pixel ring differs slightly):

* Cycles: Blackman-Harris, separable (one offset per axis), over ``[-w, w]``
  on each axis for the film's filter width ``w`` (1.5 px by default;
  ``filter_table`` in Cycles' ``film.cpp`` doubles the width for this
  filter). Measured: the alpha of an edge stepped across a pixel in 17
  offsets (1024 samples) follows it to rms 0.007;
* EEVEE: a radial Gaussian "fitted to Blackman-Harris", sigma ``0.284 w``,
  cut at ``w`` = ``render.filter_size`` (``film_filter_weight``);
* Workbench: a fixed filter over its 8-32 jittered TAA samples, whatever
  the filter size. Its code weights samples with a radial Blackman-Harris
  (``setup_taa_weights``); measured, a straight edge stepped across a pixel
  in 17 offsets follows a radius of 1.5 px (rms 0.035 in alpha with 32
  samples, 0.069 for 1 px), unchanged by ``render.filter_size`` 0.75 or 3.
  The few TAA samples make Workbench edges jagged at the 0.1-0.3 level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import check_finite, parse_real
from ..screen import parse_image_size
from .mesh import MeshRasterizer, RasterizationSettings

__all__ = [
    "SceneMesh",
    "SceneSunLight",
    "ScenePointLight",
    "Scene",
    "render_scene",
    "compare_images",
    "linear_to_srgb",
    "srgb_to_linear",
]

_BH = (0.35875, 0.48829, 0.14128, 0.01168)  # Blackman-Harris coefficients (as Cycles' film filter)


# ----------------------------------------------------------------------------- scene description
@dataclass
class SceneMesh:
    """One world-space triangle mesh and its diffuse colour.

    Attributes:
        verts: ``(V, 3)`` float world coordinates.
        faces: ``(F, 3)`` int64 vertex indices (counter-clockwise seen from
            the front, as Blender's loop triangles).
        color: base colour (linear RGB, the albedo): ``(3,)`` for the whole
            mesh, ``(V, 3)`` per vertex or ``(F, 3, 3)`` per face corner
            (several materials, corner colour attributes).
        normals: ``None`` for flat shading (each face's own normal), ``(V, 3)``
            per-vertex or ``(F, 3, 3)`` per face corner (Blender's corner
            normals: smooth, flat and sharp edges as Blender shades them).
        name: used in error messages.
    """

    verts: Any
    faces: Any
    color: Any = (0.8, 0.8, 0.8)
    normals: Any = None
    name: str = "mesh"


@dataclass
class SceneSunLight:
    """A sun: parallel light travelling along ``direction`` (``(3,)``, any length > 0).

    ``strength`` is Blender's, an irradiance in W/m^2; ``color`` ``(3,)``
    linear RGB multiplies it.
    """

    direction: Any = (0.0, 0.0, -1.0)
    color: Any = (1.0, 1.0, 1.0)
    strength: float = 1.0


@dataclass
class ScenePointLight:
    """A point (sphere) light at ``location`` ``(3,)``.

    ``power`` is Blender's, in W (radiant intensity ``power / 4 pi`` W/sr);
    ``color`` ``(3,)`` multiplies it; ``radius`` is Blender's
    ``shadow_soft_size``, which with ``soft_falloff`` (Blender's default)
    turns ``1 / d^2`` into ``1 / (d^2 + radius^2)``.
    """

    location: Any = (0.0, 0.0, 0.0)
    color: Any = (1.0, 1.0, 1.0)
    power: float = 1000.0
    radius: float = 0.0
    soft_falloff: bool = True


@dataclass
class Scene:
    """Meshes, lights and a world colour (``(3,)`` linear RGB: background radiance and ambient light)."""

    meshes: Sequence[SceneMesh] = field(default_factory=list)
    lights: Sequence[Union[SceneSunLight, ScenePointLight]] = field(default_factory=list)
    world_color: Any = (0.0, 0.0, 0.0)


# ----------------------------------------------------------------------------- validation
def _tensor(name: str, x, dtype, device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected numbers, found {type(x).__name__}") from None
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name}: expected real numbers, found dtype {t.dtype}")
    return check_finite(name, t.to(device=device, dtype=dtype))


def _vec3(name: str, x, dtype, device) -> torch.Tensor:
    t = _tensor(name, x, dtype, device)
    if t.shape != (3,):
        raise ValueError(f"{name}: expected 3 numbers, found shape {tuple(t.shape)}")
    return t


def _non_negative(name: str, x) -> float:
    v = parse_real(name, x)
    if v < 0:
        raise ValueError(f"{name}: expected a number >= 0, found {v}")
    return v


@dataclass
class _Packed:
    """A scene as flat tensors: one joined mesh and stacked light parameters."""

    verts: torch.Tensor  # (V, 3)
    faces: torch.Tensor  # (F, 3) int64
    corner_normals: torch.Tensor  # (F, 3, 3), not normalised
    corner_colors: torch.Tensor  # (F, 3, 3)
    sun_dirs: torch.Tensor  # (S, 3) unit, towards the sun
    sun_irradiance: torch.Tensor  # (S, 3) W/m^2 per channel
    point_locs: torch.Tensor  # (P, 3)
    point_intensity: torch.Tensor  # (P, 3) W/sr per channel
    point_r2: torch.Tensor  # (P,) radius^2 added to d^2 (0 without soft falloff)
    world: torch.Tensor  # (3,)


def _pack_mesh(i: int, m, dtype, device):
    if not isinstance(m, SceneMesh):
        raise ValueError(f"scene.meshes[{i}]: expected a SceneMesh, found {type(m).__name__}")
    label = f"scene.meshes[{i}] ({m.name!r})"
    verts = _tensor(f"{label}.verts", m.verts, dtype, device)
    if verts.dim() != 2 or verts.shape[1] != 3:
        raise ValueError(f"{label}.verts: expected shape (V, 3), found {tuple(verts.shape)}")
    faces = m.faces if isinstance(m.faces, torch.Tensor) else torch.as_tensor(np.asarray(m.faces))
    if faces.is_floating_point() or faces.dtype == torch.bool or faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"{label}.faces: expected an integer (F, 3) tensor, found {tuple(faces.shape)} {faces.dtype}")
    faces = faces.to(device=device, dtype=torch.int64)
    V = verts.shape[0]
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= V):
        raise ValueError(f"{label}.faces: expected indices in [0, {V - 1}], "
                         f"found [{int(faces.min())}, {int(faces.max())}]")
    color = _tensor(f"{label}.color", m.color, dtype, device)
    if color.shape == (3,):
        corner_colors = color.expand(faces.shape[0], 3, 3)
    elif color.shape == (V, 3):
        corner_colors = color[faces]
    elif color.shape == (faces.shape[0], 3, 3):
        corner_colors = color
    else:
        raise ValueError(f"{label}.color: expected shape (3,), (V={V}, 3) or (F={faces.shape[0]}, 3, 3), "
                         f"found {tuple(color.shape)}")
    fv = verts[faces]  # (F, 3, 3)
    if m.normals is None:
        n = torch.linalg.cross(fv[:, 1] - fv[:, 0], fv[:, 2] - fv[:, 0])
        corner_normals = n[:, None].expand(-1, 3, 3)
    else:
        normals = _tensor(f"{label}.normals", m.normals, dtype, device)
        if normals.shape == (V, 3):
            corner_normals = normals[faces]
        elif normals.shape == (faces.shape[0], 3, 3):
            corner_normals = normals
        else:
            raise ValueError(f"{label}.normals: expected None, shape (V={V}, 3) or (F={faces.shape[0]}, 3, 3), "
                             f"found {tuple(normals.shape)}")
    return verts, faces, corner_normals, corner_colors


def _pack(scene: Scene, dtype, device) -> _Packed:
    if not isinstance(scene, Scene):
        raise ValueError(f"scene: expected a Scene, found {type(scene).__name__}")
    verts, faces, normals, colors = [], [], [], []
    offset = 0
    for i, m in enumerate(scene.meshes):
        v, f, n, c = _pack_mesh(i, m, dtype, device)
        verts.append(v)
        faces.append(f + offset)
        normals.append(n)
        colors.append(c)
        offset += v.shape[0]
    z3 = torch.zeros(0, 3, dtype=dtype, device=device)
    sun_dirs, sun_irr, p_loc, p_int, p_r2 = [], [], [], [], []
    for i, light in enumerate(scene.lights):
        label = f"scene.lights[{i}]"
        if isinstance(light, SceneSunLight):
            d = _vec3(f"{label}.direction", light.direction, dtype, device)
            if float(d.norm()) < 1e-12:
                raise ValueError(f"{label}.direction: expected a non-zero vector, found {d.tolist()}")
            sun_dirs.append(-d / d.norm())
            sun_irr.append(_vec3(f"{label}.color", light.color, dtype, device)
                           * _non_negative(f"{label}.strength", light.strength))
        elif isinstance(light, ScenePointLight):
            p_loc.append(_vec3(f"{label}.location", light.location, dtype, device))
            power = _non_negative(f"{label}.power", light.power)
            p_int.append(_vec3(f"{label}.color", light.color, dtype, device) * (power / (4 * math.pi)))
            r = _non_negative(f"{label}.radius", light.radius)
            p_r2.append(r * r if light.soft_falloff else 0.0)
        else:
            raise ValueError(f"{label}: expected a SceneSunLight or a ScenePointLight, found {type(light).__name__}")
    world = _vec3("scene.world_color", scene.world_color, dtype, device)
    return _Packed(
        verts=torch.cat(verts) if verts else z3,
        faces=torch.cat(faces) if faces else torch.zeros(0, 3, dtype=torch.int64, device=device),
        corner_normals=torch.cat(normals) if normals else z3.view(0, 3, 3),
        corner_colors=torch.cat(colors) if colors else z3.view(0, 3, 3),
        sun_dirs=torch.stack(sun_dirs) if sun_dirs else z3,
        sun_irradiance=torch.stack(sun_irr) if sun_irr else z3,
        point_locs=torch.stack(p_loc) if p_loc else z3,
        point_intensity=torch.stack(p_int) if p_int else z3,
        point_r2=torch.tensor(p_r2, dtype=dtype, device=device),
        world=world,
    )


# ----------------------------------------------------------------------------- shading
def _irradiance(p: torch.Tensor, n: torch.Tensor, s: _Packed) -> torch.Tensor:
    """Direct irradiance ``(M, 3)`` at points ``p`` ``(M, 3)`` with unit normals ``n`` ``(M, 3)``."""
    E = (n @ s.sun_dirs.T).clamp_min(0) @ s.sun_irradiance  # (M, S) @ (S, 3)
    if s.point_locs.shape[0]:
        to_light = s.point_locs[None] - p[:, None]  # (M, P, 3)
        d2 = (to_light * to_light).sum(-1)  # (M, P)
        cos = ((n[:, None] * to_light).sum(-1) / d2.sqrt().clamp_min(1e-12)).clamp_min(0)
        E = E + (cos / (d2 + s.point_r2).clamp_min(1e-12)) @ s.point_intensity
    return E


def _view_dirs(cameras, cam_idx: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Directions ``(M, 3)`` from points ``p`` ``(M, 3)`` towards the camera ``cam_idx`` ``(M,)`` that sees them."""
    R = cameras.R.to(p.dtype)
    if cameras.is_perspective():
        return cameras.get_camera_center().to(p.dtype)[cam_idx] - p
    return -R[cam_idx, :, 2]  # view +Z (forward) is the third column of R (X_view = X_world R + T)


def _shade(fragments, s: _Packed, cameras, shading: str, N: int, shape) -> torch.Tensor:
    """Premultiplied RGBA ``(N, H, W, 4)`` of the nearest face per pixel (alpha 1 where covered)."""
    p2f = fragments.pix_to_face[..., 0].reshape(-1)
    sel = torch.nonzero(p2f >= 0).squeeze(1)
    F_ = s.faces.shape[0]
    face = p2f[sel] % F_  # the same joined mesh is repeated once per camera
    bary = fragments.bary_coords[..., 0, :].reshape(-1, 3)[sel].to(s.verts.dtype)  # (M, 3)

    def interp(corner: torch.Tensor) -> torch.Tensor:  # (F, 3, D) -> (M, D)
        c = corner[face]
        return c[:, 0] * bary[:, 0:1] + c[:, 1] * bary[:, 1:2] + c[:, 2] * bary[:, 2:3]

    albedo = interp(s.corner_colors)
    if shading == "unlit":
        rgb = albedo
    else:
        p = interp(s.verts[s.faces])
        n = torch.nn.functional.normalize(interp(s.corner_normals), dim=-1, eps=1e-12)
        cam = torch.div(sel, shape[0] * shape[1], rounding_mode="floor")
        facing = (n * _view_dirs(cameras, cam, p)).sum(-1, keepdim=True)
        n = torch.where(facing < 0, -n, n)  # Blender shades a back face with its normal flipped
        rgb = albedo * (_irradiance(p, n, s) / math.pi + s.world)
    out = torch.zeros(N * shape[0] * shape[1], 4, dtype=rgb.dtype, device=rgb.device)
    out[sel, :3] = rgb
    out[sel, 3] = 1.0
    return out.view(N, shape[0], shape[1], 4)


# ----------------------------------------------------------------------------- pixel filter
PIXEL_FILTERS = ("box", "blackman_harris", "blackman_harris_radial", "gaussian")


def _blackman_harris(t: torch.Tensor, width: float) -> torch.Tensor:
    """The Blackman-Harris window spanning ``[-width, width]`` at offsets ``t``."""
    u = 2 * math.pi * (t / (2 * width) + 0.5)
    a0, a1, a2, a3 = _BH
    return a0 - a1 * torch.cos(u) + a2 * torch.cos(2 * u) - a3 * torch.cos(3 * u)


def _filter_kernel(ss: int, kind: str, width: float) -> tuple[int, torch.Tensor]:
    """First sub-sample offset ``j0`` and ``(K, K)`` float64 weights of the pixel filter.

    Sub-sample ``j`` (counted from the pixel's first sub-sample along an axis)
    has its centre ``(j + 0.5) / ss - 0.5`` pixels from the pixel centre.
    """
    if kind == "box":
        return 0, torch.ones(ss, ss, dtype=torch.float64)
    r = int(math.ceil(width * ss)) + ss
    j = torch.arange(-r, r + ss, dtype=torch.float64)
    t = (j + 0.5) / ss - 0.5
    keep = t.abs() < width
    j, t = j[keep], t[keep]
    ty, tx = t[:, None], t[None, :]
    d2 = ty * ty + tx * tx
    if kind == "blackman_harris":  # separable, as Cycles' filter table (one offset per axis)
        w = _blackman_harris(ty, width) * _blackman_harris(tx, width)
    elif kind == "blackman_harris_radial":  # Workbench: of the distance to the pixel centre
        w = torch.where(d2 < width * width, _blackman_harris(d2.sqrt(), width), torch.zeros_like(d2))
    else:  # EEVEE: a Gaussian fitted to Blackman-Harris, sigma = 0.284 radius, cut at the radius
        w = torch.where(d2 < width * width, torch.exp(-0.5 * d2 / (0.284 * width) ** 2), torch.zeros_like(d2))
    return int(j[0]), w


def _downsample(img: torch.Tensor, ss: int, kind: str, width: float) -> torch.Tensor:
    """``(N, ss H, ss W, C)`` samples -> ``(N, H, W, C)`` filtered pixels.

    The weights are renormalised over the samples inside the image (at the border).
    """
    if ss == 1 and kind == "box":
        return img
    N, Hs, Ws, C = img.shape
    H, W = Hs // ss, Ws // ss
    j0, w = _filter_kernel(ss, kind, width)
    K = w.shape[0]
    kernel = w.to(img.dtype).to(img.device).view(1, 1, K, K)
    left = max(0, -j0)
    start = j0 + left  # first tap of output pixel 0 in the padded samples
    pad_h = (left, max(0, ss * (H - 1) + j0 + K - Hs))
    pad_w = (left, max(0, ss * (W - 1) + j0 + K - Ws))

    def run(x):  # (B, 1, Hs, Ws) -> (B, 1, H, W)
        x = F.pad(x, pad_w + pad_h)[:, :, start:, start:]
        return F.conv2d(x, kernel, stride=ss)[:, :, :H, :W]

    x = img.permute(0, 3, 1, 2).reshape(N * C, 1, Hs, Ws)
    total = run(torch.ones(1, 1, Hs, Ws, dtype=img.dtype, device=img.device))
    out = run(x) / total.clamp_min(1e-30)
    return out.reshape(N, C, H, W).permute(0, 2, 3, 1).contiguous()


# ----------------------------------------------------------------------------- rendering
def render_scene(
    scene: Scene,
    cameras,
    image_size=None,
    *,
    shading: str = "lit",
    background: str = "world",
    antialias: int = 1,
    pixel_filter: str = "box",
    filter_width: float = 1.5,
    clip_range: tuple[float, float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Render a :class:`Scene` with Lambertian shading -> linear RGBA ``(N, H, W, 4)``.

    Args:
        scene: meshes, lights and world colour (see the module docstring for
            the light units, which are Blender's).
        cameras: ``N`` unrender cameras (e.g. from
            :func:`unrender.cameras.cameras_from_blender`); each renders the
            whole scene.
        image_size: ``S`` or ``(H, W)``; defaults to the cameras'
            ``image_size``.
        shading: ``"lit"``: ``albedo * (E / pi + world)`` with ``E`` the
            direct irradiance of the lights (no shadows); ``"unlit"``: the
            albedo itself (what Blender's Workbench shows with flat lighting
            and material colours).
        background: ``"world"``: uncovered pixels show the world colour and
            alpha is 1; ``"transparent"``: colours are premultiplied by the
            coverage alpha (a transparent film's render).
        antialias: ``A``: ``A x A`` samples per pixel, on a regular grid.
        pixel_filter: how samples become pixels: ``"box"``: each pixel
            averages its own samples (with ``antialias = 1``: one sample at
            the pixel centre, the rasteriser's silhouette); Blender's filters
            of radius ``filter_width`` pixels: ``"blackman_harris"``
            (Cycles: separable, over ``[-w, w]`` on each axis, ``w`` =
            ``cycles.filter_width``), ``"gaussian"`` (EEVEE: radial Gaussian
            with sigma ``0.284 w``, cut at ``w`` = ``render.filter_size``),
            ``"blackman_harris_radial"`` (Workbench: of the distance to the
            pixel centre, ``w = 1.5``).
        filter_width: the filter radius ``w`` in pixels (not used by ``"box"``).
        clip_range: ``(clip_start, clip_end)`` view depths outside which
            surfaces are not drawn (a Blender camera's clipping); ``None``: no
            clipping.
        dtype: floating dtype of the shading.
    Returns:
        ``(N, H, W, 4)`` linear RGB (scene-referred radiance) and alpha, on
        the cameras' device. A reference render: no gradients flow back.
    """
    if shading not in ("lit", "unlit"):
        raise ValueError(f"shading: expected 'lit' or 'unlit', found {shading!r}")
    if background not in ("world", "transparent"):
        raise ValueError(f"background: expected 'world' or 'transparent', found {background!r}")
    if isinstance(antialias, bool) or not isinstance(antialias, int) or not 1 <= antialias <= 16:
        raise ValueError(f"antialias: expected an int in [1, 16], found {antialias!r}")
    if pixel_filter not in PIXEL_FILTERS:
        raise ValueError(f"pixel_filter: expected one of {PIXEL_FILTERS}, found {pixel_filter!r}")
    width = parse_real("filter_width", filter_width)
    if pixel_filter != "box" and not 0 < width <= 16:
        raise ValueError(f"filter_width: expected a radius in (0, 16] pixels, found {width}")
    if not hasattr(cameras, "is_perspective") or not hasattr(cameras, "R"):
        raise ValueError(f"cameras: expected unrender cameras, found {type(cameras).__name__}")
    if image_size is None:
        size = cameras.get_image_size()
        if size is None:
            raise ValueError("image_size: expected (H, W) (the cameras carry none), found None")
        if size.shape[0] > 1 and not bool((size == size[:1]).all()):
            raise ValueError(f"image_size: expected one (H, W) for all cameras, found {size.tolist()}")
        image_size = tuple(int(v) for v in size[0])
    H, W = parse_image_size(image_size)
    near = far = None
    if clip_range is not None:
        if not isinstance(clip_range, (tuple, list)) or len(clip_range) != 2:
            raise ValueError(f"clip_range: expected (clip_start, clip_end), found {clip_range!r}")
        near, far = (parse_real("clip_range", v) for v in clip_range)
        if not 0 <= near < far:
            raise ValueError(f"clip_range: expected 0 <= clip_start < clip_end, found ({near}, {far})")
    device = cameras.R.device
    s = _pack(scene, dtype, device)
    N = len(cameras)
    ss = antialias
    shape = (ss * H, ss * W)
    if s.faces.shape[0] == 0:
        samples = torch.zeros(N, *shape, 4, dtype=dtype, device=device)
    else:
        from ..structures import Meshes

        meshes = Meshes([s.verts] * N, [s.faces] * N)
        settings = RasterizationSettings(image_size=shape, faces_per_pixel=1, z_clip_value=near or None)
        with torch.no_grad():
            fragments = MeshRasterizer(cameras, settings)(meshes)
            if far is not None:  # the nearest surface lies beyond clip_end: so does everything it hides
                fragments.pix_to_face.masked_fill_(fragments.zbuf > far, -1)
            samples = _shade(fragments, s, cameras, shading, N, shape)
    image = _downsample(samples, ss, pixel_filter, width)
    if background == "world":
        alpha = image[..., 3:]
        image = torch.cat([image[..., :3] + (1 - alpha) * s.world, torch.ones_like(alpha)], -1)
    return image


# ----------------------------------------------------------------------------- comparing
def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear values -> sRGB-encoded display values (clipped to [0, 1]; Blender's "Standard" view)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values in [0, 1] -> linear values."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _rgba(name: str, x) -> torch.Tensor:
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name}: expected an (H, W, 4) tensor or array, found {type(x).__name__}")
    if t.dim() != 3 or t.shape[-1] not in (3, 4) or not t.is_floating_point():
        raise ValueError(f"{name}: expected a float (H, W, 4) RGBA or (H, W, 3) RGB image, "
                         f"found {tuple(t.shape)} {t.dtype}")
    t = check_finite(name, t.detach().double())
    if t.shape[-1] == 3:
        t = torch.cat([t, torch.ones_like(t[..., :1])], -1)
    return t


def compare_images(reference, ours, *, threshold: float = 0.5, region: str = "union") -> dict:
    """How far render ``ours`` is from ``reference``.

    Both are linear RGBA with premultiplied colour (a transparent film's
    render; an RGB image counts as opaque). Colours are compared as displayed:
    composited over black, clipped to [0, 1] and sRGB-encoded.

    Args:
        reference, ours: ``(H, W, 4)`` (or ``(H, W, 3)``) float tensors or arrays.
        threshold: a pixel belongs to a silhouette where alpha ``> threshold``.
        region: ``"union"``: PSNR and mean difference over the union of both
            silhouettes (a background that both leave empty does not inflate
            the PSNR); ``"image"``: over every pixel.
    Returns:
        dict: ``"iou"`` silhouette IoU (1 for two empty silhouettes),
        ``"psnr"`` in dB (``inf`` for identical colours), ``"max_abs_diff"``
        and ``"mean_abs_diff"`` of the display colours (0..1, over the region),
        ``"pixels"`` the number of pixels in the region, ``"difference"`` the
        ``(H, W, 3)`` float32 absolute difference of the display colours.
    """
    from ..metrics import psnr, silhouette_iou

    ref, our = _rgba("reference", reference), _rgba("ours", ours)
    if ref.shape[:2] != our.shape[:2]:
        raise ValueError(f"ours: expected the size of reference {tuple(ref.shape[:2])}, found {tuple(our.shape[:2])}")
    t = parse_real("threshold", threshold)
    if not 0 <= t < 1:
        raise ValueError(f"threshold: expected a number in [0, 1), found {t}")
    if region not in ("union", "image"):
        raise ValueError(f"region: expected 'union' or 'image', found {region!r}")
    iou = float(silhouette_iou(our[..., 3], ref[..., 3], threshold=t))
    a, b = linear_to_srgb(ref[..., :3]), linear_to_srgb(our[..., :3])
    diff = (a - b).abs()
    if region == "union":
        mask = (ref[..., 3] > t) | (our[..., 3] > t)
    else:
        mask = torch.ones_like(diff[..., 0], dtype=torch.bool)
    n = int(mask.sum())
    return {
        "iou": iou,
        "psnr": float(psnr(b, a, mask=mask)) if n else float("inf"),
        "max_abs_diff": float(diff[mask].max()) if n else 0.0,
        "mean_abs_diff": float(diff[mask].mean()) if n else 0.0,
        "pixels": n,
        "difference": diff.float(),
    }

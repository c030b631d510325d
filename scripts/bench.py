#!/usr/bin/env python
"""Benchmark unrender against PyTorch3D, side by side, and print a markdown table.

Every (case, implementation) pair runs in its own subprocess so that the peak
memory column is the peak resident-set increase of that operation alone:
``ru_maxrss`` after the timed runs minus the resident size once the inputs
exist (on Linux the high-water mark is restarted there through
``/proc/self/clear_refs``; on CUDA, ``torch.cuda.max_memory_allocated`` minus
the allocation before). Times are the median of several repeats after one
warm-up.

    python scripts/bench.py                  # every case, full sizes
    python scripts/bench.py --quick          # small sizes, a smoke test
    python scripts/bench.py --only chamfer   # cases whose name contains "chamfer"
    python scripts/bench.py --device cuda

``--contention`` times the deform-mesh and estimate-pose rows (unrender only)
on a quiet machine and with two busy processes started by the bench (one per
core of a 2-core machine), with torch on every core and with unrender's
automatic thread count (``threads=0``), and prints the slow-down.

    python scripts/bench.py --contention --quick

A second table times nearest neighbours and chamfer against SciPy's
``cKDTree`` (build + query, 2 workers) on the CPU, and a third the body model
against ``smplx`` (``pip install smplx``; its ``SMPL`` class on the same
arrays): both sides in one subprocess per row, interleaved, so a busy machine
slows both alike.

Adding a row = appending a ``Case`` to ``CASES``: give it a name, the labels
and a ``make(impl, quick, device)`` that builds the inputs and returns the
callable to time (and optionally a cheaper warm-up callable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

from unrender.threads import usable_cores, using_threads

IMPLS = ("unrender", "pytorch3d")
THREADS = None  # --threads of a worker: torch threads for the timed calls (0: auto), None: torch's default
CONTENTION_CASES = ("deform_mesh", "estimate_pose")


# ----------------------------------------------------------------- cases
@dataclass
class Case:
    """One table row.

    ``make(impl, quick, device)`` returns ``run`` or ``(run, warmup)``: ``run``
    performs the operation once (inputs already built); ``warmup`` defaults
    to ``run``. It may raise ``ImportError`` when ``impl`` is unavailable.
    """

    name: str
    operation: str
    size: str
    quick_size: str
    make: Callable[[str, bool, torch.device], object]
    repeats: int = 5
    ref_repeats: int | None = None  # PyTorch3D repeats when it is very slow
    ref_scale: float = 1.0  # the reference column's time is multiplied by this (a reference run on fewer points)


def _gen(seed: int, device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _make_chamfer(impl, quick, device):
    n = 1000 if quick else 10_000
    g = _gen(0, device)
    x = torch.randn(1, n, 3, generator=g, device=device).requires_grad_()
    y = torch.randn(1, n, 3, generator=g, device=device).requires_grad_()
    if impl == "unrender":
        from unrender.losses import chamfer_distance
    else:
        from pytorch3d.loss import chamfer_distance

    def run():
        loss, _ = chamfer_distance(x, y)
        loss.backward()
        x.grad = y.grad = None

    return run


def _make_sampling(impl, quick, device):
    from unrender.geometry.primitives import icosphere

    level, n = (3, 1000) if quick else (5, 10_000)
    mesh = icosphere(level, device=device)
    if impl == "unrender":
        from unrender.geometry.sampling import sample_points_from_meshes

        return lambda: sample_points_from_meshes(mesh, n)
    from pytorch3d.ops import sample_points_from_meshes
    from pytorch3d.structures import Meshes

    ref = Meshes(verts=mesh.verts_list(), faces=mesh.faces_list())
    return lambda: sample_points_from_meshes(ref, n)


def _make_knn(impl, quick, device):
    n = 20_000 if quick else 200_000
    g = _gen(0, device)
    # Two independent uniform clouds in a cube: a volume (not a surface) is
    # the harder case for unrender's block pruning.
    p1 = torch.rand(1, n, 3, generator=g, device=device)
    p2 = torch.rand(1, n, 3, generator=g, device=device)
    small = (p1[:, :2000].clone(), p2[:, :2000].clone())
    if impl == "unrender":
        from unrender.ops import knn_points
    else:
        from pytorch3d.ops import knn_points

    def run():
        with torch.no_grad():
            knn_points(p1, p2, K=1)

    def warmup():
        with torch.no_grad():
            knn_points(*small, K=1)

    return run, warmup


def _make_mesh_losses(impl, quick, device):
    from unrender.geometry.primitives import icosphere

    mesh = icosphere(2 if quick else 4, device=device)
    deform = torch.zeros_like(mesh.verts_packed(), requires_grad=True)
    if impl == "unrender":
        from unrender.losses import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency

        src = mesh
    else:
        from pytorch3d.loss import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
        from pytorch3d.structures import Meshes

        src = Meshes(verts=mesh.verts_list(), faces=mesh.faces_list())

    def run():
        # One step of a deformation loop: new vertices, three regularisers, backward.
        m = src.offset_verts(deform)
        loss = mesh_laplacian_smoothing(m, "uniform") + mesh_normal_consistency(m) + mesh_edge_loss(m)
        loss.backward()
        deform.grad = None

    return run


def _ndc_icosphere(level: int, device):
    """Unit icosphere seen by a 60-degree perspective camera 2.7 units away:
    ``(verts (V, 3) with x, y in NDC and z the view depth, faces (F, 3))``, the
    input of a mesh rasteriser (the same for both implementations)."""
    from unrender.geometry.primitives import icosphere_verts_faces

    v, f = icosphere_verts_faces(level, device=device)
    c, s = math.cos(0.4), math.sin(0.4)
    rot = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], device=device)
    view = v @ rot.T + torch.tensor([0.0, 0.0, 2.7], device=device)
    focal = 1.0 / math.tan(math.radians(30.0))
    # +X left in NDC (PyTorch3D's convention): x_ndc = -focal * x / z.
    ndc = torch.stack([-focal * view[:, 0] / view[:, 2], focal * view[:, 1] / view[:, 2], view[:, 2]], 1)
    return ndc, f


def _raster_impl(impl):
    """``(rasterize_meshes, Meshes)`` of ``impl``; PyTorch3D runs its naive CPU
    kernel (``bin_size=0``, what its CPU default picks)."""
    if impl == "unrender":
        from unrender.render import rasterize_meshes
        from unrender.structures import Meshes

        return rasterize_meshes, Meshes
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    return (lambda *a, **k: rasterize_meshes(*a, bin_size=0, **k)), Meshes


def _make_raster_hard(impl, quick, device):
    level, size = (3, 128) if quick else (5, 512)
    verts, faces = _ndc_icosphere(level, device)
    raster, meshes = _raster_impl(impl)
    m = meshes([verts], [faces])

    def run():
        with torch.no_grad():
            raster(m, size, 0.0, 1, perspective_correct=True)

    return run


def _soft_silhouette_step(impl, level, size, device):
    # SoftRas silhouette of the PyTorch3D mesh-fitting tutorial: sigma 1e-4,
    # K = 50, blur where sigmoid(-d / sigma) drops to 1e-4; loss against a
    # target silhouette of a smaller sphere, then backward to the offsets.
    sigma = 1e-4
    blur = math.log(1.0 / 1e-4 - 1.0) * sigma
    verts, faces = _ndc_icosphere(level, device)
    raster, meshes = _raster_impl(impl)
    deform = torch.zeros_like(verts, requires_grad=True)
    target = (torch.arange(size, device=device) - size / 2).abs() < size / 4
    target = (target[:, None] & target[None, :]).float()

    def run():
        out = raster(meshes([verts + deform], [faces]), size, blur, 50, clip_barycentric_coords=True)
        p2f, dists = (out.pix_to_face, out.dists) if hasattr(out, "dists") else (out[0], out[3])
        prob = torch.sigmoid(-dists / sigma) * (p2f >= 0)
        alpha = 1.0 - torch.prod(1.0 - prob, dim=-1)
        ((alpha[0] - target) ** 2).mean().backward()
        deform.grad = None

    return run


def _make_soft_silhouette(impl, quick, device):
    return _soft_silhouette_step(impl, 2 if quick else 3, 64 if quick else 256, device)


def _make_soft_memory(impl, quick, device):
    # unrender only: PyTorch3D's naive CPU kernel needs minutes per run here
    # (about 430 s on a 2-core laptop-class CPU).
    if impl != "unrender" and not quick:
        raise ImportError("skipped for this row (minutes per run)")
    run = _soft_silhouette_step(impl, 3 if quick else 5, 128 if quick else 512, device)
    return run, _soft_silhouette_step(impl, 1, 32, device)



def _make_phong_render(impl, quick, device):
    # Full renderer: camera transform, hard rasterisation (K = 1), per-pixel
    # Phong with per-vertex colours and a point light.
    from unrender.geometry.primitives import icosphere

    level, size = (3, 128) if quick else (5, 512)
    mesh = icosphere(level, device=device)
    v, f = mesh.verts_packed(), mesh.faces_packed()
    cols = v * 0.5 + 0.5
    light = [[2.0, 2.0, 3.0]]
    if impl == "unrender":
        import unrender.render as R
        from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform

        rot, tr = look_at_view_transform(2.7, 20.0, 30.0, device=device)
        cams = FoVPerspectiveCameras(R=rot, T=tr, device=device)
        meshes, tex = mesh, R.TexturesVertex([cols])
        kw = {"textures": tex}
    else:
        import pytorch3d.renderer as R
        from pytorch3d.structures import Meshes

        rot, tr = R.look_at_view_transform(2.7, 20.0, 30.0, device=device)
        cams = R.FoVPerspectiveCameras(R=rot, T=tr, device=device)
        meshes, kw = Meshes([v], [f], textures=R.TexturesVertex([cols])), {}

    def renderer(s):
        return R.MeshRenderer(
            R.MeshRasterizer(cameras=cams, raster_settings=R.RasterizationSettings(image_size=s, faces_per_pixel=1)),
            R.HardPhongShader(device=device, cameras=cams, lights=R.PointLights(location=light, device=device)),
        )

    full, small = renderer(size), renderer(32)

    def run():
        with torch.no_grad():
            full(meshes, **kw)

    def warmup():
        with torch.no_grad():
            small(meshes, **kw)

    return run, warmup


def _make_points_render(impl, quick, device):
    # Point splatting: 8 points per pixel, alpha compositing of RGB features.
    n, size = (10_000, 128) if quick else (50_000, 512)
    g = _gen(0, device)
    pts = torch.randn(n, 3, generator=g, device=device) * 0.5
    cols = torch.rand(n, 3, generator=g, device=device)
    if impl == "unrender":
        import unrender.render as R
        from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform
        from unrender.structures import PointClouds as Clouds
    else:
        import pytorch3d.renderer as R
        from pytorch3d.renderer import FoVPerspectiveCameras, look_at_view_transform
        from pytorch3d.structures import Pointclouds as Clouds
    rot, tr = look_at_view_transform(3.0, 15.0, 40.0, device=device)
    cams = FoVPerspectiveCameras(R=rot, T=tr, device=device)
    clouds = Clouds([pts], features=[cols])

    def renderer(s):
        rs = R.PointsRasterizationSettings(image_size=s, radius=0.01, points_per_pixel=8)
        return R.PointsRenderer(R.PointsRasterizer(cameras=cams, raster_settings=rs), R.AlphaCompositor())

    full, small = renderer(size), renderer(32)

    def run():
        with torch.no_grad():
            full(clouds)

    def warmup():
        with torch.no_grad():
            small(clouds)

    return run, warmup


def _make_volume_render(impl, quick, device):
    # VolumeRenderer on a density + RGB grid, every pixel, EA raymarching, forward+backward.
    res, size = (32, 64) if quick else (64, 128)
    g = _gen(0, device)
    dens = (torch.rand(1, 1, res, res, res, generator=g, device=device) * 0.2).requires_grad_()
    feats = torch.rand(1, 3, res, res, res, generator=g, device=device).requires_grad_()
    if impl == "unrender":
        import unrender.render as R
        from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform
        from unrender.structures import Volumes
    else:
        import pytorch3d.renderer as R
        from pytorch3d.renderer import FoVPerspectiveCameras, look_at_view_transform
        from pytorch3d.structures import Volumes
    rot, tr = look_at_view_transform(3.0, 15.0, 40.0, device=device)
    cams = FoVPerspectiveCameras(R=rot, T=tr, device=device)
    vols = Volumes(densities=dens, features=feats, voxel_size=2.0 / res)
    renderer = R.VolumeRenderer(R.NDCMultinomialRaysampler(image_width=size, image_height=size, n_pts_per_ray=64,
                                                           min_depth=1.5, max_depth=4.5), R.EmissionAbsorptionRaymarcher())

    def run():
        renderer(cameras=cams, volumes=vols)[0].sum().backward()

    return run


def _make_deform_mesh(impl, quick, device):
    # PyTorch3D's "deform a sphere into a target" loop: level-4 icosphere, 5,000
    # points sampled on each surface per step, chamfer + edge + normal +
    # Laplacian, Adam. unrender times the deform-mesh method itself (plain schedule).
    from unrender.geometry.shapes import bumpy_ellipsoid

    steps = 50 if quick else 2000
    target = bumpy_ellipsoid().to(device)
    if impl == "unrender":
        from unrender.methods import run_method

        def loop(n):
            params = {"threads": THREADS} if THREADS is not None else {}
            params |= {"schedule": "plain", "level": 4, "steps": n, "points": 5000, "optimizer": "adam", "lr": 0.01,
                      "w_chamfer": 1.0, "w_edge": 1.0, "w_normal": 0.01, "w_laplacian": 0.1, "device": device.type}
            run_method("deform-mesh", {"target": target}, params)

        return (lambda: loop(steps)), (lambda: loop(5))
    from pytorch3d.loss import chamfer_distance, mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
    from pytorch3d.ops import sample_points_from_meshes
    from pytorch3d.structures import Meshes
    from pytorch3d.utils import ico_sphere

    trg = Meshes(verts=target.verts_list(), faces=target.faces_list())

    def loop(n):
        src = ico_sphere(4, device)
        deform = torch.zeros_like(src.verts_packed(), requires_grad=True)
        opt = torch.optim.Adam([deform], lr=0.01)
        for _ in range(n):
            opt.zero_grad()
            mesh = src.offset_verts(deform)
            loss = chamfer_distance(sample_points_from_meshes(mesh, 5000), sample_points_from_meshes(trg, 5000))[0]
            loss = loss + mesh_edge_loss(mesh) + 0.01 * mesh_normal_consistency(mesh)
            loss = loss + 0.1 * mesh_laplacian_smoothing(mesh, method="uniform")
            loss.backward()
            opt.step()

    return (lambda: loop(steps)), (lambda: loop(5))


def _make_estimate_pose(impl, quick, device):
    # One Adam step of the estimate-pose fit for a batch of restarts, pose
    # R = R0 exp(w), T, MSE of the silhouettes against the reference mask.
    # unrender: the method's renderer (ContourSilhouetteRenderer: hard raster
    # plus contour distances in a 2-px band). PyTorch3D: the tutorials' soft
    # silhouette (SoftSilhouetteShader, sigma 1e-4, K = 8).
    from unrender.methods.estimate_pose import make_example

    B, size = (2, 64) if quick else (4, 128)
    inputs, truth = make_example(0, image_size=size // 2)
    ref = inputs["image"][..., 0].to(device)
    v, f = inputs["mesh"].verts_packed().to(device), inputs["mesh"].faces_packed().to(device)
    R0 = truth["R"][None].to(device)
    w = (torch.randn(B, 3, generator=_gen(0, "cpu")) * 0.2).to(device).requires_grad_(True)
    T = truth["T"][None].repeat(B, 1).to(device).requires_grad_(True)
    opt = torch.optim.Adam([w, T], lr=0.01)
    if impl == "unrender":
        from unrender.cameras import FoVPerspectiveCameras
        from unrender.geometry.rotations import so3_exp_map
        from unrender.render import ContourSilhouetteRenderer
        from unrender.structures import Meshes

        contour = ContourSilhouetteRenderer(v, f, (size, size))
        meshes = Meshes([v] * B, [f] * B)
        render = lambda cams: contour(cams, meshes)  # noqa: E731
    else:
        import pytorch3d.renderer as R
        from pytorch3d.renderer import FoVPerspectiveCameras
        from pytorch3d.structures import Meshes
        from pytorch3d.transforms import so3_exp_map

        sigma = 1e-4
        rs = R.RasterizationSettings(image_size=size, blur_radius=math.log(1.0 / 1e-4 - 1.0) * sigma, faces_per_pixel=8,
                                     bin_size=0)
        renderer = R.MeshRenderer(R.MeshRasterizer(raster_settings=rs), R.SoftSilhouetteShader(R.BlendParams(sigma=sigma)))
        meshes = Meshes([v] * B, [f] * B)
        render = lambda cams: renderer(meshes, cameras=cams)[..., 3]  # noqa: E731

    def run():
        cams = FoVPerspectiveCameras(R=R0 @ so3_exp_map(w), T=T, fov=40.0, device=device)
        ((render(cams) - ref) ** 2).mean().backward()
        opt.step()
        opt.zero_grad()

    return run


_INSIDE_REF_POINTS = 2000


def _make_points_inside(n):
    # A 20,480-face closed mesh (a level-5 bumpy ellipsoid, non-convex) and
    # uniform points in its bounding box. PyTorch3D has no inside test: the
    # reference column is the exact solid-angle sum (winding_number > 0.5,
    # unrender's previous algorithm) on _INSIDE_REF_POINTS points, scaled
    # to n by Case.ref_scale (its cost is linear in the points).
    def make(impl, quick, device):
        from unrender.geometry.shapes import bumpy_ellipsoid
        from unrender.geometry.voxelize import points_inside_mesh, winding_number

        mesh = bumpy_ellipsoid(level=3 if quick else 5, device=device)
        pts = (torch.rand(n // 10 if quick else n, 3, generator=_gen(0, device), device=device) * 2.2 - 1.1)
        if impl == "unrender":
            return lambda: points_inside_mesh(mesh, pts), lambda: points_inside_mesh(mesh, pts[:1000])
        few = pts[: _INSIDE_REF_POINTS // (10 if quick else 1)]
        return lambda: winding_number(mesh, few) > 0.5, lambda: winding_number(mesh, few[:10]) > 0.5

    return make


def _marching_cubes_field(kind: str, n: int, device) -> torch.Tensor:
    """``(n, n, n)`` float64 field, negative inside: a torus SDF, or white noise (every cell crossed)."""
    if kind == "noise":
        return torch.rand(n, n, n, generator=_gen(0, "cpu"), dtype=torch.float64).sub_(0.5).to(device)
    t = torch.linspace(-1, 1, n, dtype=torch.float64, device=device)
    z, y, x = torch.meshgrid(t, t, t, indexing="ij")
    return (((x**2 + y**2).sqrt() - 0.6) ** 2 + z**2).sqrt() - 0.25


def _marching_cubes_case(kind: str, n: int, quick_n: int):
    """Marching cubes of a grid: unrender against PyMCubes (in the reference column)."""

    def make(impl, quick, device):
        grid = _marching_cubes_field(kind, quick_n if quick else n, device)
        if impl == "unrender":
            from unrender.geometry import marching_cubes

            return lambda: marching_cubes(grid, 0.0, inside="negative")
        import mcubes

        array = grid.cpu().numpy()
        return lambda: mcubes.marching_cubes(array, 0.0)

    return make


def _make_nerf_step(field: str):
    """A NeRF training step (fwd + bwd + Adam) on a batch of random rays of a ring of cameras.

    unrender: ``field`` ("mlp", "grid" or "hash") with packed fixed-step samples through an occupancy grid
    holding a ball (a trained scene's state). PyTorch3D: the same MLP (``field="mlp"`` model) under
    ``ImplicitRenderer`` + ``MonteCarloRaysampler`` (every point of every ray) +
    ``EmissionAbsorptionRaymarcher``. Same rays per step and the same spacing along a ray."""

    def make(impl, quick, device):
        from unrender.nerf import NeRF, NeRFConfig, nerf_optimizers

        rays, pts = (256, 64) if quick else (1024, 128)
        torch.manual_seed(0)
        cfg = dict(hidden=64, layers=3, features=15)
        nerf = NeRF(NeRFConfig(field=field if impl == "unrender" else "mlp", **cfg), steps_per_ray=pts).to(device)
        opts = nerf_optimizers(nerf, 1e-3) if impl == "unrender" else [torch.optim.Adam(nerf.parameters(), lr=1e-3)]
        dist = 2.5
        if impl == "unrender":
            from unrender.cameras import FoVPerspectiveCameras, look_at_view_transform
            from unrender.render.volume import MonteCarloRaysampler

            c = (torch.arange(nerf.grid.resolution, device=device) + 0.5) / nerf.grid.resolution * 2 - 1
            gx, gy, gz = torch.meshgrid(c, c, c, indexing="ij")
            nerf.grid.occupied.copy_((gx**2 + gy**2 + gz**2).sqrt() < 0.6)
            sampler = MonteCarloRaysampler(-1.0, 1.0, -1.0, 1.0, rays, 0, 0.0, 0.0, unit_directions=True)

            def step():
                from unrender.render import ray_box_bounds

                b = sampler(cams)
                o, d = b.origins.reshape(-1, 3), b.directions.reshape(-1, 3)
                near, far = ray_box_bounds(o, d, nerf.bound)
                out = nerf.render_rays(o, d, near, far, train=True)
                loss = (out["rgb"] - 0.5).square().mean()
                for opt in opts:
                    opt.zero_grad()
                loss.backward()
                for opt in opts:
                    opt.step()
        else:
            from pytorch3d.renderer import (EmissionAbsorptionRaymarcher, FoVPerspectiveCameras, ImplicitRenderer,
                                            MonteCarloRaysampler, look_at_view_transform)

            span = 2 * 3**0.5 * nerf.bound  # the box diagonal, sampled as densely as unrender's step
            renderer = ImplicitRenderer(MonteCarloRaysampler(-1.0, 1.0, -1.0, 1.0, rays, pts, dist - span / 2,
                                                             dist + span / 2, stratified_sampling=True),
                                        EmissionAbsorptionRaymarcher())
            model = nerf.model

            def volumetric_function(ray_bundle, **kw):
                o, d, t = ray_bundle.origins, ray_bundle.directions, ray_bundle.lengths
                p = o[..., None, :] + t[..., None] * d[..., None, :]
                dn = torch.nn.functional.normalize(d, dim=-1)[..., None, :].expand_as(p)
                sigma, rgb = model(p.reshape(-1, 3), dn.reshape(-1, 3))
                delta = torch.cat([t[..., 1:] - t[..., :-1], torch.full_like(t[..., :1], 1e10)], -1)
                alpha = 1 - torch.exp(-sigma.view(t.shape) * delta * d.norm(dim=-1, keepdim=True))
                return alpha[..., None], rgb.view(*t.shape, 3)

            def step():
                img, _ = renderer(cameras=cams, volumetric_function=volumetric_function)
                loss = (img[..., :3] - 0.5).square().mean()
                for opt in opts:
                    opt.zero_grad()
                loss.backward()
                for opt in opts:
                    opt.step()

        rot, tr = look_at_view_transform(dist, 15.0, torch.linspace(0, 360, 5)[:4], device=device)
        cams = FoVPerspectiveCameras(R=rot[:1], T=tr[:1], fov=40.0, device=device)
        return step

    return make


CASES: list[Case] = [
    Case("chamfer", "chamfer fwd+bwd", "10k x 10k", "1k x 1k", _make_chamfer),
    Case("sampling", "sample points on icosphere", "10k, level 5", "1k, level 3", _make_sampling),
    Case("knn", "knn K=1 fwd", "200k x 200k", "20k x 20k", _make_knn, repeats=3, ref_repeats=1),
    Case(
        "mesh_losses",
        "laplacian + normal consistency + edge fwd+bwd",
        "level-4 icosphere",
        "level-2 icosphere",
        _make_mesh_losses,
        repeats=20,
    ),
    Case("raster_hard", "raster hard K=1 (perspective-correct) fwd", "20480 faces 512x512", "1280 faces 128x128",
         _make_raster_hard, ref_repeats=1),
    Case("soft_silhouette", "soft silhouette K=50 fwd+bwd", "1280 faces 256x256", "320 faces 64x64",
         _make_soft_silhouette, ref_repeats=1),
    Case("soft_raster_memory", "soft raster K=50 fwd+bwd (memory row)", "20480 faces 512x512", "1280 faces 128x128",
         _make_soft_memory, repeats=1, ref_repeats=1),
    Case("phong_render", "phong render (MeshRenderer + HardPhongShader) fwd", "20480 faces 512x512",
         "1280 faces 128x128", _make_phong_render, ref_repeats=1),
    Case("points_render", "points render (PointsRenderer, alpha, K=8) fwd", "50k points 512x512",
         "10k points 128x128", _make_points_render, ref_repeats=1),
    Case("volume_render", "volume render (VolumeRenderer, EA, 64 points per ray) fwd+bwd", "64^3 grid 128x128",
         "32^3 grid 64x64", _make_volume_render),
    Case("nerf_step_mlp", "NeRF training step, MLP field (unrender: occupancy grid, packed samples; p3d: "
         "ImplicitRenderer + MonteCarloRaysampler + EA, same MLP)", "1024 rays, 128 steps", "256 rays, 64 steps",
         _make_nerf_step("mlp")),
    *(
        Case(f"nerf_step_{f}", f"NeRF training step, unrender {f} field vs PyTorch3D with the MLP (as nerf_step_mlp)",
             "1024 rays, 128 steps", "256 rays, 64 steps", _make_nerf_step(f))
        for f in ("grid", "hash")
    ),
    Case("deform_mesh", "deform-mesh loop (chamfer + edge + normal + laplacian, Adam, plain)",
         "level-4 icosphere, 5k points, 2000 steps", "level-4 icosphere, 5k points, 50 steps", _make_deform_mesh,
         repeats=1, ref_repeats=1),
    Case("estimate_pose", "estimate-pose step: silhouettes fwd+bwd + Adam, batch of restarts (p3d: soft silhouette)",
         "4 restarts, 1280 faces 128x128", "2 restarts, 64x64", _make_estimate_pose, ref_repeats=1),
    Case("points_inside", "points_inside_mesh (ref: exact winding number on 1/50 of the points, time x50)",
         "100k points, 20480 faces", "10k points, 1280 faces", _make_points_inside(100_000), repeats=5,
         ref_repeats=1, ref_scale=100_000 / _INSIDE_REF_POINTS),
    Case("points_inside_1m", "points_inside_mesh (ref: exact winding number on 1/500 of the points, time x500)",
         "1M points, 20480 faces", "100k points, 1280 faces", _make_points_inside(1_000_000), repeats=3,
         ref_repeats=1, ref_scale=1_000_000 / _INSIDE_REF_POINTS),
    *(
        Case(f"marching_cubes_{kind}_{n}", f"marching cubes, {label} (reference column: PyMCubes)", f"{n}^3",
             f"{n // 4}^3", _marching_cubes_case(kind, n, n // 4), repeats=5 if n <= 64 else 3)
        for kind, label in (("torus", "torus SDF"), ("noise", "white noise")) for n in (64, 128)
    ),
]


# --------------------------------------------- against SciPy's cKDTree
@dataclass
class TreeCase:
    """One row of the cKDTree table: ``make(quick)`` returns ``(ours, ref)``
    callables on the same inputs (CPU)."""

    name: str
    operation: str
    size: str
    quick_size: str
    make: Callable[[bool], tuple]
    repeats: int = 5
    peer: str = "cKDTree"


def _tree_clouds(shape: str, n: int):
    """Two independent ``(1, n, 3)`` float32 clouds: uniform in a cube or sampled on a surface."""
    if shape == "cube":
        g = _gen(0, "cpu")
        return torch.rand(1, n, 3, generator=g), torch.rand(1, n, 3, generator=g)
    from unrender.geometry.sampling import sample_points_from_meshes
    from unrender.geometry.shapes import bumpy_ellipsoid

    mesh = bumpy_ellipsoid()
    return tuple(sample_points_from_meshes(mesh, n, generator=_gen(s, "cpu")) for s in (1, 2))


def _ckdtree_knn(p1, p2, K):
    """Reference: ``(1, P1, K)`` squared distances, neighbours found by cKDTree."""
    from scipy.spatial import cKDTree

    tree = cKDTree(p2[0].double().numpy())
    _, idx = tree.query(p1[0].double().numpy(), k=K, workers=2)
    idx = torch.from_numpy(idx).view(-1, K)
    return (p1[0][:, None, :] - p2[0][idx]).square().sum(-1)[None]


def _ckdtree_chamfer(x, y):
    """Reference chamfer: two trees, nearest in each direction, gathered squared distances."""
    from scipy.spatial import cKDTree

    a, b = x[0].detach().double().numpy(), y[0].detach().double().numpy()
    _, ix = cKDTree(b).query(a, k=1, workers=2)
    _, iy = cKDTree(a).query(b, k=1, workers=2)
    ix, iy = torch.from_numpy(ix), torch.from_numpy(iy)
    return (x[0] - y[0][ix]).square().sum(-1).mean() + (y[0] - x[0][iy]).square().sum(-1).mean()


def _make_tree_knn(shape: str, K: int, n: int):
    def make(quick):
        from unrender.ops import knn_points

        p1, p2 = _tree_clouds(shape, n // 10 if quick else n)

        def ours():
            with torch.no_grad():
                knn_points(p1, p2, K=K)

        def ref():
            with torch.no_grad():
                _ckdtree_knn(p1, p2, K)

        return ours, ref

    return make


def _make_tree_chamfer(shape: str, n: int):
    def make(quick):
        from unrender.losses import chamfer_distance

        x, y = (c.requires_grad_() for c in _tree_clouds(shape, n // 10 if quick else n))

        def ours():
            chamfer_distance(x, y)[0].backward()
            x.grad = y.grad = None

        def ref():
            _ckdtree_chamfer(x, y).backward()
            x.grad = y.grad = None

        return ours, ref

    return make


def _tree_case(n: int, shape: str, op: str) -> TreeCase:
    where = "uniform in a cube" if shape == "cube" else "on a surface"
    size = lambda m: f"{m // 1000}k x {m // 1000}k, {where}"  # noqa: E731
    make = _make_tree_chamfer(shape, n) if op == "chamfer" else _make_tree_knn(shape, int(op[-1]), n)
    label = "chamfer fwd+bwd" if op == "chamfer" else f"knn_points K={op[-1]} fwd"
    return TreeCase(f"tree_{op}_{shape}_{n // 1000}k", label, size(n), size(n // 10), make,
                    repeats=7 if n < 100_000 else 3)


TREE_CASES: list[TreeCase] = [
    _tree_case(n, shape, op) for n in (10_000, 200_000) for shape in ("cube", "surface")
    for op in ("knn_K1", "knn_K8", "chamfer")
]


def _make_body_forward(batch: int, correctives: bool, backward: bool):
    """The default body (13,380 vertices) posed by :class:`unrender.body.BodyModel` and by smplx's
    ``SMPL`` built on the same arrays; ``correctives``: random non-zero pose correctives in both
    (the shipped body has none, and unrender skips zero ones)."""

    def make(quick):
        import numpy as np
        import smplx
        from smplx.utils import Struct

        from unrender.body import BodyModel

        ours_model = BodyModel.default()
        a = ours_model.to_arrays()
        if correctives:
            a["posedirs"] = np.random.default_rng(0).normal(0, 1e-3, a["posedirs"].shape).astype(np.float32)
            ours_model = BodyModel.from_arrays(a)
        kintree = np.stack([a["kintree_parents"], np.arange(len(a["kintree_parents"]))]).astype(np.int64)
        struct = Struct(v_template=a["v_template"], f=a["f"], shapedirs=a["shapedirs"], posedirs=a["posedirs"],
                        J_regressor=a["J_regressor"], weights=a["weights"], kintree_table=kintree)
        ref_model = smplx.SMPL("", data_struct=struct, num_betas=a["shapedirs"].shape[2], batch_size=batch,
                               create_betas=False, create_body_pose=False, create_global_orient=False,
                               create_transl=False)
        b = batch if not quick else min(batch, 4)
        g = _gen(0, "cpu")
        betas = torch.randn(b, 10, generator=g)
        pose = (torch.randn(b, 69, generator=g) * 0.3).requires_grad_(backward)
        orient, transl = torch.randn(b, 3, generator=g) * 0.3, torch.randn(b, 3, generator=g)

        def run(fn):
            def go():
                with contextlib.nullcontext() if backward else torch.no_grad():
                    v = fn()
                    if backward:
                        v.square().sum().backward()
                        pose.grad = None
            return go

        ours = run(lambda: ours_model(betas, pose, orient, transl).vertices)
        ref = run(lambda: ref_model(betas=betas, body_pose=pose, global_orient=orient, transl=transl).vertices)
        return ours, ref

    return make


BODY_CASES: list[TreeCase] = [
    TreeCase(f"body_{'fwdbwd' if bwd else 'fwd'}_{'pc' if pc else 'nopc'}_b{b}",
             f"body model {'forward+backward' if bwd else 'forward'}{', pose correctives' if pc else ''}",
             f"batch {b}, 13,380 vertices", f"batch {min(b, 4)}", _make_body_forward(b, pc, bwd), repeats=7, peer="smplx")
    for b, pc, bwd in ((1, False, False), (64, False, False), (64, True, False), (64, True, True))
]


def tree_worker(case: TreeCase, quick: bool) -> dict:
    """Times of ``case`` against the cKDTree reference, interleaved, and each one's peak memory."""
    try:
        ours, ref = case.make(quick)
        import scipy.spatial  # noqa: F401
    except ImportError as exc:
        return {"error": f"not importable: {exc}"}
    out = {}
    for key, fn in (("ours", ours), ("ref", ref)):
        base = _memory_baseline(torch.device("cpu"))
        fn()  # warm-up
        out[f"{key}_peak_mb"] = (_peak_bytes(torch.device("cpu")) - base) / 2**20
    times = {"ours": [], "ref": []}
    for _ in range(case.repeats):
        for key, fn in (("ours", ours), ("ref", ref)):
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    out.update({f"{k}_time": statistics.median(v) for k, v in times.items()})
    out["ratio"] = out["ours_time"] / out["ref_time"]
    return out


# ---------------------------------------------------------------- worker
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_bytes(device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _memory_baseline(device) -> int:
    """Memory in use now, with the peak counter restarted from here where possible."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device)
    try:
        # Linux: restart the resident high-water mark (ru_maxrss follows it), so
        # a transient peak while importing or building inputs is not counted.
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        with open("/proc/self/status") as fh:
            rss_kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmRSS:"))
        return rss_kb * 1024
    except (OSError, StopIteration, ValueError):
        return _peak_bytes(device)


def worker(case: Case, impl: str, quick: bool, device: torch.device) -> dict:
    try:
        made = case.make(impl, quick, device)
    except ImportError as exc:
        return {"error": f"{impl} not importable: {exc}"}
    run, warm = made if isinstance(made, tuple) else (made, made)
    _sync(device)
    base = _memory_baseline(device)
    with using_threads(THREADS) if THREADS is not None else contextlib.nullcontext():
        threads = torch.get_num_threads()
        warm()
        _sync(device)
        repeats = case.repeats if impl == "unrender" or case.ref_repeats is None else case.ref_repeats
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run()
            _sync(device)
            times.append(time.perf_counter() - t0)
    return {"time": statistics.median(times), "times": times, "peak_mb": (_peak_bytes(device) - base) / 2**20,
            "threads": threads}


# ---------------------------------------------------------------- driver
def _run_isolated(case: Case, impl: str, args, threads: int | None = None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", case.name, "--impl", impl, "--device", args.device]
    if args.quick:
        cmd.append("--quick")
    if threads is not None:
        cmd += ["--threads", str(threads)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {args.timeout:.0f} s", "timeout": True}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"failed: {tail[0]}"}
    return json.loads(lines[-1])


def _fmt_time(r: dict) -> str:
    if "time" in r:
        return f"{r['time']:.4g}"
    return f"> {r['error'].split()[-2]}" if r.get("timeout") else "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="run the cases whose name contains this (" + ", ".join(c.name for c in CASES)
                    + "; tree_<op>_<shape>_<size>: against cKDTree)")
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per (case, implementation)")
    ap.add_argument("--contention", action="store_true",
                    help="deform-mesh and estimate-pose (unrender), quiet and with two busy processes")
    ap.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available")

    if args.worker:
        global THREADS
        THREADS = args.threads
        tree_case = next((c for c in TREE_CASES + BODY_CASES if c.name == args.worker), None)
        if tree_case is not None:
            print(json.dumps(tree_worker(tree_case, args.quick)), flush=True)
            return 0
        case = next(c for c in CASES if c.name == args.worker)
        print(json.dumps(worker(case, args.impl, args.quick, torch.device(args.device))), flush=True)
        return 0

    cases = [c for c in CASES if not args.only or args.only in c.name]
    if args.contention:
        cases = [c for c in cases if c.name in CONTENTION_CASES]
        if not cases:
            ap.error(f"--contention: --only {args.only!r} matches none of {', '.join(CONTENTION_CASES)}")
        _print_contention_table(cases, args)
        return 0
    tree_cases = [c for c in TREE_CASES + BODY_CASES if args.device == "cpu" and (not args.only or args.only in c.name)]
    if not cases and not tree_cases:
        ap.error(f"--only {args.only!r} matches no case ({', '.join(c.name for c in CASES + TREE_CASES + BODY_CASES)})")
    try:
        import pytorch3d

        p3d_version = pytorch3d.__version__
    except Exception:
        p3d_version = "not importable"
    print(
        f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"PyTorch3D {p3d_version}{', quick sizes' if args.quick else ''}\n"
    )
    if cases:
        print("| operation | size | unrender (s) | PyTorch3D (s) | ratio (p3d/unrender) | peak memory unrender (MB) |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
    for case in cases:
        ours = _run_isolated(case, "unrender", args)
        ref = _run_isolated(case, "pytorch3d", args)
        if "time" in ref:
            ref["time"] *= case.ref_scale
        if "time" in ours and "time" in ref:
            ratio = f"{ref['time'] / ours['time']:.1f}"
        elif "time" in ours and ref.get("timeout"):
            ratio = f"> {args.timeout / ours['time']:.0f}"
        else:
            ratio = "n/a"
        mem = f"{ours['peak_mb']:.0f}" if "peak_mb" in ours else "n/a"
        size = case.quick_size if args.quick else case.size
        print(f"| {case.operation} | {size} | {_fmt_time(ours)} | {_fmt_time(ref)} | {ratio} | {mem} |", flush=True)
        for impl, r in (("unrender", ours), ("PyTorch3D", ref)):
            if "error" in r and not r.get("timeout") and "not importable" not in r["error"]:
                print(f"<!-- {case.name} {impl}: {r['error']} -->", flush=True)
    for peer in ("cKDTree", "smplx"):
        if any(c.peer == peer for c in tree_cases):
            _print_tree_table([c for c in tree_cases if c.peer == peer], args)
    return 0


def _busy_processes(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _print_contention_table(cases: list[Case], args, busy: int = 2) -> None:
    cores = usable_cores()
    print(f"unrender quiet and with {busy} busy processes on {cores} usable cores "
          "(loaded/quiet: the bar is 3):\n")
    print("| operation | size | threads | quiet (s) | loaded (s) | loaded/quiet |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for case in cases:
        size = case.quick_size if args.quick else case.size
        for threads, label in ((cores, f"{cores} (torch's default)"), (0, "auto (threads=0)")):
            quiet = _run_isolated(case, "unrender", args, threads)
            hogs = _busy_processes(busy)
            try:
                loaded = _run_isolated(case, "unrender", args, threads)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
            used = "/".join(str(r.get("threads", "?")) for r in (quiet, loaded))
            ratio = f"{loaded['time'] / quiet['time']:.1f}" if "time" in quiet and "time" in loaded else "n/a"
            print(f"| {case.operation} | {size} | {label}: {used} | {_fmt_time(quiet)} | {_fmt_time(loaded)} "
                  f"| {ratio} |", flush=True)


_PEER_TITLES = {
    "cKDTree": "Against SciPy's cKDTree (build + query, 2 workers; chamfer: two trees, gather, distances, backward)",
    "smplx": "Against smplx's SMPL on the same arrays (unrender's forward also regresses the BODY_25 and COCO-17 keypoints)",
}


def _print_tree_table(cases: list[TreeCase], args) -> None:
    peer = cases[0].peer
    print(f"\n{_PEER_TITLES[peer]}, times interleaved in one process per row:\n")
    print(f"| operation | size | unrender (s) | {peer} (s) | ratio (unrender/{peer}) | peak memory unrender / {peer} (MB) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for case in cases:
        r = _run_isolated(case, "unrender", args)
        size = case.quick_size if args.quick else case.size
        if "ratio" not in r:
            print(f"| {case.operation} | {size} | n/a | n/a | n/a | n/a |\n<!-- {case.name}: {r['error']} -->", flush=True)
            continue
        print(f"| {case.operation} | {size} | {r['ours_time']:.4g} | {r['ref_time']:.4g} | {r['ratio']:.2f} "
              f"| {r['ours_peak_mb']:.0f} / {r['ref_peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())

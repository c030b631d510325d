"""``deform-mesh``: deform an icosphere (or a given mesh) onto a target mesh or point cloud.

The loss is the one of PyTorch3D's "deform a source mesh to form a target
mesh" tutorial: chamfer distance between points sampled on the two surfaces,
plus edge length, normal consistency and uniform Laplacian regularisers,
minimised with Adam or SGD with momentum over per-vertex positions.

Beyond the tutorial, three schedules:

- ``"auto"`` (the default): ``"remesh"``, or ``"coarse-to-fine"`` when a
  source mesh is given (its connectivity is kept).
- ``"remesh"`` remeshes the surface every ``remesh_every``
  steps (:func:`unrender.geometry.remesh`: edge split, collapse, flip and
  tangential relaxation, as continuous remeshing for inverse rendering does)
  towards an edge length that shrinks from the starting mesh's to
  ``edge_length`` over the first ``coarse_fraction`` of the steps. Edges are
  shorter where the target curves (``adaptive``: down to that fraction of
  ``edge_length``, read from the target mesh's dihedral curvature at each
  vertex's nearest target vertex), so eyes, ears and thin parts get the
  triangles they need and triangles stay well shaped. Adam's moments follow
  the vertices through each remeshing. The starting surface (``init``) is an
  icosphere, or, when the target is not one closed genus-0 piece (``auto``),
  a closed surface extracted from it (:func:`unrender.geometry.enclosing_surface`:
  winding-number and sample occupancy, marching cubes, remeshed to
  ``edge_length``), so a torus stays a torus and separate parts stay apart.
- ``"coarse-to-fine"`` starts on a coarse icosphere (or the source) (``start_level``) and
  subdivides it during the fit until ``level`` (fixed connectivity: the
  result is a level-``level`` icosphere's). Each stage gets a fresh
  optimiser, a cosine learning-rate decay to ``lr_decay * lr``, ``points /
  4^(levels below the final)`` samples (at least 500) and, with Adam,
  ``coarse_lr`` times the learning rate per level below.
- ``"plain"`` fits at ``level`` from the start (PyTorch3D's tutorial loop).

``scripts/quality_deform_mesh.py`` measures them on Blender's Suzanne, a
torus and the generated targets.

Result: ``outputs["mesh"]`` (``Meshes``, CPU, target frame); ``metrics``
``"chamfer"``, ``"f1@0.01"``, ``"f1@0.02"``, ``"f1@0.05"`` on ``eval_points``
samples; ``extra["stages"]`` (first step and label, or level, of each stage),
``extra["center"]``/``extra["scale"]`` of the normalisation; with the remesh
schedule ``extra["init"]`` (``"sphere"``, ``"target"`` or ``"source"``) and
``extra["target_topology"]`` (what ``auto`` saw).

Everything runs in a normalised frame: the target is translated and scaled
into the unit sphere (bounding-box centre at the origin, farthest point at
distance 1), the fit happens there, and the result is mapped back into the
target's frame. Metrics (chamfer, F1) are measured in the normalised frame, so
their distance thresholds are fractions of the target's radius.
"""

from __future__ import annotations

import functools
import math

import torch

from ..geometry import icosphere_verts_faces, sample_points_from_meshes, subdivide
from ..geometry.enclose import enclosing_surface
from ..geometry.remesh import adaptive_edge_lengths, edge_lengths, mesh_edges, remesh
from ..geometry.surface_topology import surface_topology, weld_vertices
from ..ops import knn_points
from ..geometry.shapes import bumpy_ellipsoid
from ..losses import chamfer_distance, mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
from ..metrics import point_f1
from ..structures import Meshes, PointClouds
from ..structures.utils import normalize_to_unit_sphere
from .base import Input, Method, Output, Param, Result
from .registry import register
from .runner import Tracker

__all__ = ["DeformMesh", "cosine_decay", "icosphere_edge_length", "stage_plan"]

_F1_THRESHOLDS = (0.01, 0.02, 0.05)
_DETAIL_TOLERANCE = 0.01  # remesh: chordal error allowed by the adaptive edges, as a fraction of edge_length


def stage_plan(steps: int, levels: list[int], coarse_fraction: float) -> list[tuple[int, int]]:
    """``[(first_step, level)]`` of each stage of a coarse-to-fine fit.

    The coarser levels share ``coarse_fraction`` of the ``steps`` equally; the
    last level gets the rest (at least one step). A single level is one stage
    from step 0. Stages that would get no step are dropped.
    """
    if len(levels) == 1:
        return [(0, levels[0])]
    n_coarse = len(levels) - 1
    coarse_steps = min(int(round(steps * coarse_fraction)), steps - 1)
    starts = [int(round(i * coarse_steps / n_coarse)) for i in range(n_coarse)] + [coarse_steps]
    plan: list[tuple[int, int]] = []
    for start, level in zip(starts, levels):
        if plan and plan[-1][0] == start:
            plan[-1] = (start, level)  # an empty stage: skip that level
        else:
            plan.append((start, level))
    return plan


@register
class DeformMesh(Method):
    id = "deform-mesh"
    label = "Deform mesh"
    description = (
        "Deform an icosphere (or a given source mesh) onto a target mesh or point cloud: chamfer distance on "
        "sampled points with edge-length, normal-consistency and Laplacian regularisers, Adam or SGD; the "
        "coarse-to-fine schedule subdivides the mesh during the fit. Gives a genus-0 mesh with clean topology."
    )
    inputs = (
        Input("target", ("mesh", "points"), "the shape to fit: a mesh (sampled each step) or a point cloud"),
        Input("source", ("mesh",), "deform this mesh instead of an icosphere (its connectivity is kept, except with schedule remesh)",
              required=False),
    )
    outputs = (Output("mesh", "mesh", "the deformed mesh, in the target's frame"),)
    params = (
        Param("level", 4, "icosphere level of the result (10 * 4^level + 2 vertices)", minimum=0, maximum=6),
        Param("steps", 150, "optimisation steps", minimum=1, maximum=1_000_000),
        Param("points", 10_000, "points sampled on each surface per step (at the final resolution)",
              minimum=10, maximum=10_000_000),
        Param("optimizer", "adam", "optimiser", choices=("adam", "sgd")),
        Param("lr", 0.01, "learning rate (PyTorch3D's tutorial uses 1.0 with SGD)", minimum=1e-8, maximum=100.0),
        Param("momentum", 0.9, "SGD momentum", minimum=0.0, maximum=0.999),
        Param("lr_decay", 0.1, "final learning rate as a fraction of lr (cosine decay in each stage); 1: constant",
              minimum=0.0, maximum=1.0),
        Param("w_chamfer", 1.0, "weight of the chamfer distance", minimum=0.0),
        Param("w_edge", 0.1, "weight of the edge-length loss (mean squared edge length; PyTorch3D's tutorial: 1)",
              minimum=0.0),
        Param("w_normal", 0.01, "weight of the normal-consistency loss", minimum=0.0),
        Param("w_laplacian", 0.01, "weight of the uniform Laplacian smoothing loss (PyTorch3D's tutorial: 0.1; "
              "remeshing keeps triangles well shaped, so less smoothing keeps more detail)", minimum=0.0),
        Param("schedule", "auto",
              "auto: remesh, or coarse-to-fine when a source mesh is given (its connectivity is kept); remesh: start coarse and remesh towards a shrinking, curvature-adaptive edge length during the "
              "fit (detail and thin parts appear, triangles stay well shaped); coarse-to-fine: start coarse, "
              "subdivide during the fit (the result keeps an icosphere's connectivity); plain: fit at the final "
              "resolution", choices=("auto", "remesh", "coarse-to-fine", "plain")),
        Param("init", "auto",
              "remesh: the starting surface; sphere: an icosphere; target: a closed surface extracted from the "
              "target (occupancy, marching cubes), with the target's genus and parts; auto: target when the "
              "target is not one closed genus-0 piece", choices=("auto", "sphere", "target")),
        Param("edge_length", 0.0, "remesh: final edge length in the unit-sphere frame; 0: the mean edge of a "
              "level-`level` icosphere", minimum=0.0, maximum=1.0),
        Param("adaptive", 0.4, "remesh: shortest edge where the surface curves, as a fraction of edge_length "
              "(1: uniform edges)", minimum=0.05, maximum=1.0),
        Param("remesh_every", 5, "remesh: steps between two remeshing passes", minimum=1, maximum=10_000),
        Param("start_level", 2, "coarse-to-fine: icosphere level to start from (clamped to level); with a source, "
              "the source is subdivided level - start_level times", minimum=0, maximum=6),
        Param("coarse_fraction", 0.4, "coarse-to-fine: fraction of the steps spent below the final level",
              minimum=0.0, maximum=0.95),
        Param("coarse_lr", 2.0, "coarse-to-fine with Adam: learning-rate factor per level below the final one "
              "(bigger moves on coarse meshes)", minimum=1.0, maximum=10.0),
        Param("random_init", False, "start from random vertex positions (normal noise) with the icosphere's "
              "connectivity"),
        Param("init_radius", 1.0, "radius of the starting icosphere (std of the noise with random_init), in the "
              "unit-sphere frame", minimum=1e-3, maximum=10.0),
        Param("eval_points", 200_000, "points sampled per surface for the final chamfer and F1 metrics (F1@0.01 "
              "reads low below ~100k: the samples' own spacing)", minimum=100, maximum=10_000_000),
        Param("align_source", True, "normalise the source mesh to the unit sphere like the target; off: keep its "
              "placement relative to the target"),
    )

    # ------------------------------------------------------------------ example
    def example_inputs(self, seed: int = 0) -> dict:
        return {"target": bumpy_ellipsoid(seed=seed)}

    # ---------------------------------------------------------------------- run
    def run(self, inputs: dict, params: dict, progress) -> Result:
        device = torch.device(params["device"])
        g = torch.Generator(device=device).manual_seed(params["seed"])
        steps, target = params["steps"], inputs["target"]

        # --- target in the unit-sphere frame: normalised = (x - center) / scale
        if isinstance(target, Meshes):
            tgt_mesh, center, scale = target.normalize()
            tgt_pts = None
        else:
            (tgt_pts,), center, scale = normalize_to_unit_sphere(target.points_list(), "bbox", "target")
            tgt_mesh = None
        center, scale = center[0], scale[0]
        dtype = center.dtype

        def sample_target(n: int) -> torch.Tensor:
            """``(1, n, 3)`` target points (a point cloud is subsampled, with replacement)."""
            if tgt_mesh is not None:
                return sample_points_from_meshes(tgt_mesh, n, generator=g)
            if tgt_pts.shape[0] <= n:
                return tgt_pts[None]
            idx = torch.randint(tgt_pts.shape[0], (n,), generator=g, device=device)
            return tgt_pts.index_select(0, idx)[None]

        weights = (params["w_chamfer"], params["w_edge"], params["w_normal"], params["w_laplacian"])
        tracker = Tracker(progress, steps, preview_every=max(1, steps // 200))
        source = inputs.get("source")
        if source is not None:
            source_verts = source.verts_list()[0].to(dtype)
            if params["align_source"]:
                (source_verts,), _, _ = normalize_to_unit_sphere([source_verts], "bbox", "source")
            else:
                source_verts = (source_verts - center) / scale
            source = (source_verts, source.faces_list()[0])
        if params["schedule"] == "auto":
            params = {**params, "schedule": "coarse-to-fine" if source is not None else "remesh"}
        fit = self._fit_remesh if params["schedule"] == "remesh" else self._fit_levels
        final, faces, stage_log, info = fit(params, tgt_mesh, tgt_pts, source, sample_target, weights, tracker,
                                            lambda x, f: Meshes([x.detach() * scale + center], [f]).cpu(), g)
        metrics = self._metrics(Meshes([final], [faces]), tgt_mesh, tgt_pts, params["eval_points"], params["seed"])
        return tracker.result(
            {"mesh": Meshes([final * scale + center], [faces]).cpu()},
            metrics,
            stages=stage_log,
            center=center.tolist(),
            scale=float(scale),
            **info,
        )

    # ------------------------------------------------------------------ fits
    def _fit_levels(self, params, tgt_mesh, tgt_pts, source, sample_target, weights, tracker, to_target, g):
        """The plain and coarse-to-fine schedules: fixed connectivity, subdivided between levels.

        Returns ``(verts (V, 3), faces (F, 3), stages, extra)`` in the unit-sphere frame."""
        steps, n_final, level = params["steps"], params["points"], params["level"]
        dtype, device = _dtype(tgt_mesh, tgt_pts), torch.device(params["device"])
        coarse = params["schedule"] == "coarse-to-fine"
        if source is not None:
            verts, faces = source
            # Subdivisions of the source play the role of icosphere levels.
            n_sub = level - min(params["start_level"], level) if coarse else 0
            levels = list(range(n_sub + 1))
        else:
            first = min(params["start_level"], level) if coarse else level
            levels = list(range(first, level + 1))
        plan = stage_plan(steps, levels, params["coarse_fraction"])
        if source is not None:
            for _ in range(plan[0][1]):  # coarse stages that got no step
                verts, faces = subdivide(verts, faces)
        else:
            verts, faces = icosphere_verts_faces(plan[0][1], dtype=dtype, device=device)
            verts = verts * params["init_radius"]
        if params["random_init"]:
            verts = torch.randn(verts.shape, generator=g, dtype=dtype, device=device) * params["init_radius"]

        stage_log = []
        v = None
        for k, (start, lvl) in enumerate(plan):
            end = plan[k + 1][0] if k + 1 < len(plan) else steps
            if k > 0:
                # Subdivide the current fit: old vertices first, then edge midpoints.
                for _ in range(lvl - plan[k - 1][1]):
                    verts, faces = subdivide(v.detach(), faces)
            v = verts.detach().clone().requires_grad_(True)
            # Fresh optimiser state for the new vertex set (moments are per vertex).
            # Adam's step is about lr whatever the gradient: larger on coarse meshes. (SGD's
            # per-vertex gradients already grow ~4x per coarser level: no factor.)
            lr = params["lr"] * (params["coarse_lr"] ** (levels[-1] - lvl) if params["optimizer"] == "adam" else 1.0)
            opt = self._optimizer(params, v, lr)
            sched = _cosine(opt, end - start, params["lr_decay"])
            # Coarser stages need fewer samples: about as many per face as at the end.
            n = max(min(n_final, 500), n_final // 4 ** (levels[-1] - lvl)) if coarse else n_final
            stage_log.append({"step": start, "level": lvl, "faces": int(faces.shape[0]), "points": n})
            if k > 0:
                tracker.new_stage()  # losses of another level (samples, edge lengths) are not compared
            for step in range(start, end):
                if not self._step(v, faces, opt, sched, sample_target(n), n, weights, g, step, lr, tracker,
                                  to_target):
                    break
            if tracker.cancelled:
                break
        kept = tracker.kept((v.detach(), faces))
        return kept[0], kept[1], stage_log, {}

    def _fit_remesh(self, params, tgt_mesh, tgt_pts, source, sample_target, weights, tracker, to_target, g):
        """The remesh schedule: Adam on vertex positions, remeshed every ``remesh_every`` steps
        towards an edge length that shrinks from the start's to ``edge_length`` over the first
        ``coarse_fraction`` of the steps, shorter where the surface curves (``adaptive``). The
        optimiser's moments follow the vertices through each remeshing.

        Returns ``(verts (V, 3), faces (F, 3), stages, extra)`` in the unit-sphere frame."""
        steps, n_final = params["steps"], params["points"]
        dtype, device = _dtype(tgt_mesh, tgt_pts), torch.device(params["device"])
        final_len = params["edge_length"] or icosphere_edge_length(params["level"])
        init = params["init"]
        topology = None
        if source is None and init != "sphere":
            topology = surface_topology(*(
                (tgt_mesh.verts_list()[0], tgt_mesh.faces_list()[0]) if tgt_mesh is not None
                else enclosing_surface(PointClouds([tgt_pts]), _grid_resolution(final_len))))
            if init == "auto":
                init = "sphere" if topology.is_sphere else "target"
        if source is not None:
            verts, faces = source
            start_len = float(edge_lengths(verts, mesh_edges(faces, verts.shape[0]).edges).mean())
            init = "source"
        elif init == "target":
            target = tgt_mesh if tgt_mesh is not None else PointClouds([tgt_pts])
            verts, faces = enclosing_surface(target, _grid_resolution(final_len))
            verts = verts.to(dtype)
            start_len = final_len
            for _ in range(4):  # marching cubes' triangles -> the target edge length (a decimation)
                verts, faces, _, _ = remesh(verts, faces, final_len)
        else:
            start = min(params["start_level"], params["level"])
            verts, faces = icosphere_verts_faces(start, dtype=dtype, device=device)
            verts = verts * params["init_radius"]
            start_len = icosphere_edge_length(start) * params["init_radius"]
            init = "sphere"
        if params["random_init"]:
            verts = torch.randn(verts.shape, generator=g, dtype=dtype, device=device) * params["init_radius"]
        start_len = max(start_len, final_len)
        coarse_steps = int(round(steps * params["coarse_fraction"])) if start_len > final_len else 0
        settle = steps - max(params["remesh_every"], int(0.1 * steps))  # no remeshing in the last steps

        def length_at(step: int) -> float:
            t = min(step / coarse_steps, 1.0) if coarse_steps else 1.0
            return start_len * (final_len / start_len) ** t

        # Shorter edges where the target curves: a factor in [adaptive, 1] per target vertex, read at
        # each vertex's nearest target vertex (the target is clean; the fit's own curvature is noisy).
        detail = None
        if params["adaptive"] < 1.0 and tgt_mesh is not None:
            tv, tf = weld_vertices(tgt_mesh.verts_list()[0], tgt_mesh.faces_list()[0])
            detail = (tv, adaptive_edge_lengths(tv, tf, final_len, params["adaptive"], tolerance=_DETAIL_TOLERANCE * final_len)
                      / final_len)

        v = verts.detach().clone().requires_grad_(True)
        opt = self._optimizer(params, v, params["lr"])
        decay = cosine_decay(steps, params["lr_decay"])
        stage_log = [{"step": 0, "label": f"start: {init}, {int(faces.shape[0])} faces", "faces": int(faces.shape[0])}]
        for step in range(steps):
            if step and step % params["remesh_every"] == 0 and step < settle:
                target_len = length_at(step)
                if detail is not None:
                    nearest = knn_points(v.detach()[None], detail[0][None], K=1).idx[0, :, 0]
                    # Uniform while the coarse shape forms, the full detail from the final length on.
                    grade = min(step / coarse_steps, 1.0) if coarse_steps else 1.0
                    target_len = target_len * detail[1][nearest] ** grade
                v, faces, opt = self._remesh_with_state(v, faces, target_len, opt, params)
                tracker.new_stage()
                if step <= coarse_steps < step + params["remesh_every"]:
                    stage_log.append({"step": step, "label": f"edge length {final_len:.3g}",
                                      "faces": int(faces.shape[0])})
            # Adam's step is about lr whatever the gradient: bigger moves while the mesh is coarse.
            lr = params["lr"] * decay(step) * (length_at(step) / final_len if params["optimizer"] == "adam" else 1.0)
            for group in opt.param_groups:
                group["lr"] = lr
            n = int(min(n_final, max(500, n_final * (final_len / length_at(step)) ** 2)))
            if not self._step(v, faces, opt, None, sample_target(n), n, weights, g, step, lr, tracker, to_target):
                break
        kept = tracker.kept((v.detach(), faces))
        extra = {"init": init}
        if topology is not None:
            extra["target_topology"] = topology.describe()
        return kept[0], kept[1], stage_log, extra

    def _remesh_with_state(self, v, faces, length, opt, params):
        """Remesh ``v``/``faces``; a new leaf tensor and optimiser carrying the per-vertex moments."""
        state = opt.state.get(v, {})
        names = [k for k, t in state.items() if isinstance(t, torch.Tensor) and t.shape == v.shape]
        verts, faces, attrs, _ = remesh(v.detach(), faces, length, [state[k] for k in names])
        # Per-vertex gradients scale with 1 / (vertex count) (the chamfer is a mean over samples
        # shared by the vertices): rescale the moments, or a finer mesh inherits a coarse mesh's
        # large second moments and crawls.
        r = v.shape[0] / verts.shape[0]
        attrs = [t * (r * r if k == "exp_avg_sq" else r) for k, t in zip(names, attrs)]
        new_v = verts.clone().requires_grad_(True)
        new_opt = self._optimizer(params, new_v, opt.param_groups[0]["lr"])
        if state:
            new_opt.state[new_v] = {**{k: t for k, t in state.items() if k not in names},
                                    **dict(zip(names, attrs))}
        return new_v, faces, new_opt

    def _step(self, v, faces, opt, sched, tgt, n, weights, g, step, lr, tracker, to_target) -> bool:
        """One optimiser step; whether to go on."""
        loss = self._loss(v, faces, tgt, n, weights, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        before = v.detach().clone()  # the state that gave this loss, kept if it is the best
        opt.step()
        if sched is not None:
            sched.step()
        value = loss.item()
        if not (math.isfinite(value) and bool(torch.isfinite(v).all())):
            raise ValueError(f"lr: the fit diverged at step {step} (loss {value:g}); expected a smaller lr than {lr:g}")
        return tracker.update(step, value, lambda: to_target(v, faces), keep=lambda: (before, faces))

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _optimizer(params: dict, v: torch.Tensor, lr: float) -> torch.optim.Optimizer:
        if params["optimizer"] == "sgd":
            return torch.optim.SGD([v], lr=lr, momentum=params["momentum"])
        return torch.optim.Adam([v], lr=lr)

    @staticmethod
    def _loss(v, faces, tgt, n, weights, g) -> torch.Tensor:
        """Weighted loss of the mesh ``(v (V, 3), faces (F, 3))`` against target samples ``tgt (1, N, 3)``."""
        w_cham, w_edge, w_norm, w_lap = weights
        # The same `faces` tensor every step: the topology cache (edges, face
        # pairs, Laplacian entries) is built once per stage.
        mesh = Meshes([v], [faces])
        loss = v.new_zeros(())
        if w_cham > 0:
            loss = loss + w_cham * chamfer_distance(sample_points_from_meshes(mesh, n, generator=g), tgt)[0]
        if w_edge > 0:
            loss = loss + w_edge * mesh_edge_loss(mesh)
        if w_norm > 0:
            loss = loss + w_norm * mesh_normal_consistency(mesh)
        if w_lap > 0:
            loss = loss + w_lap * mesh_laplacian_smoothing(mesh, method="uniform")
        return loss

    @staticmethod
    def _metrics(pred: Meshes, tgt_mesh, tgt_pts, n: int, seed: int) -> dict[str, float]:
        """Chamfer and F1@0.01/0.02/0.05 in the unit-sphere frame, on ``n`` points per surface
        (a target cloud is used whole up to ``2 n`` points)."""
        g = torch.Generator(device=pred.device).manual_seed(seed)
        with torch.no_grad():
            a = sample_points_from_meshes(pred, n, generator=g)
            if tgt_mesh is not None:
                b = sample_points_from_meshes(tgt_mesh, n, generator=g)
            else:
                b = tgt_pts[None]
                if b.shape[1] > 2 * n:  # a huge cloud: a uniform subset
                    idx = torch.randperm(b.shape[1], generator=g, device=b.device)[: 2 * n]
                    b = b[:, idx]
            f1 = point_f1(a, b, _F1_THRESHOLDS)
            out = {"chamfer": float(chamfer_distance(a, b)[0])}
        out.update({k: float(val[0]) for k, val in f1.items() if k.startswith("f1")})
        return out


def cosine_decay(n: int, final: float):
    """Factor of the learning rate at step ``i``: cosine from 1 to ``final`` over ``n`` steps."""
    n = max(n - 1, 1)
    return lambda i: final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(i, n) / n))


def _cosine(opt: torch.optim.Optimizer, n: int, final: float):
    """Cosine decay of the learning rate from ``lr`` to ``final * lr`` over ``n`` steps."""
    return torch.optim.lr_scheduler.LambdaLR(opt, cosine_decay(n, final))


def _dtype(tgt_mesh, tgt_pts) -> torch.dtype:
    return (tgt_mesh.verts_list()[0] if tgt_mesh is not None else tgt_pts).dtype


@functools.lru_cache(maxsize=None)
def icosphere_edge_length(level: int) -> float:
    """Mean edge length of the unit icosphere of ``level``."""
    verts, faces = icosphere_verts_faces(level, dtype=torch.float64)
    return float(edge_lengths(verts, mesh_edges(faces, verts.shape[0]).edges).mean())


def _grid_resolution(edge_length: float) -> int:
    """Occupancy grid for a starting surface of the unit-sphere frame: cells of 2/3 the edge length."""
    return int(min(max(math.ceil(3.0 / edge_length), 32), 128))

"""Fitting a body model to a scan (a point cloud or mesh) by chamfer distance plus priors.

Stages:

1. placement: the body (zero shape, rest pose) is turned about its vertical
   axis (Y) to ``turns`` headings, upright and upside down, each moved so its
   vertex centroid sits on the scan's; all are scored at once by chamfer and
   the ``restarts`` best kept. No scaling: the scan is taken to be in the
   model's units (metres for SMPL and the default body).
2. shape and pose: betas, body pose, orientation and translation by Adam on
   the chamfer distance (body vertices to scan points and scan points to body
   vertices, both subsampled each step), the Gaussian-mixture pose prior, an
   L2 shape prior and the one-way elbow and knee term, in sub-stages whose
   prior weights decrease. The restarts run as one batch through the first
   sub-stage; the one with the lowest chamfer goes on alone.
3. offsets (optional): a per-vertex offset ``(V, 3)`` in the rest frame (it
   turns with each vertex's skinning rotation, so it follows the pose) for
   clothing and hair, with a uniform-Laplacian smoothness term and a small-offset term.

Chamfer terms are mean squared distances divided by ``sigma**2`` (``sigma``
in the model's units, 1 cm by default), so the prior weights read against a
fit error of about ``sigma``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .._validate import check_finite, check_points
from ..geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..losses import chamfer_distance
from ..ops import DEFAULT_CHUNK_BYTES, knn_indices, laplacian
from ..geometry.sampling import sample_points_from_meshes
from ..structures import Meshes
from .model import BodyModel, PosingBody
from .poses import sample_body_poses
from .priors import PosePrior, bend_penalty

__all__ = ["ScanFit", "fit_scan", "placement_orients", "random_scan", "MIN_SCAN_POINTS"]

#: Fewest scan points :func:`fit_scan` accepts (fewer cannot pin down 24 joints and a shape).
MIN_SCAN_POINTS = 100


@dataclass
class ScanFit:
    """A fitted body (float32, the model's device).

    Attributes:
        betas ``(S,)``, body_pose ``(J-1, 3)`` axis-angle, global_orient ``(3,)``, transl ``(3,)``;
        offsets ``(V, 3)`` in the rest frame, or None (no offset stage);
        vertices ``(V, 3)`` the fitted posed body (offsets included), in the scan's frame;
        chamfer: final squared-distance chamfer (both directions summed, means over points) against the
        whole scan; history: the total loss at every step; stages: the step where each stage began.
    """

    betas: torch.Tensor
    body_pose: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor
    offsets: torch.Tensor | None
    vertices: torch.Tensor
    chamfer: float
    history: list = field(default_factory=list)
    stages: list = field(default_factory=list)


def placement_orients(turns: int, upside_down: bool = True, dtype=torch.float32) -> torch.Tensor:
    """``(C, 3)`` axis-angle orientations: ``turns`` headings about +Y, then (if asked) the same
    turned upside down (a half turn about X after each heading)."""
    ang = torch.arange(turns, dtype=torch.float64) * (2 * math.pi / turns)
    about_y = torch.zeros(turns, 3, dtype=torch.float64)
    about_y[:, 1] = ang
    R = axis_angle_to_matrix(about_y)
    if upside_down:
        flip = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=torch.float64))
        R = torch.cat([R, flip @ R])
    return matrix_to_axis_angle(R).to(dtype)


def random_scan(model: BodyModel, seed: int = 0, points: int = 20000, *, spread: float = 0.7,
                max_beta: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A scan of a random posed body: ``(points, 3)`` points sampled on its surface and its ``(V, 3)`` vertices.

    Shape: normal betas clamped to ``+-max_beta``; pose: :func:`~unrender.body.sample_body_poses`
    with ``spread``; a random heading about the vertical axis (Y) and a translation of about 0.5.
    """
    g = torch.Generator().manual_seed(seed)
    dtype, device = model.v_template.dtype, model.v_template.device
    betas = torch.randn(1, model.num_betas, generator=g, dtype=dtype).clamp(-max_beta, max_beta)
    pose = sample_body_poses(1, seed=seed, spread=spread, dtype=dtype)
    orient = torch.zeros(1, 3, dtype=dtype)
    orient[0, 1] = float(torch.rand(1, generator=g)) * 2 * math.pi
    transl = torch.randn(1, 3, generator=g, dtype=dtype) * 0.5
    verts = model(betas.to(device), pose.to(device), orient.to(device), transl.to(device)).vertices[0]
    pts = sample_points_from_meshes(Meshes([verts.cpu()], [model.faces.cpu()]), points, generator=g)[0]
    return pts.to(device), verts


def _nearest_sq(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(B, P)`` squared distance of each point of ``x (B, P, 3)`` to the nearest point of ``y (B, Q, 3)``
    (differentiable in both; the neighbours are chosen without autograd)."""
    B, P, Q = x.shape[0], x.shape[1], y.shape[1]
    l1 = torch.full((B,), P, dtype=torch.int64, device=x.device)
    l2 = torch.full((B,), Q, dtype=torch.int64, device=x.device)
    idx = knn_indices(x.detach(), y.detach(), l1, l2, 1, 2, DEFAULT_CHUNK_BYTES)[..., 0]  # (B, P)
    near = torch.gather(y, 1, idx[..., None].expand(-1, -1, 3))
    return ((x - near) ** 2).sum(-1)


def _chamfer_terms(verts, scan, scan_normals, vert_idx, scan_idx, faces):
    """``(B,)`` body->scan and ``(B,)`` scan->body mean squared distances, and ``(B,)`` normal
    disagreement (0 without scan normals). ``verts (B, V, 3)``, ``scan (Q, 3)``."""
    B = verts.shape[0]
    # every body's vertices against the one scan: one search structure for the batch
    to_scan = _nearest_sq(verts[:, vert_idx].reshape(1, -1, 3), scan[None]).reshape(B, -1).mean(1)
    sub = scan[scan_idx][None].expand(B, -1, -1)
    if scan_normals is None:
        return to_scan, _nearest_sq(sub, verts).mean(1), torch.zeros_like(to_scan)
    normals = Meshes(list(verts), [faces] * B).verts_normals_padded()
    to_body, normal = chamfer_distance(sub, verts, x_normals=scan_normals[scan_idx][None].expand(B, -1, -1),
                                       y_normals=normals, single_directional=True, batch_reduction=None)
    return to_scan, to_body, normal


def fit_scan(
    model: BodyModel,
    target_points: torch.Tensor,
    target_normals: torch.Tensor | None = None,
    *,
    prior: PosePrior | None = None,
    steps: int = 300,
    offsets: bool = False,
    offset_steps: int = 100,
    num_betas: int = 10,
    turns: int = 8,
    upside_down: bool = True,
    restarts: int = 3,
    samples: int = 3000,
    sigma: float = 0.01,
    w_pose: float = 1.0,
    w_shape: float = 1.0,
    w_bend: float = 10.0,
    w_laplacian: float = 100.0,
    w_offset: float = 1.0,
    lr: float = 0.02,
    seed: int = 0,
    progress=None,
) -> ScanFit:
    """Fit shape, pose, orientation and translation (and optionally per-vertex offsets) of ``model`` to a scan.

    Args:
        model: the body model (float32 or float64; the fit runs in its dtype and on its device).
        target_points: ``(N, 3)`` the scan's points, in the model's units, ``N >= MIN_SCAN_POINTS``.
        target_normals: ``(N, 3)`` optional unit normals of the scan; they add a normal-agreement term.
        prior: the pose prior over ``body_pose (B, 69)``; None: an L2 pose prior.
        steps: Adam steps of the shape-and-pose stage (split into three sub-stages of
            decreasing prior weight: ``w_pose``, ``w_pose / 10``, ``w_pose / 100``).
        offsets: run the per-vertex offset stage (``offset_steps`` steps).
        turns, upside_down, restarts: the placement search (headings about Y, the upside-down
            copies) and how many of the best placements the first sub-stage fits side by side.
        samples: body vertices and scan points drawn at random for each step's chamfer terms.
        sigma: the data scale (model units): chamfer terms are divided by ``sigma**2``.
        w_shape, w_bend: weights of ``|betas|^2`` and of :func:`~unrender.body.bend_penalty`
            (they decrease with the pose prior's); w_laplacian, w_offset: of the offsets'
            squared uniform Laplacian and of their squared length (both over ``sigma**2``).
        progress: ``progress(step, total, loss, vertices) -> bool`` where ``vertices()``
            gives the current ``(V, 3)`` body; False stops the fit (the current state is returned).
    Returns:
        a :class:`ScanFit`.
    """
    dtype, device = model.v_template.dtype, model.v_template.device
    pts = check_finite("target_points", check_points("target_points", target_points)).to(dtype=dtype, device=device)
    if pts.shape[0] < MIN_SCAN_POINTS:
        raise ValueError(f"target_points: expected at least {MIN_SCAN_POINTS} points, found {pts.shape[0]}")
    nrm = None
    if target_normals is not None:
        nrm = check_finite("target_normals", check_points("target_normals", target_normals)).to(dtype=dtype,
                                                                                              device=device)
        if nrm.shape != pts.shape:
            raise ValueError(f"target_normals: expected shape {tuple(pts.shape)} (one per point), found "
                             f"{tuple(nrm.shape)}")
    for name, v in (("steps", steps), ("turns", turns), ("restarts", restarts), ("samples", samples)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, found {v!r}")
    gen = torch.Generator().manual_seed(seed)
    Q, V, J = pts.shape[0], model.v_template.shape[0], model.num_joints
    S = min(num_betas, model.num_betas)
    faces = model.faces
    n_vert, n_scan = min(samples, V), min(samples, Q)
    centroid = pts.mean(0)
    inv_s2 = 1.0 / float(sigma) ** 2
    pose_prior = prior if prior is not None else (lambda p: (p.reshape(p.shape[0], -1) ** 2).sum(1))
    body = PosingBody(model)
    off_steps = offset_steps if offsets else 0
    total = steps + off_steps
    history: list[float] = []
    stages: list[int] = []
    step = 0

    def draw():
        vi = torch.randperm(V, generator=gen)[:n_vert].to(device)
        si = torch.randperm(Q, generator=gen)[:n_scan].to(device)
        return vi, si

    # 1. placement
    with torch.no_grad():
        orients = placement_orients(turns, upside_down, dtype).to(device)
        C = orients.shape[0]
        zero = torch.zeros(C, 3, dtype=dtype, device=device)
        rest = body(torch.zeros(C, S, dtype=dtype, device=device), torch.zeros(C, J - 1, 3, dtype=dtype,
                                                                                 device=device), orients, zero)[0]
        transl0 = centroid - rest.mean(1)
        vi, si = draw()
        a, b, _ = _chamfer_terms(rest + transl0[:, None], pts, None, vi, si, faces)
        keep = torch.argsort(a + b)[: min(restarts, C)]
    R = keep.shape[0]
    betas = torch.zeros(R, S, dtype=dtype, device=device, requires_grad=True)
    body_pose = torch.zeros(R, J - 1, 3, dtype=dtype, device=device, requires_grad=True)
    global_orient = orients[keep].clone().requires_grad_(True)
    transl = transl0[keep].clone().requires_grad_(True)

    def current(i=0):
        with torch.no_grad():
            return body(betas[i:i + 1], body_pose[i:i + 1], global_orient[i:i + 1], transl[i:i + 1])[0][0]

    def report(loss, vertices_fn) -> bool:
        nonlocal step
        history.append(loss)
        step += 1
        return progress is None or progress(step, total, loss, vertices_fn) is not False

    # 2. shape and pose, three sub-stages of decreasing prior weight
    split = [steps - 2 * (steps // 3), steps // 3, steps // 3]
    stopped = False
    for k, n in enumerate(split):
        if stopped or n == 0:
            continue
        scale = 10.0 ** -k
        stages.append(step)
        opt = torch.optim.Adam([{"params": [body_pose, global_orient], "lr": lr},
                                {"params": [betas], "lr": 5 * lr}, {"params": [transl], "lr": lr / 2}])
        for _ in range(n):
            vi, si = draw()
            verts = body(betas, body_pose, global_orient, transl)[0]
            to_scan, to_body, normal = _chamfer_terms(verts, pts, nrm, vi, si, faces)
            data = (to_scan + to_body) * inv_s2 + normal
            reg = scale * (w_pose * pose_prior(body_pose.reshape(R, -1)) + w_shape * (betas ** 2).sum(1)
                           + w_bend * bend_penalty(body_pose))
            loss = (data + reg).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not report(float(loss.detach()) / R, current):
                stopped = True
                break
        if k == 0 and R > 1:  # the best restart goes on alone
            with torch.no_grad():
                best = int(torch.argmin(to_scan + to_body))
            betas = betas.detach()[best:best + 1].requires_grad_(True)
            body_pose = body_pose.detach()[best:best + 1].requires_grad_(True)
            global_orient = global_orient.detach()[best:best + 1].requires_grad_(True)
            transl = transl.detach()[best:best + 1].requires_grad_(True)
            R = 1

    with torch.no_grad():
        posed, world = body(betas[:1], body_pose[:1], global_orient[:1], transl[:1])
        base = posed[0]
        rot = torch.einsum("vj,jab->vab", model.weights, world[0, :, :3, :3])  # (V, 3, 3)

    # 3. offsets in the rest frame, turned by each vertex's blended rotation
    D = None
    if off_steps and not stopped:
        stages.append(step)
        edges = Meshes([model.v_template], [faces]).edges_packed()
        L = laplacian(model.v_template, edges)
        D = torch.zeros(V, 3, dtype=dtype, device=device, requires_grad=True)
        opt = torch.optim.Adam([D], lr=float(sigma) / 10)
        for _ in range(off_steps):
            vi, si = draw()
            verts = base + torch.einsum("vab,vb->va", rot, D)
            to_scan, to_body, normal = _chamfer_terms(verts[None], pts, nrm, vi, si, faces)
            smooth = (torch.sparse.mm(L, D) ** 2).sum(1).mean()
            loss = ((to_scan + to_body) * inv_s2 + normal).sum() + (w_laplacian * smooth
                                                                    + w_offset * (D ** 2).sum(1).mean()) * inv_s2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not report(float(loss.detach()), lambda: (base + torch.einsum("vab,vb->va", rot, D)).detach()):
                break
        D = D.detach()

    with torch.no_grad():
        verts = base if D is None else base + torch.einsum("vab,vb->va", rot, D)
        final = chamfer_distance(verts[None], pts[None])[0]
    return ScanFit(betas=betas.detach()[0], body_pose=body_pose.detach()[0], global_orient=global_orient.detach()[0],
                   transl=transl.detach()[0], offsets=D, vertices=verts, chamfer=float(final), history=history,
                   stages=stages)

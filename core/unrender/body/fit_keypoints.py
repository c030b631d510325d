"""SMPLify-style fitting of a body model to 2-D keypoints, batched over people and restarts.

The camera is a pinhole at the origin looking down +Z with Y down (OpenCV):
``u = f x / z + cx``, ``v = f y / z + cy``. Bodies (Y up, facing +Z in their
own frame) start upright and facing the camera (``global_orient`` a half turn
about X), or facing away (another half turn about their vertical axis):
both are fitted and the lower final loss wins, since 2-D keypoints alone
often cannot tell them apart.

Stages, as in SMPLify:

1. camera translation and global orientation from the torso (shoulders and
   hips), depth first guessed from the torso's height in pixels;
2. everything (shape, pose, orientation, translation) with the robust
   Geman-McClure reprojection term weighted by confidence, the
   Gaussian-mixture pose prior, an L2 shape prior and the one-way elbow and
   knee term, in a few sub-stages whose prior weights decrease, and
   SMPLify's interpenetration term on spheres inside the body parts
   (:class:`~unrender.body.collision.BodySpheres`), which keeps a limb whose
   depth the keypoints leave free (a forearm across the chest) out of the torso.

Only the vertices the keypoint regressor reads are skinned (the joints come
from the shape linearly), so a step costs a few hundred vertices per body
whatever the mesh size: 50 people with two restarts fit in seconds.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ..geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..io.openpose import KEYPOINT_LAYOUTS, convert_layout
from .collision import BodySpheres
from .model import KEYPOINT_REGRESSORS, BodyModel, PosingBody
from .poses import sample_body_poses
from .priors import PosePrior, bend_penalty, geman_mcclure

__all__ = ["KeypointFit", "default_pose_prior", "fit_keypoints", "project_points"]

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def project_points(points: torch.Tensor, focal: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Pinhole projection ``(B, N, 3)`` camera-frame points -> ``(B, N, 2)`` pixels (``focal (B,)``,
    ``center (B, 2)``); depths are clamped at 1 mm so points behind the camera stay finite."""
    z = points[..., 2:3].clamp_min(1e-3)
    return points[..., :2] / z * focal[:, None, None] + center[:, None, :]


class _KeypointBody:
    """The keypoints of a body model, skinning only the vertices the regressor reads."""

    def __init__(self, model: BodyModel, layout: str, dtype=torch.float64):
        reg = getattr(model, KEYPOINT_REGRESSORS[layout]).to(dtype)
        support = torch.nonzero(reg.abs().sum(0) > 0).squeeze(1)
        self.regressor = reg[:, support]  # (K, S)
        self.body = PosingBody(model, support, dtype=dtype)
        self.num_betas = model.num_betas

    def __call__(self, betas, body_pose, global_orient, transl) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, K, 3)`` keypoints in the camera frame (regressor rows sum to 1: ``transl`` passes through)
        and the joints' world transforms ``(B, J, 4, 4)`` (without ``transl``)."""
        verts, world = self.body(betas, body_pose, global_orient, transl)
        return torch.einsum("ks,bsc->bkc", self.regressor, verts), world


@dataclass
class KeypointFit:
    """Fitted parameters per person (the winning restart), float64.

    Attributes:
        betas ``(P, S)``, body_pose ``(P, J-1, 3)``, global_orient ``(P, 3)``,
        transl ``(P, 3)`` (camera frame, metres), loss ``(P,)`` (final total),
        reprojection_px ``(P,)`` (confidence-weighted mean keypoint error in
        pixels), restart ``(P,)`` (0: facing the camera, 1: facing away),
        history (total loss per step, summed over the batch).
    """

    betas: torch.Tensor
    body_pose: torch.Tensor
    global_orient: torch.Tensor
    transl: torch.Tensor
    loss: torch.Tensor
    reprojection_px: torch.Tensor
    restart: torch.Tensor
    history: list


@functools.lru_cache(maxsize=1)
def default_pose_prior() -> PosePrior:
    """unrender's pose prior: 8 Gaussians fitted by EM to 4000 poses of
    :func:`~unrender.body.poses.sample_body_poses` (seeded: the same prior every time, ~2 s once)."""
    return PosePrior.fit(sample_body_poses(4000, seed=5, dtype=torch.float64), k=8, iterations=50)


def _starts(P: int, dtype) -> torch.Tensor:
    """``(2P, 3)`` axis-angle global orientations: upright facing the camera, then facing away."""
    facing = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=dtype))
    away = facing @ axis_angle_to_matrix(torch.tensor([0.0, math.pi, 0.0], dtype=dtype))
    both = matrix_to_axis_angle(torch.stack([facing, away]))
    return both.repeat_interleave(P, 0)


def fit_keypoints(
    model: BodyModel,
    keypoints: torch.Tensor,
    layout: str,
    focal,
    center,
    *,
    prior: PosePrior | None = None,
    steps: tuple[int, int] = (60, 240),
    num_betas: int = 10,
    sigma_px: float = 100.0,
    lr: float = 0.05,
    w_prior: float = 1.0,
    w_collision: float = 1.0,
    progress=None,
) -> KeypointFit:
    """Fit shape, pose, orientation and translation of ``P`` people to 2-D keypoints.

    Args:
        model: the body model (it needs a keypoint regressor of ``layout``, or of
            ``body25`` for ``coco17`` / ``coco18`` keypoints, which are converted).
        keypoints: ``(P, K, 3)`` pixels and confidence.
        layout: ``"body25"``, ``"coco17"`` or ``"coco18"``.
        focal: focal length in pixels (a number or ``(P,)``). center: principal point ``(2,)`` or ``(P, 2)``.
        prior: the pose prior; None: an L2 pose prior (:func:`default_pose_prior` is unrender's
            Gaussian mixture, what the fitting methods use).
        w_prior: weight of the pose prior against the reprojection term.
        w_collision: weight of the interpenetration term (squared sphere overlaps in cm^2); 0: off.
        steps: Adam steps of the torso stage and of the full stage.
        progress: ``progress(step, total, loss) -> bool``; False stops early.
    Returns:
        a :class:`KeypointFit`.
    """
    if keypoints.dim() != 3 or keypoints.shape[-1] != 3:
        raise ValueError(f"keypoints: expected (P, K, 3) pixels and confidence, found shape {tuple(keypoints.shape)}")
    if layout not in KEYPOINT_LAYOUTS:
        raise ValueError(f"layout: expected one of {sorted(KEYPOINT_LAYOUTS)}, found {layout!r}")
    target_layout = layout if layout in model.keypoint_layouts else "body25"
    if target_layout not in model.keypoint_layouts:
        raise ValueError(f"model: expected a keypoint regressor for {layout} or body25, found "
                         f"{list(model.keypoint_layouts) or 'none'}")
    dtype = torch.float64
    kp = keypoints.to(dtype)
    if target_layout != layout:
        kp = convert_layout(kp, layout, target_layout)
    names = KEYPOINT_LAYOUTS[target_layout]
    P, K = kp.shape[:2]
    body = _KeypointBody(model, target_layout, dtype)
    S = min(num_betas, body.num_betas)
    focal = torch.as_tensor(focal, dtype=dtype).expand(P).clone()
    center = torch.as_tensor(center, dtype=dtype).expand(P, 2).clone()

    # Two restarts per person, one batch.
    R = 2
    kp2, conf = kp[..., :2].repeat(R, 1, 1), kp[..., 2].repeat(R, 1)
    f2, c2 = focal.repeat(R), center.repeat(R, 1)
    torso = torch.tensor([names.index(n) for n in _TORSO])
    # Depth from the torso height: shoulders-to-hips in pixels against the template's in metres.
    zero = torch.zeros(1, S, dtype=dtype)
    rest = body(zero, torch.zeros(1, 23, 3, dtype=dtype), torch.zeros(1, 3, dtype=dtype), torch.zeros(1, 3, dtype=dtype))[0][0]
    rest_h = float((rest[torso[:2]].mean(0) - rest[torso[2:]].mean(0)).norm())
    px_h = (kp2[:, torso[:2]].mean(1) - kp2[:, torso[2:]].mean(1)).norm(dim=1).clamp_min(1.0)
    depth = f2 * rest_h / px_h
    mid = kp2[:, torso].mean(1)
    transl = torch.cat([(mid - c2) / f2[:, None] * depth[:, None], depth[:, None]], 1)
    # The template's torso centre sits at its own height: shift so it projects onto the keypoints' centre.
    global_orient = _starts(P, dtype)
    torso_centre = axis_angle_to_matrix(global_orient) @ rest[torso].mean(0)
    transl = transl - torso_centre
    betas = torch.zeros(R * P, S, dtype=dtype)
    body_pose = torch.zeros(R * P, 23, 3, dtype=dtype)
    w = conf.clamp(0, 1)
    total = steps[0] + steps[1]
    history: list[float] = []

    def reprojection(pred, which=None):
        uv = project_points(pred, f2, c2)
        r = (uv - kp2).norm(dim=-1)  # (B, K)
        ww = w if which is None else w * which
        return (ww * geman_mcclure(r, sigma_px)).sum(1) / ww.sum(1).clamp_min(1e-6), r

    step = 0

    def descend(opt, loss) -> bool:
        """One Adam step on ``loss``; whether to go on (the progress callback may stop the fit)."""
        nonlocal step
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        step += 1
        return progress is None or progress(step, total, history[-1]) is not False

    # Stage 1: torso only, orientation and translation.
    go, tr = global_orient.clone().requires_grad_(True), transl.clone().requires_grad_(True)
    opt = torch.optim.Adam([go, tr], lr=lr)
    torso_mask = torch.zeros(K, dtype=dtype)
    torso_mask[torso] = 1.0
    going = True
    for _ in range(steps[0]):
        loss_b, _ = reprojection(body(betas, body_pose, go, tr)[0], torso_mask)
        if not (going := descend(opt, loss_b.sum())):
            break
    global_orient, transl = go.detach(), tr.detach()

    # Stage 2: everything, priors relaxed in three sub-stages.
    params = [t.clone().requires_grad_(True) for t in (betas, body_pose, global_orient, transl)]
    opt = torch.optim.Adam(params, lr=lr)
    weights = ((4.0, 1.0), (1.0, 0.3), (0.3, 0.1))  # (pose prior, shape prior) per sub-stage, in px^2 units
    per = max(steps[1] // len(weights), 1)
    scale = sigma_px**2 * 1e-3
    spheres = BodySpheres(model) if w_collision > 0 else None
    loss_b = None
    for i in range(steps[1] if going else 0):
        w_pose, w_shape = weights[min(i // per, len(weights) - 1)]
        b, pose, go, tr = params
        pred, world = body(b, pose, go, tr)
        data, _ = reprojection(pred)
        reg = w_shape * scale * (b * b).sum(1) + 100.0 * scale * bend_penalty(pose)
        if spheres is not None:
            reg = reg + w_collision * scale * 1e4 * spheres.penalty(world)
        if prior is not None:
            reg = reg + w_pose * scale * w_prior * prior(pose.reshape(pose.shape[0], -1))
        else:
            reg = reg + w_pose * scale * (pose * pose).sum((1, 2))
        loss_b = data + reg
        if not descend(opt, loss_b.sum()):
            break

    b, pose, go, tr = (t.detach() for t in params)
    with torch.no_grad():
        data, r = reprojection(body(b, pose, go, tr)[0])
        final = loss_b.detach() if loss_b is not None else data  # the last step's total (data + priors)
        err = (w * r).sum(1) / w.sum(1).clamp_min(1e-6)
    best = final.view(R, P).argmin(0)  # (P,)
    pick = best * P + torch.arange(P)
    return KeypointFit(betas=b[pick], body_pose=pose[pick], global_orient=go[pick], transl=tr[pick],
                       loss=final[pick], reprojection_px=err[pick], restart=best, history=history)

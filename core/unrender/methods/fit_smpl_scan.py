"""``fit-smpl-scan``: fit a body model's shape and pose to a scan (a mesh or point cloud).

The scan is taken to be in the model's units (metres for SMPL and the
default body), Y up or down and turned any way about Y; the fit places the
body itself (:func:`unrender.body.fit_scan.fit_scan`). A mesh target is
sampled once (seeded, area-uniform) to ``scan_points`` points. Outputs are in
the target's frame: the fitted mesh (with the per-vertex offsets when
``offsets`` is on) and the body parameters (``frame: "target"``).
"""

from __future__ import annotations

import torch

from ..body.fit_keypoints import default_pose_prior
from ..body.fit_scan import MIN_SCAN_POINTS, fit_scan, random_scan
from ..body.model import BodyModel
from ..geometry import sample_points_from_meshes
from ..geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..io.body_params import BodyParameters
from ..ops import knn_points
from ..structures import Meshes, PointClouds
from .base import Input, Method, Output, Param, Result
from .registry import register
from .runner import Tracker

__all__ = ["FitSmplScan"]

SMPL_JOINTS = 24


def _load_model(path: str, device) -> BodyModel:
    """The body model of ``path`` ("" the shipped default), checked to have SMPL's 24-joint tree."""
    model = BodyModel.default(device=device) if not path else BodyModel.load(path, device=device)
    if model.num_joints != SMPL_JOINTS:
        raise ValueError(f"model: expected SMPL's {SMPL_JOINTS}-joint tree (the pose prior and joint limits "
                         f"are SMPL's), found {model.num_joints} joints in {path or 'the default body'}")
    return model


@register
class FitSmplScan(Method):
    id = "fit-smpl-scan"
    label = "Fit body to scan"
    description = (
        "Fit a body model's shape and pose (and optionally per-vertex offsets for clothing) to a scan "
        "by chamfer distance with pose and shape priors. The scan is taken to be in the model's units (metres)."
    )
    inputs = (Input("target", ("mesh", "points"), "the scan: a mesh (sampled once) or a point cloud"),)
    params = (
        Param("model", "", "body model file (SMPL .pkl / .npz or unrender's .npz); empty: the shipped default body"),
        Param("steps", 300, "Adam steps of the shape-and-pose stage", minimum=3, maximum=100_000),
        Param("offsets", False, "then fit per-vertex offsets (clothing, hair) with a smoothness term"),
        Param("offset_steps", 100, "Adam steps of the offset stage", minimum=1, maximum=100_000),
        Param("scan_points", 20000, "points sampled from a mesh target; ignored for a point cloud",
              minimum=MIN_SCAN_POINTS, maximum=1_000_000),
        Param("pose_prior", 1.0, "weight of the pose prior (it decreases to 1% along the fit)", minimum=0.0,
              maximum=1e4),
        Param("vertical", "y", "the scan's vertical axis: y (SMPL, OBJ files) or z (Blender's world); a z-up scan is "
              "fitted turned to y-up and the results are turned back", choices=("y", "z")),
        Param("shape_prior", 1.0, "weight of the L2 shape prior |betas|^2", minimum=0.0, maximum=1e4),
    )
    outputs = (
        Output("mesh", "mesh", "the fitted body, in the target's frame"),
        Output("body", "body", "the fitted body's parameters and skeleton (frame 'target')"),
    )

    def run(self, inputs, params, progress) -> Result:
        """Fit the model to ``inputs["target"]``; metrics ``chamfer`` (squared distances, both directions,
        means over the vertices and the scan points) and ``mean_distance`` (scan point to nearest fitted
        vertex), both in the target's units."""
        device = torch.device(params["device"])
        target = inputs["target"]
        gen = torch.Generator(device=device).manual_seed(params["seed"])
        if isinstance(target, Meshes):
            pts = sample_points_from_meshes(target, params["scan_points"], generator=gen)[0]
        else:
            pts = target.points_list()[0]
        # Z-up scans are turned to Y-up for the fit (the placement search turns about Y): (x, y, z) -> (x, z, -y).
        up = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=pts.dtype, device=pts.device)
        if params["vertical"] == "z":
            pts = pts @ up.T
        if pts.shape[0] < MIN_SCAN_POINTS:
            raise ValueError(f"target: expected a point cloud of at least {MIN_SCAN_POINTS} points, "
                             f"found {pts.shape[0]}")
        model = _load_model(params["model"], device)
        faces = model.faces.cpu()
        total = params["steps"] + (params["offset_steps"] if params["offsets"] else 0)
        tracker = Tracker(progress, total)

        def report(step, total, loss, vertices):
            back = up.T.to(torch.float32) if params["vertical"] == "z" else None  # previews in the scan's frame
            return tracker.update(step - 1, loss, lambda: Meshes(
                [vertices().cpu().float() @ back.T if back is not None else vertices().cpu()], [faces]))

        fit = fit_scan(model, pts.detach(), prior=default_pose_prior(), steps=params["steps"],
                       offsets=params["offsets"], offset_steps=params["offset_steps"],
                       w_pose=params["pose_prior"], w_shape=params["shape_prior"], seed=params["seed"],
                       progress=report)
        with torch.no_grad():
            rest_joints = model(betas=fit.betas[None]).rest_joints[0]
            near = knn_points(pts[None].to(fit.vertices), fit.vertices[None]).dists[0, :, 0]
        vertices, global_orient, transl = fit.vertices, fit.global_orient, fit.transl
        if params["vertical"] == "z":  # back to the scan's frame: R' = U^T R, t' = U^T (t + root) - root
            U = up.to(vertices.dtype).T
            root = rest_joints[0].to(vertices.dtype)
            vertices = vertices @ U.T
            global_orient = matrix_to_axis_angle(U @ axis_angle_to_matrix(global_orient[None].to(U)))[0]
            transl = U @ (transl.to(U) + root) - root
        body = BodyParameters(
            betas=fit.betas.double().cpu(), body_pose=fit.body_pose.double().cpu(),
            global_orient=global_orient.double().cpu(), transl=transl.double().cpu(),
            joint_names=model.joint_names, parents=tuple(int(i) for i in model.parents),
            rest_joints=rest_joints.double().cpu(), model=params["model"] or "default", frame="target",
            extra={"method": self.id, "offsets": bool(params["offsets"])},
        )
        labels = ["shape and pose, strong priors", "shape and pose", "shape and pose, weak priors", "offsets"]
        return tracker.result(
            {"mesh": Meshes([vertices.cpu()], [faces]), "body": body},
            {"chamfer": fit.chamfer, "mean_distance": float(near.sqrt().mean())},
            stages=[{"step": s, "label": labels[i]} for i, s in enumerate(fit.stages)],
            scan_points=int(pts.shape[0]),
        )

    def example_inputs(self, seed: int = 0) -> dict:
        """20 000 points sampled on a random posed default body (betas within +-2, a pose of spread
        0.7, a random heading about the vertical axis and a translation)."""
        pts, _ = random_scan(BodyModel.default(), seed)
        return {"target": PointClouds([pts])}

"""``fit-smpl-keypoints``: a body model fitted to 2-D keypoints (OpenPose BODY_25, COCO-18 or COCO-17).

The fit itself is :func:`unrender.body.fit_keypoints` (SMPLify's stages,
priors and robust terms; facing and back-facing restarts). The camera is a
pinhole with focal length ``focal`` pixels (default: the image's longer side
times 1.2, about a 45-degree field of view) and its principal point at the
image centre; the image size is ``image_size`` or, when 0, the smallest
frame holding the keypoints with a margin.

Outputs are in the camera frame in Blender's and OpenGL's convention: the
camera at the origin looking down -Z with Y up, so the body stands upright
in front of it (``z < 0``). ``mesh`` is the posed body; ``body`` the
parameters (``frame: "camera"``, ``focal``, ``image_size``), which the
add-on turns into a rigged body.
"""

from __future__ import annotations

import math

import torch

from ..body import BodyModel, PosePrior, default_pose_prior, fit_keypoints, project_points
from ..geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..io import BodyParameters, convert_layout, layout_of
from ..io.openpose import check_confident_joints
from ..structures import Meshes
from .base import Input, Method, Output, Param, Result
from .registry import register

__all__ = ["FitSmplKeypoints", "example_people", "load_model"]

# OpenCV camera frame (Y down, looking down +Z) -> OpenGL / Blender camera frame (Y up, looking down -Z).
_CV_TO_GL = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))


def load_model(path: str) -> BodyModel:
    """The body model of ``path`` ("" or "default": the shipped body), float64."""
    if path in ("", "default"):
        return BodyModel.default(dtype=torch.float64)
    return BodyModel.load(path, dtype=torch.float64)


def example_people(model: BodyModel, n: int, seed: int = 0, noise_px: float = 2.0):
    """``n`` random posed bodies seen by a 1000-pixel camera: ``(truth BodyOutput, keypoints (n, 25, 3),
    focal (n,), center (n, 2), parameters dict)``, OpenCV frame."""
    from ..body import sample_body_poses

    g = torch.Generator().manual_seed(seed)
    d = torch.float64
    betas = torch.randn(n, model.num_betas, generator=g, dtype=d).clamp(-2, 2)
    pose = sample_body_poses(n, seed=seed + 1, dtype=d, spread=0.7)
    yaw = (torch.rand(n, generator=g, dtype=d) - 0.5) * math.radians(120)
    upright = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0], dtype=d))
    turn = axis_angle_to_matrix(torch.stack([torch.zeros_like(yaw), yaw, torch.zeros_like(yaw)], 1))
    orient = matrix_to_axis_angle(upright @ turn)
    transl = torch.stack([torch.rand(n, generator=g, dtype=d) - 0.5, (torch.rand(n, generator=g, dtype=d) - 0.5) * 0.5,
                          3 + 2 * torch.rand(n, generator=g, dtype=d)], 1)
    truth = model(betas=betas, body_pose=pose, global_orient=orient, transl=transl)
    focal, center = torch.full((n,), 1000.0, dtype=d), torch.tensor([500.0, 500.0], dtype=d).expand(n, 2)
    uv = project_points(truth.keypoints["body25"], focal, center)
    uv = uv + torch.randn(uv.shape, generator=g, dtype=d) * noise_px
    kp = torch.cat([uv, torch.ones(n, uv.shape[1], 1, dtype=d)], -1)
    params = {"betas": betas, "body_pose": pose, "global_orient": orient, "transl": transl}
    return truth, kp, focal, center, params


@register
class FitSmplKeypoints(Method):
    id = "fit-smpl-keypoints"
    label = "Fit body to keypoints"
    description = (
        "Fit a body model (the shipped default body, or an SMPL file) to 2-D keypoints such as an OpenPose "
        "JSON: shape, pose, orientation and camera translation, SMPLify-style (robust reprojection, "
        "Gaussian-mixture pose prior, shape prior, one-way elbows and knees, interpenetration, facing/back-facing "
        "restarts)."
    )
    inputs = (
        Input("keypoints", ("keypoints",), "(K, 3) pixels and confidence in BODY_25, COCO-18 or COCO-17 order "
              "(an OpenPose JSON file: its most confident person)"),
    )
    params = (
        Param("model", "", "body model file (SMPL .pkl / .npz, smplx .npz, unrender .npz); empty: the shipped "
              "default body"),
        Param("focal", 0.0, "focal length in pixels; 0: 1.2 times the image's longer side", minimum=0.0,
              maximum=1e6),
        Param("image_width", 0, "image width in pixels; 0: from the keypoints' extent", minimum=0, maximum=100_000),
        Param("image_height", 0, "image height in pixels; 0: from the keypoints' extent", minimum=0,
              maximum=100_000),
        Param("steps", 240, "Adam steps of the full fit (after 60 for the torso)", minimum=1, maximum=100_000),
        Param("pose_prior", "", "Gaussian-mixture pose prior (.npz with weights, means, covariances over the 69 "
              "body-pose numbers); empty: unrender's, fitted to its plausible-pose sampler"),
        Param("w_prior", 1.0, "weight of the pose prior", minimum=0.0, maximum=1e4),
        Param("w_collision", 1.0, "weight of the interpenetration term (spheres inside the body parts); 0: off",
              minimum=0.0, maximum=1e4),
        Param("min_joints", 8, "fewest joints with confidence above 0.1 for a fit", minimum=4, maximum=25),
    )
    outputs = (
        Output("mesh", "mesh", "the posed body, camera frame (camera at the origin looking down -Z, Y up)"),
        Output("body", "body", "the fitted parameters and skeleton, for a rigged body"),
    )

    def example_inputs(self, seed: int = 0) -> dict:
        _, kp, _, _, _ = example_people(load_model(""), 1, seed)
        return {"keypoints": kp[0].float()}

    def run(self, inputs: dict, params: dict, progress) -> Result:
        kp = inputs["keypoints"].detach().cpu().to(torch.float64)
        if kp.shape[1] != 3:
            raise ValueError(f"keypoints: expected (K, 3) pixels and confidence, found shape {tuple(kp.shape)}")
        layout = layout_of(kp.shape[0])
        check_confident_joints(kp[None], layout, minimum=params["min_joints"])
        model = load_model(params["model"])
        prior = PosePrior.load(params["pose_prior"]) if params["pose_prior"] else default_pose_prior()
        if prior.dim != (model.num_joints - 1) * 3:
            raise ValueError(f"pose_prior: expected a prior over {(model.num_joints - 1) * 3} numbers, found {prior.dim}")
        W, H = params["image_width"], params["image_height"]
        seen = kp[kp[:, 2] > 0.1, :2]
        if not W or not H:  # the smallest frame holding the keypoints, with a margin of 20 %
            extent = seen.max(0).values + 0.2 * (seen.max(0).values - seen.min(0).values).clamp_min(10.0)
            W = W or int(math.ceil(float(extent[0])))
            H = H or int(math.ceil(float(extent[1])))
        focal = params["focal"] or 1.2 * max(W, H)
        center = torch.tensor([W / 2.0, H / 2.0], dtype=torch.float64)

        def report(step, total, loss):
            return progress(step, total, loss)

        fit = fit_keypoints(model, kp[None], layout, focal, center, prior=prior, w_prior=params["w_prior"],
                            w_collision=params["w_collision"], steps=(60, params["steps"]), progress=report)
        # OpenCV camera frame -> OpenGL camera frame: a half turn about the camera's X axis (C). A body
        # places its rest vertices x by R (x - root) + root + t; in the new frame R' = C R and
        # t' = C (t + root) - root.
        C = _CV_TO_GL
        rest = model(betas=fit.betas)
        root = rest.rest_joints[0, 0]
        R_gl = C @ axis_angle_to_matrix(fit.global_orient[0])
        transl_gl = C @ (fit.transl[0] + root) - root
        go_gl = matrix_to_axis_angle(R_gl)
        out = model(betas=fit.betas, body_pose=fit.body_pose, global_orient=go_gl[None], transl=transl_gl[None])
        verts = out.vertices[0]
        # The fitted body's keypoints in the picture, in the given layout.
        cv = model(betas=fit.betas, body_pose=fit.body_pose, global_orient=fit.global_orient, transl=fit.transl)
        own = layout if layout in model.keypoint_layouts else "body25"
        uv = project_points(cv.keypoints[own], torch.tensor([float(focal)], dtype=torch.float64), center[None])
        if own != layout:
            uv = convert_layout(torch.cat([uv, torch.ones_like(uv[..., :1])], -1), own, layout)[..., :2]
        body = BodyParameters(
            betas=fit.betas[0], body_pose=fit.body_pose[0], global_orient=go_gl,
            transl=transl_gl, joint_names=tuple(model.joint_names), parents=tuple(int(p) for p in model.parents),
            rest_joints=out.rest_joints[0], model=params["model"] or "default", frame="camera",
            focal=float(focal), image_size=(int(W), int(H)),
            extra={"layout": layout, "restart": "facing away" if int(fit.restart[0]) else "facing the camera",
                   "keypoints": kp.tolist(), "fitted_keypoints": uv[0].tolist()},
        )
        mesh = Meshes([verts.float()], [model.faces])
        warnings = []
        if float(fit.reprojection_px[0]) > 0.05 * max(W, H):
            warnings.append(f"the body's keypoints stay {float(fit.reprojection_px[0]):.1f} px from the given ones on "
                            f"average: check the layout and the confidences")
        return Result(
            outputs={"mesh": mesh, "body": body},
            metrics={"reprojection_px": float(fit.reprojection_px[0]), "loss": float(fit.loss[0])},
            history=list(fit.history),
            extra={"layout": layout, "focal": float(focal), "image_size": [int(W), int(H)],
                   "restart": body.extra["restart"]},
            warnings=warnings,
        )

    def pictures(self, inputs: dict, result: Result) -> dict:
        """``overlay``: the fitted body drawn from the camera with the given keypoints (red) and the body's
        own keypoints (green) over it."""
        from .body_pictures import keypoint_overlay

        return {"overlay": keypoint_overlay(result.outputs["mesh"], result.outputs["body"], inputs["keypoints"])}

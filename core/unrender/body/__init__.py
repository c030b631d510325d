"""Human bodies: linear blend skinning for any skeleton and the SMPL body model.

``skinning.py`` poses rest vertices with per-joint rotations (axis-angle,
matrices or 6D) along a tree of joints; ``model.py`` holds :class:`BodyModel`
(SMPL's numerics: shape blend, joints regressed from the shaped mesh, pose
correctives, skinning, OpenPose BODY_25 / COCO-17 keypoint regressors);
``landmarks.py`` builds those regressors from any SMPL-layout model's own
geometry (for files that hold none: SMPL ``.pkl``, smplx ``.npz``);
``procedural.py`` a tiny tube body for tests; ``poses.py`` plausible random
poses within per-joint ranges; ``priors.py`` SMPLify's priors and robust
terms (Gaussian-mixture pose prior, Geman-McClure, one-way elbows and knees);
``collision.py`` SMPLify's interpenetration proxy (spheres inside the body
parts) and a winding-number measure of buried vertices; ``fit_keypoints.py`` and ``fit_scan.py`` fit a model to 2-D keypoints and to scans.
``data/default_body.npz`` is the shipped body built from MakeHuman's CC0 data
(``scripts/build_default_body.py``). Files are read and written by
:mod:`unrender.io.body_models`.
"""

from .collision import BodySpheres, buried_fraction, tree_distances
from .fit_keypoints import KeypointFit, default_pose_prior, fit_keypoints, project_points
from .fit_scan import MIN_SCAN_POINTS, ScanFit, fit_scan, placement_orients, random_scan
from .landmarks import has_smpl_tree, keypoint_regressors
from .model import KEYPOINT_REGRESSORS, BodyModel, BodyOutput, PosingBody, default_body_path
from .poses import JOINT_RANGES_DEG, sample_body_poses
from .priors import PosePrior, bend_penalty, fit_gmm, geman_mcclure
from .procedural import BODY25_NEAREST_JOINT, COCO17_NEAREST_JOINT, procedural_body_arrays
from .skinning import (batch_rigid_transform, linear_blend_skinning, parent_levels, rotations_to_matrices,
                       skinning_transforms)

__all__ = [
    "BodyModel",
    "BodyOutput",
    "PosingBody",
    "default_body_path",
    "BodySpheres",
    "buried_fraction",
    "tree_distances",
    "KeypointFit",
    "default_pose_prior",
    "fit_keypoints",
    "project_points",
    "ScanFit",
    "fit_scan",
    "placement_orients",
    "random_scan",
    "MIN_SCAN_POINTS",
    "KEYPOINT_REGRESSORS",
    "keypoint_regressors",
    "has_smpl_tree",
    "procedural_body_arrays",
    "BODY25_NEAREST_JOINT",
    "COCO17_NEAREST_JOINT",
    "rotations_to_matrices",
    "parent_levels",
    "batch_rigid_transform",
    "skinning_transforms",
    "linear_blend_skinning",
    "JOINT_RANGES_DEG",
    "sample_body_poses",
    "PosePrior",
    "bend_penalty",
    "fit_gmm",
    "geman_mcclure",
]

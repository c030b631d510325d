"""Human bodies: linear blend skinning for any skeleton and the SMPL body model.

``skinning.py`` poses rest vertices with per-joint rotations (axis-angle,
matrices or 6D) along a tree of joints; ``model.py`` holds :class:`BodyModel`
(SMPL's numerics: shape blend, joints regressed from the shaped mesh, pose
correctives, skinning, OpenPose BODY_25 / COCO-17 keypoint regressors);
``procedural.py`` a tiny tube body for tests. Files are read and written by
:mod:`unrender.io.body_models`.
"""

from .model import KEYPOINT_LAYOUTS, BodyModel, BodyOutput
from .procedural import BODY25_NEAREST_JOINT, COCO17_NEAREST_JOINT, procedural_body_arrays
from .skinning import (batch_rigid_transform, linear_blend_skinning, parent_levels, rotations_to_matrices,
                       skinning_transforms)

__all__ = [
    "BodyModel",
    "BodyOutput",
    "KEYPOINT_LAYOUTS",
    "procedural_body_arrays",
    "BODY25_NEAREST_JOINT",
    "COCO17_NEAREST_JOINT",
    "rotations_to_matrices",
    "parent_levels",
    "batch_rigid_transform",
    "skinning_transforms",
    "linear_blend_skinning",
]

"""Plausible random body poses for SMPL's 24-joint tree, and the joints' bending limits.

Joint rotations are sampled as ``XYZ`` Euler angles within per-joint ranges
(degrees) in SMPL's frame: Y up, the body facing +Z, +X on the body's left.
With that frame, knee flexion is a positive rotation about X, hip flexion a
negative one, the left elbow bends about -Y and the right about +Y, and the
left arm comes down from the T-pose by a negative rotation about Z. Right-side
ranges mirror the left ones across the body's plane of symmetry (``(x, y, z)
-> (x, -y, -z)``). The ranges are ordinary human ranges of motion, kept a
little narrower than the extremes so that random poses look like people.
"""

from __future__ import annotations

import torch

from ..geometry.rotations import euler_angles_to_matrix, matrix_to_axis_angle
from ..io.body_models import SMPL_JOINT_NAMES

__all__ = ["JOINT_RANGES_DEG", "sample_body_poses"]

# (x, y, z) ranges in degrees of the left (or central) joints; right joints mirror their left twin.
_LEFT = {
    "left_hip": ((-95, 25), (-25, 25), (-10, 40)),
    "spine1": ((-15, 30), (-20, 20), (-15, 15)),
    "left_knee": ((0, 130), (-5, 5), (-5, 5)),
    "spine2": ((-10, 20), (-15, 15), (-10, 10)),
    "left_ankle": ((-30, 30), (-10, 10), (-10, 10)),
    "spine3": ((-10, 20), (-15, 15), (-10, 10)),
    "left_foot": ((-10, 10), (-5, 5), (-5, 5)),
    "neck": ((-20, 30), (-30, 30), (-15, 15)),
    "left_collar": ((-10, 10), (-15, 10), (-10, 20)),
    "head": ((-20, 20), (-40, 40), (-15, 15)),
    "left_shoulder": ((-40, 40), (-70, 50), (-85, 60)),
    "left_elbow": ((-10, 10), (-140, 0), (-5, 5)),
    "left_wrist": ((-30, 30), (-30, 30), (-40, 40)),
    "left_hand": ((-10, 10), (-10, 10), (-10, 10)),
}


def _ranges() -> dict[str, tuple[tuple[float, float], ...]]:
    out = {"pelvis": ((0, 0), (0, 0), (0, 0))}
    for name, (x, y, z) in _LEFT.items():
        out[name] = (x, y, z)
        if name.startswith("left_"):
            out["right_" + name[5:]] = (x, (-y[1], -y[0]), (-z[1], -z[0]))
    return out


JOINT_RANGES_DEG: dict[str, tuple[tuple[float, float], ...]] = _ranges()


def sample_body_poses(n: int, *, seed: int = 0, spread: float = 1.0, dtype=torch.float32) -> torch.Tensor:
    """``n`` random body poses ``(n, 23, 3)`` axis-angle (the 23 non-root joints, SMPL's ``body_pose``).

    Each Euler angle is drawn from a Beta(2, 2) over its range (mostly mid-range, rarely at
    the limits), scaled about the range's middle by ``spread`` (0: the mid pose of every range).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int, found {n!r}")
    if not 0.0 <= float(spread) <= 1.0:
        raise ValueError(f"spread: expected a number in [0, 1], found {spread!r}")
    g = torch.Generator().manual_seed(seed)
    lo = torch.tensor([[r[0] for r in JOINT_RANGES_DEG[name]] for name in SMPL_JOINT_NAMES[1:]], dtype=torch.float64)
    hi = torch.tensor([[r[1] for r in JOINT_RANGES_DEG[name]] for name in SMPL_JOINT_NAMES[1:]], dtype=torch.float64)
    u = _beta22(g, (n, 23, 3))
    mid = 0.5 * (lo + hi)
    deg = mid + (lo + u * (hi - lo) - mid) * float(spread)
    R = euler_angles_to_matrix(torch.deg2rad(deg), "XYZ")
    return matrix_to_axis_angle(R).to(dtype)


def _beta22(g: torch.Generator, shape) -> torch.Tensor:
    """Beta(2, 2) samples from a seeded generator: the median of three uniforms."""
    u = torch.rand((*shape, 3), generator=g, dtype=torch.float64)
    return u.median(dim=-1).values

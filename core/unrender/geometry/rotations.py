"""Rotation conversions: matrices, quaternions, axis-angle, Euler angles, 6D.

Every function takes tensors with any number of leading batch dimensions
``(...)`` and matches ``pytorch3d.transforms`` where a function of the same name
exists there (same conventions, same outputs up to rounding).

Conventions (the PyTorch3D ones):

* Rotation matrices act on column vectors: ``x' = R @ x``, shape ``(..., 3, 3)``.
* Quaternions are ``(w, x, y, z)``, real part first, shape ``(..., 4)``.
* Axis-angle (also the SO(3) logarithm) is a vector ``(..., 3)`` whose direction
  is the axis and whose length is the anticlockwise angle in radians.
* The 6D representation (Zhou et al. 2019) is the first two *rows* of the
  matrix, ``(..., 6)``.
* ``euler_angles_to_matrix(e, "XYZ")`` is ``Rx(e[0]) @ Ry(e[1]) @ Rz(e[2])``:
  the letters name the factors of the matrix product from left to right, and
  angle ``i`` belongs to letter ``i``. All 12 conventions are valid: 6
  Tait-Bryan ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX") and 6 proper Euler
  ("XYX", "XZX", "YXY", "YZY", "ZXZ", "ZYZ").

Blender's Euler rotation modes are different: mode ``'XYZ'`` applies X first,
then Y, then Z, so its matrix is ``Rz(z) @ Ry(y) @ Rx(x)``, and the angles are
always stored as ``(x, y, z)`` whatever the mode. Blender mode ``'ABC'`` is
therefore the PyTorch3D convention ``'CBA'`` with the angles reordered to
``(angle_C, angle_B, angle_A)``; :func:`blender_euler_to_matrix` and
:func:`matrix_to_blender_euler` do that bookkeeping.

Differences from PyTorch3D, all supersets:

* ``so3_exp_map``, ``so3_log_map``, ``hat`` and ``hat_inv`` accept any batch
  shape, not only ``(N, ...)``.
* ``matrix_to_euler_angles`` goes through a quaternion, so it stays accurate near
  gimbal lock (where PyTorch3D's asin/acos-based version loses digits) and
  returns a valid decomposition exactly at the lock.
* ``random_rotations`` takes a ``torch.Generator`` for reproducible draws.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._validate import check_positive_int, check_tensor

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "standardize_quaternion",
    "quaternion_raw_multiply",
    "quaternion_multiply",
    "quaternion_invert",
    "quaternion_apply",
    "euler_angles_to_matrix",
    "matrix_to_euler_angles",
    "blender_euler_to_matrix",
    "matrix_to_blender_euler",
    "BLENDER_EULER_MODES",
    "rotation_6d_to_matrix",
    "matrix_to_rotation_6d",
    "so3_exp_map",
    "so3_log_map",
    "se3_exp_map",
    "se3_log_map",
    "rotation_error_deg",
    "hat",
    "hat_inv",
    "random_quaternions",
    "random_rotations",
]

_AXES = "XYZ"
BLENDER_EULER_MODES = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


# --------------------------------------------------------------------------- checks


def _vec(name: str, x, n: int) -> torch.Tensor:
    return check_tensor(name, x, ["...", n], floating=True)


def _mat(name: str, x) -> torch.Tensor:
    return check_tensor(name, x, ["...", 3, 3], floating=True)


def _check_convention(convention) -> str:
    ok = (
        isinstance(convention, str)
        and len(convention) == 3
        and all(c in _AXES for c in convention)
        and convention[1] != convention[0]
        and convention[1] != convention[2]
    )
    if not ok:
        raise ValueError(
            "convention: expected 3 letters from 'X', 'Y', 'Z' with the middle letter different "
            f"from its neighbours (e.g. 'XYZ' or 'ZXZ'), found {convention!r}"
        )
    return convention


def _check_blender_mode(mode) -> str:
    if mode not in BLENDER_EULER_MODES:
        raise ValueError(f"mode: expected one of Blender's Euler modes {BLENDER_EULER_MODES}, found {mode!r}")
    return mode


# --------------------------------------------------------------------------- small helpers


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(max(x, 0))`` whose gradient is 0 (not inf/NaN) where ``x <= 0``."""
    pos = x > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, x, torch.ones_like(x))), torch.zeros_like(x))


def _safe_norm(x: torch.Tensor, dim: int = -1, keepdim: bool = False) -> torch.Tensor:
    """Euclidean norm with a zero (sub)gradient at the origin."""
    return _safe_sqrt((x * x).sum(dim, keepdim=keepdim))


def _wrap_angle(a: torch.Tensor) -> torch.Tensor:
    """Map angles to ``(-pi, pi]`` (the range of ``atan2``), gradient 1."""
    two_pi = 2 * math.pi
    return a - two_pi * torch.ceil((a - math.pi) / two_pi).detach()


def _guarded_atan2(y: torch.Tensor, x: torch.Tensor, degenerate: torch.Tensor) -> torch.Tensor:
    """``atan2(y, x)``, but 0 (with finite gradients) where ``degenerate``."""
    y = torch.where(degenerate, torch.zeros_like(y), y)
    x = torch.where(degenerate, torch.ones_like(x), x)
    return torch.atan2(y, x)


def _elementary(axis: str, angle: torch.Tensor) -> torch.Tensor:
    """Rotation by ``angle (...)`` about one coordinate axis: ``(..., 3, 3)``."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "X":
        rows = (one, zero, zero, zero, c, -s, zero, s, c)
    elif axis == "Y":
        rows = (c, zero, s, zero, one, zero, -s, zero, c)
    else:
        rows = (c, -s, zero, s, c, zero, zero, zero, one)
    return torch.stack(rows, -1).unflatten(-1, (3, 3))


# --------------------------------------------------------------------------- quaternions


def standardize_quaternion(quaternions: torch.Tensor) -> torch.Tensor:
    """Flip quaternions so that the real part is non-negative.

    Args:
        quaternions: ``(..., 4)``, real part first.
    Returns:
        ``(..., 4)``.
    """
    q = _vec("quaternions", quaternions, 4)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_raw_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product ``a * b`` (broadcasting).

    Args:
        a, b: ``(..., 4)`` quaternions, real part first.
    Returns:
        ``(..., 4)``, not standardized.
    """
    _vec("a", a, 4)
    _vec("b", b, 4)
    aw, av = a[..., :1], a[..., 1:]
    bw, bv = b[..., :1], b[..., 1:]
    av, bv = torch.broadcast_tensors(av, bv)
    w = aw * bw - (av * bv).sum(-1, keepdim=True)
    v = aw * bv + bw * av + torch.linalg.cross(av, bv, dim=-1)
    return torch.cat([w, v], -1)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Compose rotations: the quaternion of "apply ``b`` then ``a``", standardized.

    Args:
        a, b: ``(..., 4)`` quaternions, real part first (broadcasting).
    Returns:
        ``(..., 4)`` with non-negative real part.
    """
    return standardize_quaternion(quaternion_raw_multiply(a, b))


def quaternion_invert(quaternion: torch.Tensor) -> torch.Tensor:
    """Inverse of a *unit* quaternion (its conjugate), like PyTorch3D.

    Args:
        quaternion: ``(..., 4)`` unit quaternions, real part first.
    Returns:
        ``(..., 4)``.
    """
    q = _vec("quaternion", quaternion, 4)
    return torch.cat([q[..., :1], -q[..., 1:]], -1)


def quaternion_apply(quaternion: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    """Rotate points: the vector part of ``q * (0, p) * conj(q)`` (broadcasting).

    Args:
        quaternion: ``(..., 4)``, real part first (unit for a pure rotation;
            a non-unit ``q`` also scales by ``|q|^2``, as in PyTorch3D).
        point: ``(..., 3)``.
    Returns:
        ``(..., 3)``.
    """
    q = _vec("quaternion", quaternion, 4)
    p = _vec("point", point, 3)
    w, v = q[..., :1], q[..., 1:]
    v, p = torch.broadcast_tensors(v, p)
    # Expanded sandwich product; exact for any q.
    vv = (v * v).sum(-1, keepdim=True)
    vp = (v * p).sum(-1, keepdim=True)
    return (w * w - vv) * p + 2 * vp * v + 2 * w * torch.linalg.cross(v, p, dim=-1)


def quaternion_to_matrix(quaternions: torch.Tensor) -> torch.Tensor:
    """Quaternions to rotation matrices (non-unit input is normalized implicitly).

    Args:
        quaternions: ``(..., 4)``, real part first.
    Returns:
        ``(..., 3, 3)``.
    """
    q = _vec("quaternions", quaternions, 4)
    w, x, y, z = q.unbind(-1)
    s = 2.0 / (q * q).sum(-1)
    xx, yy, zz = s * x * x, s * y * y, s * z * z
    xy, xz, yz = s * x * y, s * x * z, s * y * z
    wx, wy, wz = s * w * x, s * w * y, s * w * z
    m = (
        1 - yy - zz, xy - wz, xz + wy,
        xy + wz, 1 - xx - zz, yz - wx,
        xz - wy, yz + wx, 1 - xx - yy,
    )
    return torch.stack(m, -1).unflatten(-1, (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to quaternions with non-negative real part.

    Each of ``4w^2, 4x^2, 4y^2, 4z^2`` is a linear function of the diagonal; the
    largest one is taken as the pivot and the other components come from the
    off-diagonal sums/differences divided by it, so the result is accurate for
    every rotation, including half turns (where ``w`` is close to 0).

    Args:
        matrix: ``(..., 3, 3)`` rotation matrices.
    Returns:
        ``(..., 4)``, real part first, standardized.
    """
    m = _mat("matrix", matrix)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    four_sq = torch.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1
    )
    two_abs = _safe_sqrt(four_sq)  # 2|w|, 2|x|, 2|y|, 2|z|
    d_x, d_y, d_z = m21 - m12, m02 - m20, m10 - m01  # 4wx, 4wy, 4wz
    s_xy, s_xz, s_yz = m10 + m01, m02 + m20, m12 + m21  # 4xy, 4xz, 4yz
    # Row p: the quaternion times 4 * q_p (the pivot's own entry is (2|q_p|)^2).
    scaled = torch.stack(
        [
            torch.stack([four_sq[..., 0].clamp_min(0), d_x, d_y, d_z], -1),
            torch.stack([d_x, four_sq[..., 1].clamp_min(0), s_xy, s_xz], -1),
            torch.stack([d_y, s_xy, four_sq[..., 2].clamp_min(0), s_yz], -1),
            torch.stack([d_z, s_xz, s_yz, four_sq[..., 3].clamp_min(0)], -1),
        ],
        -2,
    )
    # Unpicked rows may have tiny pivots: a floor keeps them (and their gradients) finite.
    candidates = scaled / (2 * two_abs.clamp_min(0.1)).unsqueeze(-1)
    pick = four_sq.argmax(-1)[..., None, None].expand(*four_sq.shape[:-1], 1, 4)
    q = candidates.gather(-2, pick).squeeze(-2)
    return torch.where(q[..., :1] < 0, -q, q)


# --------------------------------------------------------------------------- axis-angle


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors to quaternions.

    Args:
        axis_angle: ``(..., 3)``, direction = axis, length = angle in radians.
    Returns:
        ``(..., 4)`` unit quaternions, real part first (real part is negative
        for angles above pi, as in PyTorch3D).
    """
    aa = _vec("axis_angle", axis_angle, 3)
    half = 0.5 * _safe_norm(aa, keepdim=True)
    # sin(half) / (2 * half) written with sinc, smooth at 0.
    return torch.cat([torch.cos(half), aa * (0.5 * torch.sinc(half / math.pi))], -1)


def quaternion_to_axis_angle(quaternions: torch.Tensor) -> torch.Tensor:
    """Quaternions to axis-angle vectors.

    Args:
        quaternions: ``(..., 4)`` unit quaternions, real part first.
    Returns:
        ``(..., 3)``; the angle lies in ``[0, 2 pi)`` (``[0, pi]`` for
        standardized input).
    """
    q = _vec("quaternions", quaternions, 4)
    v = q[..., 1:]
    half = torch.atan2(_safe_norm(v, keepdim=True), q[..., :1])
    # v = sin(half) * axis, so axis * angle = v * 2 * half / sin(half).
    return v * (2.0 / torch.sinc(half / math.pi))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors to rotation matrices (Rodrigues' formula).

    Args:
        axis_angle: ``(..., 3)``.
    Returns:
        ``(..., 3, 3)``.
    """
    aa = _vec("axis_angle", axis_angle, 3)
    theta = _safe_norm(aa)[..., None, None]
    k = hat(aa)
    # sin(t)/t and (1 - cos t)/t^2 = 0.5 * (sin(t/2)/(t/2))^2, both smooth at 0.
    a = torch.sinc(theta / math.pi)
    b = 0.5 * torch.sinc(theta / (2 * math.pi)) ** 2
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye + a * k + b * (k @ k)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to axis-angle vectors, angle in ``[0, pi]``.

    Goes through :func:`matrix_to_quaternion`, so it is accurate near half
    turns, and its gradient is finite at the identity.

    Args:
        matrix: ``(..., 3, 3)``.
    Returns:
        ``(..., 3)``.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


# --------------------------------------------------------------------------- so(3)


def hat(v: torch.Tensor) -> torch.Tensor:
    """Skew-symmetric cross-product matrices: ``hat(v) @ x == cross(v, x)``.

    Args:
        v: ``(..., 3)``.
    Returns:
        ``(..., 3, 3)`` = ``[[0, -z, y], [z, 0, -x], [-y, x, 0]]``.
    """
    v = _vec("v", v, 3)
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).unflatten(-1, (3, 3))


def hat_inv(h: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`hat`.

    Args:
        h: ``(..., 3, 3)`` skew-symmetric (``|h + h^T| <= 1e-5``).
    Returns:
        ``(..., 3)`` = ``(h[2, 1], h[0, 2], h[1, 0])``.
    """
    h = _mat("h", h)
    if h.numel():
        asym = float((h + h.transpose(-1, -2)).abs().max())
        if not asym <= 1e-5:
            raise ValueError(
                f"h: expected skew-symmetric matrices (|h + h^T| <= 1e-5), found max |h + h^T| = {asym:.3g}"
            )
    return torch.stack([h[..., 2, 1], h[..., 0, 2], h[..., 1, 0]], -1)


def so3_exp_map(log_rot: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Exponential map from so(3) (axis-angle vectors) to rotation matrices.

    Args:
        log_rot: ``(..., 3)``.
        eps: accepted for PyTorch3D API parity; unused, the formula is smooth
            at 0 without clamping.
    Returns:
        ``(..., 3, 3)``.
    """
    return axis_angle_to_matrix(_vec("log_rot", log_rot, 3))


def so3_log_map(R: torch.Tensor, eps: float = 1e-4, cos_bound: float = 1e-4) -> torch.Tensor:
    """Logarithm map from rotation matrices to so(3) vectors (angle in ``[0, pi]``).

    Args:
        R: ``(..., 3, 3)``.
        eps, cos_bound: accepted for PyTorch3D API parity; unused (as in
            PyTorch3D, which also routes through quaternions).
    Returns:
        ``(..., 3)``; gradients are finite at the identity.
    """
    return matrix_to_axis_angle(_mat("R", R))


def _se3_v_matrix(log_rotation: torch.Tensor, eps: float) -> torch.Tensor:
    """``(N, 3)`` -> the ``(N, 3, 3)`` V matrix of the SE(3) exponential (PyTorch3D's clamped angle)."""
    theta = torch.clamp(torch.square(log_rotation).sum(-1), eps).sqrt()[:, None, None]
    h = hat(log_rotation)
    eye = torch.eye(3, dtype=log_rotation.dtype, device=log_rotation.device)
    return eye + h * ((1 - torch.cos(theta)) / torch.square(theta)) + (h @ h) * ((theta - torch.sin(theta)) / theta**3)


def se3_exp_map(log_transform: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """SE(3) exponential map, as PyTorch3D's: ``(N, 6)`` ``[log_translation | log_rotation]`` ->
    ``(N, 4, 4)`` in row-vector convention (``R^T`` in the top-left block, the translation
    ``V @ log_translation`` in the last row). ``eps`` clamps the squared rotation angle in V."""
    check_tensor("log_transform", log_transform, [None, 6], floating=True)
    log_translation, log_rotation = log_transform[:, :3], log_transform[:, 3:]
    R = so3_exp_map(log_rotation, eps=eps)
    T = (_se3_v_matrix(log_rotation, eps) @ log_translation[:, :, None])[:, :, 0]
    top = F.pad(R.transpose(1, 2), (0, 1))  # (N, 3, 4), last column 0
    bottom = F.pad(T, (0, 1), value=1.0)[:, None]  # (N, 1, 4)
    return torch.cat([top, bottom], 1)


def se3_log_map(transform: torch.Tensor, eps: float = 1e-4, cos_bound: float = 1e-4) -> torch.Tensor:
    """SE(3) logarithm, as PyTorch3D's: ``(N, 4, 4)`` row-vector rigid transforms -> ``(N, 6)``
    ``[log_translation | log_rotation]``; the inverse of :func:`se3_exp_map` for angles below pi."""
    check_tensor("transform", transform, [None, 4, 4], floating=True)
    if not torch.allclose(transform[:, :3, 3], torch.zeros_like(transform[:, :3, 3])):
        found = float(transform[:, :3, 3].abs().max())
        raise ValueError(f"transform: expected a rigid transform with transform[:, :3, 3] = 0 (row-vector convention), found max |value| {found:.3g}")
    log_rotation = so3_log_map(transform[:, :3, :3].transpose(1, 2), eps=eps, cos_bound=cos_bound)
    V = _se3_v_matrix(log_rotation, eps)
    log_translation = torch.linalg.solve(V, transform[:, 3, :3, None])[:, :, 0]
    return torch.cat([log_translation, log_rotation], 1)


def rotation_error_deg(R1: torch.Tensor, R2: torch.Tensor) -> torch.Tensor:
    """Geodesic angle in degrees between rotations ``R1, R2 (..., 3, 3)`` -> ``(...)``,
    in ``[0, 180]``: the angle of ``R1^T R2``."""
    cos = ((R1.transpose(-1, -2) @ R2).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))


# --------------------------------------------------------------------------- 6D


def rotation_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """6D representation to rotation matrices by Gram-Schmidt (rows b1, b2, b1 x b2).

    Args:
        d6: ``(..., 6)``: two 3-vectors, the first and second rows before
            orthonormalization.
    Returns:
        ``(..., 3, 3)``.
    """
    d6 = _vec("d6", d6, 6)
    b1 = F.normalize(d6[..., :3], dim=-1)
    a2 = d6[..., 3:]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack([b1, b2, torch.linalg.cross(b1, b2, dim=-1)], -2)


def matrix_to_rotation_6d(matrix: torch.Tensor) -> torch.Tensor:
    """Rotation matrices to the 6D representation (first two rows).

    Args:
        matrix: ``(..., 3, 3)``.
    Returns:
        ``(..., 6)``.
    """
    m = _mat("matrix", matrix)
    return m[..., :2, :].reshape(*m.shape[:-2], 6)


# --------------------------------------------------------------------------- Euler


def euler_angles_to_matrix(euler_angles: torch.Tensor, convention: str) -> torch.Tensor:
    """Euler angles to rotation matrices: ``R_c0(e0) @ R_c1(e1) @ R_c2(e2)``.

    Args:
        euler_angles: ``(..., 3)`` radians, angle ``i`` for letter ``i``.
        convention: 3 letters from "XYZ", middle letter different from both
            neighbours (Tait-Bryan "XYZ", proper Euler "ZXZ", ...).
    Returns:
        ``(..., 3, 3)``.
    """
    e = _vec("euler_angles", euler_angles, 3)
    _check_convention(convention)
    m = [_elementary(c, a) for c, a in zip(convention, e.unbind(-1))]
    return m[0] @ m[1] @ m[2]


def matrix_to_euler_angles(matrix: torch.Tensor, convention: str) -> torch.Tensor:
    """Rotation matrices to Euler angles (inverse of :func:`euler_angles_to_matrix`).

    Ranges, as in PyTorch3D: first and last angles in ``(-pi, pi]``; the middle
    one in ``[-pi/2, pi/2]`` (Tait-Bryan) or ``[0, pi]`` (proper Euler). At
    gimbal lock the third angle is set to 0.

    The angles are read from the quaternion, where the half-sum and
    half-difference of the outer angles are separate ``atan2`` calls; each is
    well conditioned exactly when it matters, so this is accurate next to the
    lock too.

    Args:
        matrix: ``(..., 3, 3)``.
        convention: as in :func:`euler_angles_to_matrix`.
    Returns:
        ``(..., 3)`` radians.
    """
    _mat("matrix", matrix)
    _check_convention(convention)
    q = matrix_to_quaternion(matrix)
    i, j = _AXES.index(convention[0]), _AXES.index(convention[1])
    proper = convention[0] == convention[2]
    k = 3 - i - j  # the axis not among the first two
    s = 1.0 if (j - i) % 3 == 1 else -1.0  # e_i x e_j = s * e_k
    qw, qi, qj, qk = q[..., 0], q[..., 1 + i], q[..., 1 + j], q[..., 1 + k]
    if proper:
        # q = (cos(b/2) cos S, cos(b/2) sin S on i, sin(b/2) cos D on j, s sin(b/2) sin D on k)
        # with S = (a + c) / 2 and D = (a - c) / 2.
        ys, xs, yd, xd = qi, qw, s * qk, qj
    else:
        # Tait-Bryan: (w + s*j, i + k) = (cos(b/2) + s sin(b/2)) (cos S, sin S) and
        # (w - s*j, i - k) = (cos(b/2) - s sin(b/2)) (cos D, sin D).
        ys, xs, yd, xd = qi + qk, qw + s * qj, qi - qk, qw - s * qj
    r_s = _safe_norm(torch.stack([ys, xs], -1))
    r_d = _safe_norm(torch.stack([yd, xd], -1))
    tiny = torch.finfo(q.dtype).eps
    half_sum = _guarded_atan2(ys, xs, r_s <= tiny)
    half_diff = _guarded_atan2(yd, xd, r_d <= tiny)
    # At the lock one half-angle is undefined; setting it equal to the other makes c = 0.
    half_sum, half_diff = (
        torch.where(r_s <= tiny, half_diff, half_sum),
        torch.where(r_d <= tiny, half_sum, half_diff),
    )
    spread = 2 * torch.atan2(r_d, r_s)
    middle = spread if proper else s * (0.5 * math.pi - spread)
    return torch.stack([_wrap_angle(half_sum + half_diff), middle, _wrap_angle(half_sum - half_diff)], -1)


def blender_euler_to_matrix(euler: torch.Tensor, mode: str = "XYZ") -> torch.Tensor:
    """Blender Euler rotations to matrices, like ``mathutils.Euler(e, mode).to_matrix()``.

    Blender mode ``'ABC'`` rotates about A first, then B, then C:
    ``R = R_C @ R_B @ R_A``, with ``euler = (x, y, z)`` indexed by axis. It equals
    ``euler_angles_to_matrix(euler[..., [iC, iB, iA]], 'CBA')``.

    Args:
        euler: ``(..., 3)`` radians, Blender's ``(x, y, z)``.
        mode: one of 'XYZ', 'XZY', 'YXZ', 'YZX', 'ZXY', 'ZYX'.
    Returns:
        ``(..., 3, 3)``.
    """
    e = _vec("euler", euler, 3)
    _check_blender_mode(mode)
    order = [_AXES.index(c) for c in reversed(mode)]
    return euler_angles_to_matrix(e[..., order], mode[::-1])


def matrix_to_blender_euler(matrix: torch.Tensor, mode: str = "XYZ") -> torch.Tensor:
    """Rotation matrices to Blender Euler angles, like ``Matrix.to_euler(mode)``.

    Of the two equivalent Tait-Bryan solutions Blender returns the one with
    the smaller ``|x| + |y| + |z|`` (the first, whose middle angle lies in
    ``[-pi/2, pi/2]``, on ties); this function makes the same choice.

    Args:
        matrix: ``(..., 3, 3)``.
        mode: one of 'XYZ', 'XZY', 'YXZ', 'YZX', 'ZXY', 'ZYX'.
    Returns:
        ``(..., 3)`` radians, Blender's ``(x, y, z)``.
    """
    _mat("matrix", matrix)
    _check_blender_mode(mode)
    e1 = matrix_to_euler_angles(matrix, mode[::-1])  # (angle C, angle B, angle A)
    b = e1[..., 1]
    alt_mid = torch.where(b >= 0, math.pi - b, -math.pi - b)
    e2 = torch.stack([_wrap_angle(e1[..., 0] + math.pi), alt_mid, _wrap_angle(e1[..., 2] + math.pi)], -1)
    e = torch.where((e1.abs().sum(-1) > e2.abs().sum(-1))[..., None], e2, e1)
    # Back to (x, y, z) order.
    inv = [0, 0, 0]
    for pos, c in enumerate(reversed(mode)):
        inv[_AXES.index(c)] = pos
    return e[..., inv]


# --------------------------------------------------------------------------- random


def random_quaternions(
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Uniformly distributed unit quaternions with non-negative real part.

    Normalized 4D Gaussians are uniform on the 3-sphere, hence uniform rotations.

    Args:
        n: number of quaternions.
        generator: optional ``torch.Generator`` (any device) for reproducible draws.
        dtype, device: of the result (default: torch defaults / CPU).
    Returns:
        ``(n, 4)``.
    """
    check_positive_int("n", n, minimum=0)
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise ValueError(f"dtype: expected a floating-point dtype, found {dtype}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    draw_on = generator.device if generator is not None else device
    q = torch.randn((n, 4), generator=generator, dtype=dtype, device=draw_on).to(device)
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def random_rotations(
    n: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Rotation matrices drawn uniformly (Haar measure) from SO(3).

    Args:
        n: number of rotations.
        generator: optional ``torch.Generator`` (same seed, same rotations).
        dtype, device: of the result.
    Returns:
        ``(n, 3, 3)``.
    """
    return quaternion_to_matrix(random_quaternions(n, generator, dtype, device))

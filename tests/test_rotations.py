"""Rotation conversions: PyTorch3D parity, round trips near 0 and pi, gradients, Blender modes."""

import itertools
import math

import pytest
import torch

from unrender.geometry import rotations as U

p3d = pytest.importorskip("pytorch3d.transforms")
from pytorch3d.transforms.so3 import hat as p3d_hat, hat_inv as p3d_hat_inv  # noqa: E402

CONVENTIONS = ["".join(c) for c in itertools.product("XYZ", repeat=3) if c[1] != c[0] and c[1] != c[2]]
DTYPES = [(torch.float32, 1e-5), (torch.float64, 1e-10)]
BATCH = (4, 50)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _rand(*shape, dtype, seed=0, scale=1.0):
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64).mul(scale).to(dtype)


def _rotations(dtype, seed=0):
    return U.random_rotations(math.prod(BATCH), _gen(seed), torch.float64).reshape(*BATCH, 3, 3).to(dtype)


def _quats(dtype, seed=0):
    q = _rand(*BATCH, 4, dtype=torch.float64, seed=seed)
    return (q / q.norm(dim=-1, keepdim=True)).to(dtype)


def _close(a, b, tol):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype
    err = float((a - b).abs().max()) if a.numel() else 0.0
    assert err <= tol, f"max abs error {err:.3g} > {tol:.1g}"


def test_conventions_list():
    assert len(CONVENTIONS) == 12


# --------------------------------------------------------------------------- parity with PyTorch3D


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_parity_matrix_quaternion_axis_angle(dtype, tol):
    R, q = _rotations(dtype), _quats(dtype, 1)
    aa = _rand(*BATCH, 3, dtype=dtype, seed=2, scale=1.5)
    _close(U.quaternion_to_matrix(q), p3d.quaternion_to_matrix(q), tol)
    _close(U.matrix_to_quaternion(R), p3d.matrix_to_quaternion(R), tol)
    _close(U.axis_angle_to_matrix(aa), p3d.axis_angle_to_matrix(aa), tol)
    _close(U.axis_angle_to_matrix(aa), p3d.axis_angle_to_matrix(aa, fast=True), tol)
    _close(U.matrix_to_axis_angle(R), p3d.matrix_to_axis_angle(R), tol)
    _close(U.axis_angle_to_quaternion(aa), p3d.axis_angle_to_quaternion(aa), tol)
    _close(U.quaternion_to_axis_angle(q), p3d.quaternion_to_axis_angle(q), tol)
    big = aa * 3  # angles beyond pi: quaternion real part goes negative
    _close(U.axis_angle_to_quaternion(big), p3d.axis_angle_to_quaternion(big), tol)


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_parity_quaternion_algebra(dtype, tol):
    a, b = _quats(dtype, 3), _quats(dtype, 4)
    raw = _rand(*BATCH, 4, dtype=dtype, seed=5)
    pts = _rand(*BATCH, 3, dtype=dtype, seed=6)
    _close(U.standardize_quaternion(raw), p3d.standardize_quaternion(raw), 0)
    _close(U.quaternion_raw_multiply(a, b), p3d.quaternion_raw_multiply(a, b), tol)
    _close(U.quaternion_multiply(a, b), p3d.quaternion_multiply(a, b), tol)
    _close(U.quaternion_invert(a), p3d.quaternion_invert(a), 0)
    _close(U.quaternion_apply(a, pts), p3d.quaternion_apply(a, pts), tol)
    _close(U.quaternion_apply(raw, pts), p3d.quaternion_apply(raw, pts), 10 * tol)  # non-unit too
    # Broadcasting: one quaternion, many points.
    _close(U.quaternion_apply(a[0, 0], pts), p3d.quaternion_apply(a[0, 0], pts), tol)
    _close(U.quaternion_raw_multiply(a[:1], b), p3d.quaternion_raw_multiply(a[:1], b), tol)


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_parity_6d_so3_hat(dtype, tol):
    R = _rotations(dtype)
    d6 = _rand(*BATCH, 6, dtype=dtype, seed=7)
    _close(U.rotation_6d_to_matrix(d6), p3d.rotation_6d_to_matrix(d6), tol)
    _close(U.matrix_to_rotation_6d(R), p3d.matrix_to_rotation_6d(R), 0)
    flat_R = R.reshape(-1, 3, 3)
    logs = _rand(200, 3, dtype=dtype, seed=8, scale=1.5)
    _close(U.so3_exp_map(logs), p3d.so3_exp_map(logs), tol)
    _close(U.so3_log_map(flat_R), p3d.so3_log_map(flat_R), tol)
    _close(U.hat(logs), p3d_hat(logs), 0)
    _close(U.hat_inv(U.hat(logs)), p3d_hat_inv(p3d_hat(logs)), 0)
    # Batch dims beyond PyTorch3D's (N, ...) are accepted.
    assert U.so3_exp_map(logs.reshape(2, 100, 3)).shape == (2, 100, 3, 3)
    assert U.so3_log_map(R).shape == (*BATCH, 3)


@pytest.mark.parametrize("dtype, tol", DTYPES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_parity_euler(convention, dtype, tol):
    R = _rotations(dtype)
    e = _rand(*BATCH, 3, dtype=dtype, seed=9, scale=2.0)
    _close(U.euler_angles_to_matrix(e, convention), p3d.euler_angles_to_matrix(e, convention), tol)
    ours = U.matrix_to_euler_angles(R, convention)
    # PyTorch3D's asin/acos read-out loses digits near gimbal lock in float32,
    # so judge it in float64 on the same float32 input.
    ref = p3d.matrix_to_euler_angles(R.double(), convention).to(dtype)
    _close(ours, ref, tol)
    if dtype == torch.float32:
        _close(ours, p3d.matrix_to_euler_angles(R, convention), 1e-3)


# --------------------------------------------------------------------------- round trips


def _special_rotations(dtype):
    """Rotations about random axes by angles at and next to 0 and pi, (N, 3, 3)."""
    angles = torch.tensor([0.0, 1e-12, 1e-8, 1e-5, 1e-3, 0.5, 2.0, math.pi - 1e-3, math.pi - 1e-5,
                           math.pi - 1e-8, math.pi], dtype=torch.float64)
    axes = torch.randn(len(angles), 3, generator=_gen(10), dtype=torch.float64)
    axes = torch.cat([axes, torch.eye(3, dtype=torch.float64).repeat(len(angles) // 3 + 1, 1)[: len(angles)]])
    axes = axes / axes.norm(dim=-1, keepdim=True)
    aa = axes * angles.repeat(2)[:, None]
    return U.axis_angle_to_matrix(aa).to(dtype), aa


@pytest.mark.parametrize("dtype, tol", DTYPES)
def test_round_trips_near_zero_and_pi(dtype, tol):
    R, _ = _special_rotations(dtype)
    R = torch.cat([R, _rotations(dtype).reshape(-1, 3, 3)])
    tol = 10 * tol
    _close(U.quaternion_to_matrix(U.matrix_to_quaternion(R)), R, tol)
    _close(U.axis_angle_to_matrix(U.matrix_to_axis_angle(R)), R, tol)
    _close(U.so3_exp_map(U.so3_log_map(R)), R, tol)
    _close(U.rotation_6d_to_matrix(U.matrix_to_rotation_6d(R)), R, tol)
    for c in CONVENTIONS:
        _close(U.euler_angles_to_matrix(U.matrix_to_euler_angles(R, c), c), R, tol)
    q = U.matrix_to_quaternion(R)
    assert bool((q[:, 0] >= 0).all())
    _close(q.norm(dim=-1), torch.ones(len(R), dtype=dtype), tol)
    angle = U.matrix_to_axis_angle(R).norm(dim=-1)
    assert float(angle.max()) <= math.pi + tol


def test_axis_angle_round_trip_values():
    R, aa = _special_rotations(torch.float64)
    back = U.matrix_to_axis_angle(R)
    keep = aa.norm(dim=-1) < math.pi - 1e-6  # at pi, aa and -aa are the same rotation
    _close(back[keep], aa[keep], 1e-9)
    half_turn = aa.norm(dim=-1) == math.pi
    b, a = back[half_turn], aa[half_turn]
    flip = torch.minimum((b - a).abs().amax(-1), (b + a).abs().amax(-1))
    assert float(flip.max()) < 1e-9


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_euler_angle_round_trip_and_ranges(convention):
    e = torch.rand(500, 3, generator=_gen(11), dtype=torch.float64) * 2 - 1
    proper = convention[0] == convention[2]
    e = e * torch.tensor([math.pi, math.pi / 2, math.pi], dtype=torch.float64)
    if proper:
        e[:, 1] = e[:, 1] + math.pi / 2
    back = U.matrix_to_euler_angles(U.euler_angles_to_matrix(e, convention), convention)
    _close(back, e, 1e-10)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_euler_gimbal_lock(convention):
    # Exactly and nearly locked: the read-out stays a valid decomposition.
    proper = convention[0] == convention[2]
    locks = [0.0, math.pi] if proper else [math.pi / 2, -math.pi / 2]
    rows = []
    for lock in locks:
        for d in (0.0, 1e-9, 1e-6, 1e-3):
            rows.append([0.7, lock + (d if lock <= 0 else -d), -1.9])
    e = torch.tensor(rows, dtype=torch.float64)
    for dtype, tol in DTYPES:
        R = U.euler_angles_to_matrix(e, convention).to(dtype)
        out = U.matrix_to_euler_angles(R, convention)
        assert bool(torch.isfinite(out).all())
        _close(U.euler_angles_to_matrix(out, convention), R, 10 * tol)
    ident = U.matrix_to_euler_angles(torch.eye(3, dtype=torch.float64), convention)
    _close(ident, torch.zeros(3, dtype=torch.float64), 1e-15)


def test_batch_shapes_preserved():
    R = _rotations(torch.float32)
    assert U.matrix_to_quaternion(R).shape == (*BATCH, 4)
    assert U.matrix_to_axis_angle(R).shape == (*BATCH, 3)
    assert U.matrix_to_rotation_6d(R).shape == (*BATCH, 6)
    assert U.matrix_to_euler_angles(R, "ZYX").shape == (*BATCH, 3)
    assert U.quaternion_to_matrix(torch.tensor([1.0, 0, 0, 0])).shape == (3, 3)
    assert U.axis_angle_to_matrix(torch.zeros(0, 3)).shape == (0, 3, 3)
    assert U.matrix_to_quaternion(torch.zeros(0, 3, 3)).shape == (0, 4)


def test_quaternion_algebra_is_rotation_algebra():
    a, b = _quats(torch.float64, 12), _quats(torch.float64, 13)
    Ra, Rb = U.quaternion_to_matrix(a), U.quaternion_to_matrix(b)
    _close(U.quaternion_to_matrix(U.quaternion_multiply(a, b)), Ra @ Rb, 1e-12)
    _close(U.quaternion_to_matrix(U.quaternion_invert(a)), Ra.transpose(-1, -2), 1e-12)
    p = _rand(*BATCH, 3, dtype=torch.float64, seed=14)
    _close(U.quaternion_apply(a, p), (Ra @ p[..., None])[..., 0], 1e-12)
    _close(U.hat(p) @ p[..., None], torch.zeros(*BATCH, 3, 1, dtype=torch.float64), 1e-12)


# --------------------------------------------------------------------------- gradients


def test_log_map_gradient_at_identity_is_finite_and_exact():
    # Near the identity log(R) ~ 0.5 * (R - R^T)^vee, so d/dR of sum(log) is known exactly.
    expected = 0.5 * torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=torch.float64)
    for fn in (U.matrix_to_axis_angle, U.so3_log_map):
        for dtype in (torch.float32, torch.float64):
            R = torch.eye(3, dtype=dtype).repeat(2, 1, 1).requires_grad_(True)
            fn(R).sum().backward()
            assert bool(torch.isfinite(R.grad).all())
            _close(R.grad, expected.to(dtype).expand(2, 3, 3), 1e-6)


@pytest.mark.parametrize("angle", [0.0, 1e-10, 1e-6, 1e-3])
def test_gradients_finite_near_zero(angle):
    aa = torch.tensor([[angle, 0.0, 0.0], [0.0, angle, angle]], dtype=torch.float64, requires_grad=True)
    R = U.so3_exp_map(aa)
    log = U.so3_log_map(R)
    q = U.axis_angle_to_quaternion(aa)
    (log.sum() + q.sum() + U.quaternion_to_axis_angle(q).sum()).backward()
    assert bool(torch.isfinite(aa.grad).all())
    # log(exp(aa)) == aa, so the gradient of its sum is exactly ones.
    aa2 = aa.detach().clone().requires_grad_(True)
    U.so3_log_map(U.so3_exp_map(aa2)).sum().backward()
    _close(aa2.grad, torch.ones_like(aa2), 1e-6)


def _gradcheck(fn, inputs):
    return torch.autograd.gradcheck(fn, inputs, fast_mode=True)


def test_gradcheck_random_points():
    g = _gen(15)
    aa = (torch.randn(3, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
    R = U.axis_angle_to_matrix(aa.detach()).requires_grad_(True)
    q = torch.randn(3, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    d6 = torch.randn(3, 6, generator=g, dtype=torch.float64).requires_grad_(True)
    assert _gradcheck(U.axis_angle_to_matrix, (aa,))
    assert _gradcheck(U.matrix_to_axis_angle, (R,))
    assert _gradcheck(U.matrix_to_quaternion, (R,))
    assert _gradcheck(U.quaternion_to_matrix, (q,))
    assert _gradcheck(U.quaternion_to_axis_angle, (q,))
    assert _gradcheck(U.rotation_6d_to_matrix, (d6,))
    for c in ("XYZ", "ZXZ", "YXZ", "XZX"):
        assert _gradcheck(lambda m: U.matrix_to_euler_angles(m, c), (R,))


def test_euler_gradient_finite_at_lock():
    for c in ("ZXZ", "XYZ"):
        R = torch.eye(3, dtype=torch.float64, requires_grad=True)
        U.matrix_to_euler_angles(R, c).sum().backward()
        assert bool(torch.isfinite(R.grad).all())


# --------------------------------------------------------------------------- random rotations


def test_random_rotations_seeded_and_valid():
    a = U.random_rotations(64, _gen(3))
    b = U.random_rotations(64, _gen(3))
    c = U.random_rotations(64, _gen(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (64, 3, 3) and a.dtype == torch.get_default_dtype()
    _close(a @ a.transpose(1, 2), torch.eye(3).expand(64, 3, 3), 1e-5)
    _close(torch.linalg.det(a), torch.ones(64), 1e-5)
    assert U.random_rotations(0).shape == (0, 3, 3)
    assert U.random_rotations(2, dtype=torch.float64, device="cpu").dtype == torch.float64
    q = U.random_quaternions(100, _gen(5))
    assert bool((q[:, 0] >= 0).all())


def test_random_rotations_uniform():
    n = 20000
    R = U.random_rotations(n, _gen(6), torch.float64)
    # Haar measure: E[R] = 0 and the angle has CDF (t - sin t) / pi.
    assert float(R.mean(0).abs().max()) < 0.02
    angle = U.matrix_to_axis_angle(R).norm(dim=-1).sort().values
    cdf = (angle - torch.sin(angle)) / math.pi
    emp = torch.arange(1, n + 1, dtype=torch.float64) / n
    assert float((cdf - emp).abs().max()) < 0.015  # KS, ~1.5x the 5% critical value


# --------------------------------------------------------------------------- Blender Euler modes


@pytest.mark.parametrize("mode", U.BLENDER_EULER_MODES)
def test_blender_mode_order_and_round_trip(mode):
    e = torch.rand(300, 3, generator=_gen(16), dtype=torch.float64) * 6.2 - 3.1
    R = U.blender_euler_to_matrix(e, mode)
    # Mode 'ABC' applies A first: R = R_C @ R_B @ R_A with angles indexed by axis.
    parts = []
    for c in mode:
        v = torch.zeros(300, 3, dtype=torch.float64)
        v[:, "XYZ".index(c)] = e[:, "XYZ".index(c)]
        parts.append(U.axis_angle_to_matrix(v))
    _close(R, parts[2] @ parts[1] @ parts[0], 1e-12)
    back = U.matrix_to_blender_euler(R, mode)
    _close(U.blender_euler_to_matrix(back, mode), R, 1e-12)
    assert back.shape == (300, 3)


def _mathutils():
    pytest.importorskip("bpy")
    return pytest.importorskip("mathutils")


@pytest.mark.parametrize("mode", U.BLENDER_EULER_MODES)
def test_blender_modes_match_mathutils(mode):
    mu = _mathutils()
    e = torch.rand(200, 3, generator=_gen(17), dtype=torch.float64) * 6.2 - 3.1
    R = U.blender_euler_to_matrix(e, mode)
    ref = torch.tensor([[list(r) for r in mu.Euler(x.tolist(), mode).to_matrix()] for x in e], dtype=torch.float64)
    _close(R, ref, 1e-6)
    # Same pick among the two equivalent solutions as Matrix.to_euler (mathutils works in float32).
    ours = U.matrix_to_blender_euler(R, mode)
    theirs = torch.tensor([list(mu.Matrix(m.tolist()).to_euler(mode)) for m in R], dtype=torch.float64)
    _close(ours, theirs, 1e-5)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", ["XXY", "XY", "ABC", "xyz", "XYZX", "XYY", "", 123, None])
def test_invalid_convention(bad):
    R = torch.eye(3)
    with pytest.raises(ValueError, match=r"^convention: .*found"):
        U.euler_angles_to_matrix(torch.zeros(3), bad)
    with pytest.raises(ValueError, match=r"^convention: "):
        U.matrix_to_euler_angles(R, bad)


@pytest.mark.parametrize("bad", ["XYX", "xyz", "QUATERNION", "AXIS_ANGLE", ""])
def test_invalid_blender_mode(bad):
    with pytest.raises(ValueError, match=r"^mode: "):
        U.blender_euler_to_matrix(torch.zeros(3), bad)
    with pytest.raises(ValueError, match=r"^mode: "):
        U.matrix_to_blender_euler(torch.eye(3), bad)


@pytest.mark.parametrize(
    "fn, name, bad",
    [
        (U.axis_angle_to_matrix, "axis_angle", torch.zeros(5, 4)),
        (U.axis_angle_to_quaternion, "axis_angle", torch.zeros(5, 2)),
        (U.quaternion_to_matrix, "quaternions", torch.zeros(5, 3)),
        (U.quaternion_to_axis_angle, "quaternions", torch.zeros(3)),
        (U.standardize_quaternion, "quaternions", torch.zeros(5, 3)),
        (U.quaternion_invert, "quaternion", torch.zeros(5, 3)),
        (U.matrix_to_quaternion, "matrix", torch.zeros(5, 3, 4)),
        (U.matrix_to_axis_angle, "matrix", torch.zeros(5, 4, 3)),
        (U.matrix_to_rotation_6d, "matrix", torch.zeros(3)),
        (U.rotation_6d_to_matrix, "d6", torch.zeros(5, 9)),
        (U.so3_exp_map, "log_rot", torch.zeros(5, 4)),
        (U.so3_log_map, "R", torch.zeros(5, 2, 2)),
        (U.hat, "v", torch.zeros(5, 2)),
        (U.hat_inv, "h", torch.zeros(5, 3)),
        (lambda x: U.euler_angles_to_matrix(x, "XYZ"), "euler_angles", torch.zeros(5, 2)),
        (lambda x: U.matrix_to_euler_angles(x, "XYZ"), "matrix", torch.zeros(5, 3)),
        (lambda x: U.blender_euler_to_matrix(x, "XYZ"), "euler", torch.zeros(4)),
        (lambda x: U.matrix_to_blender_euler(x, "XYZ"), "matrix", torch.zeros(2, 3)),
        (U.axis_angle_to_matrix, "axis_angle", [0.0, 0.0, 0.0]),
        (U.matrix_to_quaternion, "matrix", torch.eye(3, dtype=torch.int64)),
    ],
)
def test_bad_shapes_name_the_argument(fn, name, bad):
    with pytest.raises(ValueError, match=rf"^{name}: expected"):
        fn(bad)


def test_bad_binary_inputs():
    q = torch.tensor([1.0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"^b: expected shape"):
        U.quaternion_multiply(q, torch.zeros(3))
    with pytest.raises(ValueError, match=r"^a: expected shape"):
        U.quaternion_raw_multiply(torch.zeros(5), q)
    with pytest.raises(ValueError, match=r"^point: expected shape"):
        U.quaternion_apply(q, torch.zeros(4))
    with pytest.raises(ValueError, match=r"^h: expected skew-symmetric"):
        U.hat_inv(torch.eye(3))
    with pytest.raises(ValueError, match=r"^n: "):
        U.random_rotations(-1)
    with pytest.raises(ValueError, match=r"^dtype: "):
        U.random_rotations(2, dtype=torch.int32)


def test_rotation_error_deg_is_the_angle_between_rotations():
    g = torch.Generator().manual_seed(3)
    R = U.random_rotations(5, dtype=torch.float64, generator=g)
    axis = torch.nn.functional.normalize(torch.randn(5, 3, generator=g, dtype=torch.float64), dim=-1)
    angles = torch.tensor([0.0, 10.0, 45.0, 120.0, 179.0], dtype=torch.float64)
    turn = U.axis_angle_to_matrix(axis * torch.deg2rad(angles)[:, None])
    err = U.rotation_error_deg(R, R @ turn)
    assert err.shape == (5,)
    assert torch.allclose(err, angles, atol=1e-5)
    assert torch.allclose(U.rotation_error_deg(R @ turn, R), err)  # symmetric

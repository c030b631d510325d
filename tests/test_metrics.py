"""IoU, F1@t, PSNR and the voxel BCE loss."""

import math

import pytest
import torch

from unrender.losses.voxel import voxel_bce
from unrender.geometry.rotations import axis_angle_to_matrix
from unrender.metrics import aligned_joint_error, mesh_f1, point_f1, procrustes_align, psnr, voxel_iou
from unrender.geometry.primitives import icosphere


def test_voxel_iou_counts():
    a = torch.zeros(2, 4, 4, 4)
    b = torch.zeros(2, 4, 4, 4)
    a[0, :2] = 1  # 32 cells
    b[0, 1:3] = 1  # 32 cells, 16 shared
    iou = voxel_iou(a, b)
    assert iou.shape == (2,)
    assert math.isclose(float(iou[0]), 16 / 48, rel_tol=1e-6)
    assert float(iou[1]) == 1.0  # both empty
    assert float(voxel_iou(a[0] > 0.5, a[0] > 0.5)) == 1.0


def test_point_f1_known_configuration():
    target = torch.zeros(4, 3)
    target[:, 0] = torch.arange(4.0)  # points at x = 0, 1, 2, 3
    pred = target.clone()
    pred[3, 1] = 0.5  # one point off by 0.5
    out = point_f1(pred, target, thresholds=[0.1, 1.0])
    assert math.isclose(float(out["precision@0.1"]), 0.75)
    # target point 3 has its nearest prediction at distance 0.5 (pred 3) -> miss at 0.1
    assert math.isclose(float(out["recall@0.1"]), 0.75)
    assert math.isclose(float(out["f1@0.1"]), 0.75)
    assert float(out["f1@1"]) == 1.0


def test_mesh_f1_of_a_mesh_with_itself_and_a_scaled_copy():
    m = icosphere(3)
    # Two independent 20k samplings of the unit sphere lie ~0.025 apart on average, so t = 0.05.
    same = mesh_f1(m, m, thresholds=[0.05], num_samples=20000)
    assert float(same["f1@0.05"][0]) > 0.99
    bigger = mesh_f1(m.scale_verts(1.1), m, thresholds=[0.02, 0.2], num_samples=20000)
    assert float(bigger["f1@0.02"][0]) < 0.01 and float(bigger["f1@0.2"][0]) > 0.99


def test_psnr_values():
    ref = torch.zeros(2, 8, 8, 3)
    img = ref + 0.1
    val = psnr(img, ref)
    assert torch.allclose(val, torch.full((2,), 20.0), atol=1e-4)
    assert math.isinf(float(psnr(ref[0], ref[0])))
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[:4] = True
    noisy = ref[0].clone()
    noisy[4:] = 1.0  # only outside the mask
    assert math.isinf(float(psnr(noisy, ref[0], mask=mask)))


def test_voxel_bce_weights_positives():
    target = torch.zeros(1, 8, 8, 8)
    target[0, :2, :2, :2] = 1  # occupancy 1/64
    logits = torch.zeros_like(target, requires_grad=True)
    loss = voxel_bce(logits, target, reduction="none")
    # log(2) per cell, positives weighted 0.5 / (1/64) = 32
    assert math.isclose(float(loss[0, 0, 0, 0].detach()), 32 * math.log(2), rel_tol=1e-5)
    assert math.isclose(float(loss[0, 7, 7, 7].detach()), math.log(2), rel_tol=1e-5)
    manual = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(32.0))
    assert torch.allclose(voxel_bce(logits, target), manual)
    voxel_bce(logits, target).backward()
    assert logits.grad is not None


@pytest.mark.parametrize("call, match", [
    (lambda: voxel_iou(torch.zeros(2, 2, 2), torch.zeros(2, 2, 3)), r"target: expected the shape of pred"),
    (lambda: voxel_bce(torch.zeros(2, 2, 2), torch.full((2, 2, 2), 2.0)), r"target: expected occupancy values in \[0, 1\]"),
    (lambda: voxel_bce(torch.zeros(2, 2, 2), torch.zeros(2, 2, 2), reduction="avg"), r"reduction"),
    (lambda: point_f1(torch.zeros(0, 3), torch.zeros(4, 3)), r"pred: expected at least one point"),
    (lambda: point_f1(torch.zeros(3, 3), torch.zeros(4, 3), thresholds=[-1.0]), r"thresholds"),
    (lambda: psnr(torch.zeros(4, 4), torch.zeros(4, 5)), r"reference: expected the shape of image"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_procrustes_align_undoes_a_similarity_and_never_reflects():
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(3, 24, 3, generator=g, dtype=torch.float64)
    R = axis_angle_to_matrix(torch.randn(3, 3, generator=g, dtype=torch.float64))
    X = 2.5 * Y @ R + torch.randn(3, 1, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(procrustes_align(X, Y), Y, atol=1e-10, rtol=0)
    assert float(aligned_joint_error(X, Y).max()) < 1e-10
    mirrored = Y * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)  # only a reflection maps it back
    assert float(aligned_joint_error(mirrored, Y).mean()) > 0.1
    with pytest.raises(ValueError, match="Y"):
        procrustes_align(X, Y[:, :5])

"""Volumes: padding, placement and the world <-> local <-> grid frames, against PyTorch3D's."""

import pytest
import torch

from unrender.structures import Volumes

PS = pytest.importorskip("pytorch3d.structures", reason="PyTorch3D reference not installed")


def _pair(sizes=((5, 6, 7), (5, 6, 7)), voxel_size=0.1, translation=(0.2, -0.1, 0.3), align_corners=True):
    g = torch.Generator().manual_seed(0)
    dens = [torch.rand(1, *s, generator=g) for s in sizes]
    feats = [torch.rand(3, *s, generator=g) for s in sizes]
    ours = Volumes(dens, feats, voxel_size=voxel_size, volume_translation=translation, align_corners=align_corners)
    ref = PS.Volumes(dens, feats, voxel_size=voxel_size, volume_translation=translation, align_corners=align_corners)
    return ours, ref


@pytest.mark.parametrize("sizes", [((5, 6, 7), (5, 6, 7)), ((5, 6, 7), (3, 4, 2))])
@pytest.mark.parametrize("align_corners", [True, False])
def test_coordinates_match_pytorch3d(sizes, align_corners):
    voxel = torch.tensor([[0.1, 0.2, 0.05], [0.3, 0.1, 0.1]])
    ours, ref = _pair(sizes, voxel, torch.tensor([[0.2, -0.1, 0.3], [0.0, 1.0, -2.0]]), align_corners)
    pts = torch.randn(2, 40, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours.world_to_local_coords(pts), ref.world_to_local_coords(pts), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.local_to_world_coords(pts), ref.local_to_world_coords(pts), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.get_coord_grid(), ref.get_coord_grid(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.get_coord_grid(False), ref.get_coord_grid(False), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(ours.get_local_to_world_coords_matrix(),
                               ref.get_local_to_world_coords_transform().get_matrix(), atol=1e-6, rtol=1e-6)
    assert torch.equal(ours.densities(), ref.densities()) and torch.equal(ours.features(), ref.features())
    assert torch.equal(ours.get_grid_sizes(), ref.get_grid_sizes())
    for a, b in zip(ours.features_list(), ref.features_list()):
        assert torch.equal(a, b)


def test_round_trip_and_indexing():
    ours, _ = _pair(((5, 6, 7), (3, 4, 2)), torch.tensor([[0.1], [0.3]]))
    pts = torch.randn(2, 4, 5, 3)
    torch.testing.assert_close(ours.local_to_world_coords(ours.world_to_local_coords(pts)), pts, atol=1e-5, rtol=1e-5)
    second = ours[1]
    assert len(second) == 1 and second.densities_list()[0].shape == (1, 3, 4, 2)
    torch.testing.assert_close(second.world_to_local_coords(pts[1:]), ours.world_to_local_coords(pts)[1:])
    assert torch.equal(ours[torch.tensor([False, True])].densities(), second.densities())
    # the extreme voxel centres are the local corners +-1 (align_corners)
    grid = ours.get_coord_grid(False)[0]
    assert torch.equal(grid[0, 0, 0], torch.tensor([-1.0, -1.0, -1.0])) and torch.equal(grid[-1, -1, -1], torch.ones(3))


def test_update_padded_and_to():
    ours, _ = _pair()
    new = ours.update_padded(torch.zeros(2, 1, 5, 6, 7))
    assert new.features() is None and float(new.densities().abs().sum()) == 0 and ours.features() is not None
    assert ours.to("cpu") is ours and ours.to("cpu", copy=True) is not ours


def test_bad_input_named():
    with pytest.raises(ValueError, match="densities"):
        Volumes(torch.rand(1, 5, 6, 7))
    with pytest.raises(ValueError, match="densities"):
        Volumes(torch.rand(1, 1, 1, 6, 7))
    with pytest.raises(ValueError, match="features"):
        Volumes(torch.rand(1, 1, 5, 6, 7), features=torch.rand(1, 3, 5, 6, 6))
    with pytest.raises(ValueError, match="voxel_size"):
        Volumes(torch.rand(1, 1, 5, 6, 7), voxel_size=-1.0)
    with pytest.raises(ValueError, match="volume_translation"):
        Volumes(torch.rand(1, 1, 5, 6, 7), volume_translation=(1.0, 2.0))
    with pytest.raises(ValueError, match="points_3d_world"):
        Volumes(torch.rand(1, 1, 5, 6, 7)).world_to_local_coords(torch.rand(2, 4, 3))

"""Voxel files: .npz (grid + bounds) and .npy (grid) round-trip; malformed files give named errors."""

import numpy as np
import pytest
import torch

from unrender.io import load_voxels, save_voxels
from unrender.structures import Voxels


def _voxels():
    g = torch.Generator().manual_seed(0)
    return Voxels([torch.rand(5, 6, 7, generator=g)], torch.tensor([[-1.0, -2.0, -0.5], [1.0, 0.5, 2.0]]))


def test_npz_round_trips_grid_and_bounds(tmp_path):
    v = _voxels()
    save_voxels(tmp_path / "v.npz", v)
    back = load_voxels(tmp_path / "v.npz")
    assert torch.equal(back.grids_list()[0], v.grids_list()[0]) and torch.equal(back.bounds(), v.bounds())


def test_npy_round_trips_the_grid_with_default_bounds(tmp_path):
    v = _voxels()
    save_voxels(tmp_path / "v.npy", v)
    back = load_voxels(tmp_path / "v.npy")
    assert torch.equal(back.grids_list()[0], v.grids_list()[0])
    assert torch.equal(back.bounds()[0], torch.tensor([[-1.0] * 3, [1.0] * 3]))


def test_occupancy_name_is_read(tmp_path):
    np.savez(tmp_path / "o.npz", occupancy=np.ones((2, 3, 4), dtype=np.uint8))
    assert load_voxels(tmp_path / "o.npz").grids_list()[0].shape == (2, 3, 4)


@pytest.mark.parametrize("make, pattern", [
    (lambda p: p.write_text("not a zip"), r"bad\.npz is not a readable NumPy file"),
    (lambda p: np.savez(p, grid=np.zeros((4, 4))), r"bad\.npz should hold a \(D, H, W\) array named 'grid'"),
    (lambda p: np.savez(p, grid=np.zeros((2, 2, 2)), bounds=np.zeros(3)), r"'bounds' in .*bad\.npz should have shape \(2, 3\)"),
    (lambda p: np.savez(p, grid=np.zeros((2, 2, 2)), bounds=np.array([[1, 1, 1], [0, 0, 0]])), r"bounds: expected max corner"),
], ids=["corrupt", "2-D grid", "bounds shape", "inverted bounds"])
def test_malformed_files_give_named_errors(tmp_path, make, pattern):
    make(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=pattern):
        load_voxels(tmp_path / "bad.npz")


def test_save_checks_its_input(tmp_path):
    with pytest.raises(ValueError, match="voxels: expected a Voxels holding one grid, found 2"):
        save_voxels(tmp_path / "v.npz", Voxels([torch.zeros(2, 2, 2)] * 2))
    with pytest.raises(ValueError, match=r"expected a file ending in \.npz or \.npy"):
        save_voxels(tmp_path / "v.vox", _voxels())
    with pytest.raises(FileNotFoundError, match="none.npz"):
        load_voxels(tmp_path / "none.npz")

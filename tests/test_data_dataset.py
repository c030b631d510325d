"""Dataset folders: layout, keys, determinism across workers, atomic writes, ShapeDataset batches, errors."""

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from unrender.data import CATEGORIES, ShapeDataset, object_seed, read_dataset_info, write_dataset
from unrender.io.arrays import load_arrays
from unrender.image import network_input

SMALL = dict(train=1, val=0, test=1, categories=["chair", "mug"], views=2, points=256, occupancy_samples=128,
             progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "shapes"
    info = write_dataset(root, **SMALL)
    return root, info


def test_layout_keys_dtypes_and_shapes(dataset):
    root, info = dataset
    assert json.loads((root / "dataset.json").read_text()) == info
    assert info["format"] == "unrender-shapes" and info["version"] == 1
    assert info["splits"] == {"train": 1, "val": 0, "test": 1} and info["categories"] == ["chair", "mug"]
    assert info["camera"] == {"distance": 2.2, "fov": 40.0, "elevation": [0.0, 45.0]}
    assert (info["image_size"], info["render_size"], info["resolution"], info["bounds"]) == (64, 128, 32, 0.5)
    assert sorted(p.name for p in (root / "train").iterdir()) == ["000000.npz", "000001.npz"]
    assert list((root / "val").iterdir()) == [] and not root.with_name("shapes.partial").exists()
    a = load_arrays(root / "train" / "000001.npz")
    assert int(a["category"]) == CATEGORIES.index("mug") and a["category"].dtype == np.int64
    assert int(a["seed"]) == object_seed(0, "train", "mug", 0)
    expect = {"verts": (np.float32, None), "faces": (np.int32, None), "vert_colors": (np.uint8, None),
              "voxels": (np.uint8, (4096,)), "points": (np.float32, (256, 3)), "normals": (np.float32, (256, 3)),
              "occ_points": (np.float32, (128, 3)), "occ_inside": (np.bool_, (128,)),
              "images": (np.uint8, (2, 64, 64, 4)), "R": (np.float32, (2, 3, 3)), "T": (np.float32, (2, 3)),
              "fov": (np.float32, ()), "view_voxels": (np.uint8, (2 * 4096,))}
    for key, (dtype, shape) in expect.items():
        assert a[key].dtype == dtype, key
        if shape is not None:
            assert a[key].shape == shape, key
    assert a["vert_colors"].shape == a["verts"].shape and int(a["faces"].max()) < len(a["verts"])
    assert float(np.abs(a["verts"]).max()) <= 0.5 + 1e-5
    assert float(a["fov"]) == 40.0
    # cameras: distance 2.2 from the origin, elevation within [0, 45] degrees
    centres = -np.einsum("vi,vji->vj", a["T"], a["R"])  # C = -T R^T
    assert np.allclose(np.linalg.norm(centres, axis=1), 2.2, atol=1e-4)
    assert (centres[:, 1] >= -1e-4).all() and (centres[:, 1] <= 2.2 * np.sin(np.radians(45)) + 1e-4).all()
    # near-surface half and uniform half of the occupancy samples; both inside and outside present
    assert 0 < a["occ_inside"].mean() < 1 and np.abs(a["occ_points"][64:]).max() <= 0.55


def test_images_are_framed_objects(dataset):
    root, _ = dataset
    images = load_arrays(root / "test" / "000000.npz")["images"]
    for im in images:
        alpha = im[..., 3] > 127
        rows, cols = np.nonzero(alpha.any(1))[0], np.nonzero(alpha.any(0))[0]
        extent = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
        assert abs(extent - 64 / 1.16) <= 2  # the object's larger side fills the frame up to the margin
        assert len(np.unique(im[alpha][:, :3], axis=0)) > 20  # shaded, not flat


def test_same_seed_same_arrays_whatever_the_workers(dataset, tmp_path):
    root, _ = dataset
    other = tmp_path / "again"
    write_dataset(other, **{**SMALL, "workers": 2})
    for split in ("train", "test"):
        for p in sorted((root / split).iterdir()):
            a, b = load_arrays(p), load_arrays(other / split / p.name)
            assert a.keys() == b.keys()
            for key in a:
                assert np.array_equal(a[key], b[key]), (p, key)
    assert object_seed(0, "train", "mug", 0) != object_seed(1, "train", "mug", 0) != object_seed(0, "val", "mug", 0)


def test_shape_dataset_items_and_dataloader_workers(dataset):
    root, info = dataset
    ds = ShapeDataset(root, "train", points=100)
    assert len(ds) == 2 * 2 and ds.info == info and ds.object_path(1).name == "000001.npz"
    item = ds[3]
    a = load_arrays(ds.object_path(1))
    R = torch.from_numpy(a["R"][1])
    assert item["image"].shape == (4, 64, 64) and item["image"].dtype == torch.float32
    assert torch.allclose(item["image"], network_input(torch.from_numpy(a["images"][1]).float() / 255))
    assert torch.equal(item["voxels"], torch.from_numpy(np.unpackbits(a["view_voxels"])[32 ** 3:].reshape(32, 32, 32)).float())
    assert torch.allclose(item["points"], torch.from_numpy(a["points"][:100]) @ R)
    assert torch.allclose(item["normals"], torch.from_numpy(a["normals"][:100]) @ R)
    assert torch.equal(item["rotation"], R)
    assert (int(item["category"]), int(item["object"]), int(item["view"])) == (CATEGORIES.index("mug"), 1, 1)
    lazy = ShapeDataset(root, "train", points=100, preload=False)
    assert all(torch.equal(lazy[3][k], item[k]) for k in item)
    batches = list(DataLoader(ds, batch_size=3, num_workers=2))
    assert [len(b["view"]) for b in batches] == [3, 1]
    assert batches[0]["voxels"].shape == (3, 32, 32, 32) and batches[0]["points"].shape == (3, 100, 3)
    assert torch.equal(batches[1]["image"][0], item["image"])
    mugs = ShapeDataset(root, "test", points=64, categories=["mug"])
    assert len(mugs) == 2 and int(mugs[0]["category"]) == CATEGORIES.index("mug")


def test_errors_name_the_path_or_argument(dataset, tmp_path):
    root, _ = dataset
    with pytest.raises(FileNotFoundError, match="missing"):
        read_dataset_info(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        ShapeDataset(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json"):
        read_dataset_info(bad)
    (bad / "dataset.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="format"):
        read_dataset_info(bad)
    with pytest.raises(ValueError, match="split"):
        ShapeDataset(root, "training")
    with pytest.raises(ValueError, match="points"):
        ShapeDataset(root, points=10_000)
    with pytest.raises(ValueError, match="categories"):
        write_dataset(tmp_path / "x", categories=["sofa"], progress=False)
    with pytest.raises(ValueError, match="train"):
        write_dataset(tmp_path / "x", train=-1, progress=False)
    with pytest.raises(ValueError, match="train, val, test"):
        write_dataset(tmp_path / "x", train=0, val=0, test=0, progress=False)
    with pytest.raises(ValueError, match=str(root)):
        write_dataset(root, **SMALL)  # exists: nothing touched
    assert (root / "dataset.json").is_file() and not (tmp_path / "x").exists()
    broken = tmp_path / "broken"
    write_dataset(broken, **{**SMALL, "test": 0})
    (broken / "train" / "000001.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="000001.npz"):
        ShapeDataset(broken, points=64)


def test_overwrite_replaces_and_failures_leave_nothing(tmp_path, monkeypatch):
    root = tmp_path / "d"
    root.mkdir()
    (root / "old.txt").write_text("x")
    write_dataset(root, **{**SMALL, "test": 0, "categories": ["table"]}, overwrite=True)
    assert not (root / "old.txt").exists() and read_dataset_info(root)["categories"] == ["table"]

    import unrender.data.dataset as module

    def boom(*args, **kwargs):
        raise RuntimeError("generation failed")

    monkeypatch.setattr(module, "make_sample", boom)
    with pytest.raises(RuntimeError):
        write_dataset(tmp_path / "e", **SMALL)
    assert not (tmp_path / "e").exists() and not (tmp_path / "e.partial").exists()

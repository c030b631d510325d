"""Body-model files: unrender's npz, the smplx npz layout, the SMPL pkl through a restricted unpickler."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch

from unrender.body import BodyModel, procedural_body_arrays
from unrender.io import load_arrays, load_body_model, save_body_model


def smpl_layout(arrays):
    """The procedural body in SMPL's own layout (as the pkl and smplx's npz hold it)."""
    V = len(arrays["v_template"])
    table = np.stack([np.array(arrays["kintree_parents"]), np.arange(24)]).astype(np.int64)
    table[0, 0] = 4294967295  # how SMPL files mark the root
    return {"v_template": arrays["v_template"], "shapedirs": arrays["shapedirs"],
            "posedirs": arrays["posedirs"].reshape(V, 3, 207), "J_regressor": arrays["J_regressor"],
            "weights": arrays["weights"], "kintree_table": table, "f": arrays["f"].astype(np.uint32)}


def assert_same_model(loaded, arrays, atol=0.0):
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        np.testing.assert_allclose(loaded[key], arrays[key], atol=atol, rtol=0, err_msg=key)
    np.testing.assert_array_equal(loaded["f"], arrays["f"])
    np.testing.assert_array_equal(loaded["kintree_parents"], arrays["kintree_parents"])
    assert list(loaded["joint_names"]) == list(arrays["joint_names"])


@pytest.fixture(scope="module")
def arrays():
    return procedural_body_arrays(num_betas=6, posedirs_scale=0.01)


def test_own_npz_round_trip(tmp_path, arrays):
    save_body_model(tmp_path / "b.npz", arrays)
    loaded = load_body_model(tmp_path / "b.npz")
    assert loaded["v_template"].dtype == np.float32
    assert_same_model(loaded, arrays, atol=1e-6)
    assert loaded["body25_regressor"].shape == (25, 414)
    assert not list(tmp_path.glob("*partial*"))


def test_smplx_npz_layout_loads(tmp_path, arrays):
    d = smpl_layout(arrays)
    d["joint2num"] = np.array([{"pelvis": 0}], dtype=object)  # smplx files hold pickled extras: never read
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **d)
    loaded = load_body_model(tmp_path / "SMPL_NEUTRAL.npz")
    assert_same_model(loaded, arrays)
    assert "body25_regressor" not in loaded
    model = BodyModel.load(tmp_path / "SMPL_NEUTRAL.npz", dtype=torch.float64)
    out = model(betas=torch.ones(1, 6, dtype=torch.float64))
    assert out.vertices.shape == (1, 414, 3) and model.meta["keypoints"] == "geometric"  # built from its geometry
    assert out.keypoints["body25"].shape == (1, 25, 3) and out.keypoints["coco17"].shape == (1, 17, 3)


# Stand-ins named like chumpy's and SciPy's classes, pickled while fake modules of those names exist.
class Ch:
    def __init__(self, x):
        self.x = x
        self.dterms = ("x",)


class csc_matrix:  # noqa: N801 (SciPy's name)
    def __init__(self, dense):
        rows, cols = np.nonzero(dense.T)  # column-major: cols of dense are the outer index
        self.data = dense.T[rows, cols]
        self.indices = cols.astype(np.int32)
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[1]))]).astype(np.int32)
        self._shape = dense.shape
        self.maxprint = 50


def smpl_pickle(monkeypatch, obj, protocol=2) -> bytes:
    for module, cls in (("chumpy.ch", Ch), ("scipy.sparse._csc", csc_matrix)):
        monkeypatch.setattr(cls, "__module__", module)
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # fake packages too (the real SciPy, if any, is put back after)
            monkeypatch.setitem(sys.modules, ".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
        setattr(sys.modules[module], cls.__name__, cls)
    try:
        return pickle.dumps(obj, protocol=protocol)
    finally:
        monkeypatch.undo()


def test_smpl_pkl_with_chumpy_and_sparse_loads_without_them(tmp_path, monkeypatch, arrays):
    d = smpl_layout(arrays)
    d["shapedirs"] = Ch(d["shapedirs"])
    d["posedirs"] = Ch(d["posedirs"])
    d["J_regressor"] = csc_matrix(d["J_regressor"])
    d.update(bs_style="lbs", bs_type="lrotmin", vert_sym_idxs=np.arange(414), pose_training_info={"n": 3})
    data = smpl_pickle(monkeypatch, d)
    assert b"chumpy.ch" in data and b"scipy.sparse._csc" in data
    assert "chumpy" not in sys.modules and "chumpy.ch" not in sys.modules
    (tmp_path / "basicModel_neutral.pkl").write_bytes(data)
    loaded = load_body_model(tmp_path / "basicModel_neutral.pkl")
    assert_same_model(loaded, arrays, atol=1e-12)
    assert "chumpy" not in sys.modules


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "subprocess.call"])
def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path, target):
    sentinel = tmp_path / "pwned"
    module, name = target.split(".")
    call = getattr(__import__(module), name)
    command = f"open({str(sentinel)!r}, 'w').close()" if name == "eval" else f"touch {sentinel}"
    args = (command,) if name != "call" else (["touch", str(sentinel)],)

    class Evil:
        def __reduce__(self):
            return call, args

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "f": Evil()}, protocol=2))
    with pytest.raises(ValueError, match=r"refused the class or function \w+\.(system|eval|call)"):
        load_body_model(path)
    assert not sentinel.exists()
    pickle.loads(path.read_bytes())  # the payload is live: a plain unpickler runs it
    assert sentinel.exists()


def test_pickles_of_other_things_are_named(tmp_path, monkeypatch, arrays):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="expected a pickled dict of SMPL arrays, found list"):
        load_body_model(path)
    d = smpl_layout(arrays)
    del d["weights"]
    path.write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(ValueError, match="found no weights"):
        load_body_model(path)
    ch = Ch(None)
    del ch.x
    d = smpl_layout(arrays)
    d["shapedirs"] = ch
    path.write_bytes(smpl_pickle(monkeypatch, d))
    with pytest.raises(ValueError, match=r"shapedirs: chumpy.ch.Ch: expected a chumpy array holding its value in 'x'"):
        load_body_model(path)
    path.write_bytes(b"\x80\x02not a pickle at all")
    with pytest.raises(ValueError, match="is not a readable SMPL pickle"):
        load_body_model(path)


def test_wrong_keys_and_shapes_are_named(tmp_path, arrays):
    bad = dict(arrays, weights=arrays["weights"][:, :20])
    with pytest.raises(ValueError, match=r"weights: expected shape \(414, 24\), found shape \(414, 20\)"):
        save_body_model(tmp_path / "b.npz", bad)
    np.savez(tmp_path / "b.npz", **bad)
    with pytest.raises(ValueError, match=r"b.npz: weights: expected shape \(414, 24\)"):
        load_body_model(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", **dict(arrays, posedirs=arrays["posedirs"][:, :200]))
    with pytest.raises(ValueError, match=r"posedirs: expected shape \(1242, 207\), found shape \(1242, 200\)"):
        load_body_model(tmp_path / "c.npz")
    np.savez(tmp_path / "d.npz", verts=arrays["v_template"])
    with pytest.raises(ValueError, match="expected a body model .*found the arrays"):
        load_body_model(tmp_path / "d.npz")
    no_regressor = {k: v for k, v in arrays.items() if k != "J_regressor"}
    with pytest.raises(ValueError, match="found no J_regressor"):
        BodyModel.from_arrays(no_regressor)
    with pytest.raises(ValueError, match="body25_regressor: expected convex rows"):
        BodyModel.from_arrays(dict(arrays, body25_regressor=2 * arrays["body25_regressor"]))
    with pytest.raises(ValueError, match="v_template: expected finite values"):
        BodyModel.from_arrays(dict(arrays, v_template=np.full((414, 3), np.nan)))
    with pytest.raises(ValueError, match="kintree_parents: expected -1 for joint 0"):
        BodyModel.from_arrays(dict(arrays, kintree_parents=np.arange(24) - 1 + (np.arange(24) > 5)))


def test_size_limits_and_suffixes(tmp_path, arrays):
    save_body_model(tmp_path / "b.npz", arrays)
    with pytest.raises(ValueError, match="at most 1000 bytes .*MAX_BODY_MODEL_BYTES"):
        load_body_model(tmp_path / "b.npz", max_bytes=1000)
    with pytest.raises(ValueError, match=r"expected a body model ending in .npz or .pkl, found '.obj'"):
        (tmp_path / "b.obj").write_text("v 0 0 0\n")
        load_body_model(tmp_path / "b.obj")
    with pytest.raises(FileNotFoundError):
        load_body_model(tmp_path / "missing.pkl")


def test_load_arrays_admits_strings_and_selected_keys_only_on_request(tmp_path):
    np.savez(tmp_path / "s.npz", names=np.array(["a", "bc"]), x=np.ones(3), extra=np.array([{}], dtype=object))
    with pytest.raises(ValueError, match="expected a bool, integer or float array"):
        load_arrays(tmp_path / "s.npz")
    got = load_arrays(tmp_path / "s.npz", strings=True, keys={"names", "x"})
    assert sorted(got) == ["names", "x"] and list(got["names"]) == ["a", "bc"]


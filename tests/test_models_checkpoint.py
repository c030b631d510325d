"""unrender.models checkpoints: round trips, half precision, sizes, every refusal naming the file, shipped weights."""

import json

import pytest
import torch

from unrender.models import (
    KINDS,
    MAX_CHECKPOINT_BYTES,
    build_model,
    load_checkpoint,
    load_shipped,
    save_checkpoint,
    shipped_checkpoint,
)
from unrender.threads import using_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with using_threads(1):
        yield


def _small(kind, **kw):
    torch.manual_seed(0)
    return build_model(kind=kind, latent=16, hidden=16, n_points=64, ico_level=1, **kw).eval()


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_gives_identical_outputs(tmp_path, kind):
    model = _small(kind, norm="batch")  # batch norm: running statistics are state too
    images = torch.rand(2, 4, 64, 64)
    path = save_checkpoint(tmp_path / "m.pt", model, info={"step": 7, "note": "x"})
    loaded, info = load_checkpoint(path, kind=kind)
    assert info == {"step": 7, "note": "x"} and loaded.config == model.config and not loaded.training
    assert torch.equal(loaded(images), model(images))
    assert not (tmp_path / "m.pt.partial").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_half_checkpoint_is_close_and_float32_when_loaded(tmp_path, kind):
    model = _small(kind)
    images = torch.rand(2, 4, 64, 64)
    save_checkpoint(tmp_path / "h.pt", model, half=True)
    stored = torch.load(tmp_path / "h.pt", weights_only=True)["state"]
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
    loaded, info = load_checkpoint(tmp_path / "h.pt")
    assert info == {} and all(p.dtype == torch.float32 for p in loaded.parameters())
    with torch.no_grad():
        a, b = model(images), loaded(images)
    assert torch.allclose(a, b, atol=2e-2 * float(a.abs().max()) + 1e-3)


@pytest.mark.parametrize("kind", KINDS)
def test_default_half_checkpoints_are_under_6_mb(tmp_path, kind):
    path = save_checkpoint(tmp_path / f"{kind}.pt", build_model(kind=kind), half=True)
    assert path.stat().st_size < 6 * 2**20


def _payload(model, **changes):
    data = {"format": "unrender-single-view", "version": 1, "config": model.config.to_json(), "info": "{}",
            "state": model.state_dict()}
    data.update(changes)
    return data


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_corrupt_and_foreign_files_are_refused_by_name(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.pt: not a readable torch checkpoint"):
        load_checkpoint(junk)
    model = _small("mesh")
    good = save_checkpoint(tmp_path / "good.pt", model)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.pt: not a readable"):
        load_checkpoint(cut)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "unrender-single-view", "x": Evil()}, path)
    with pytest.raises(ValueError, match="evil.pt: not a readable"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "something-else"}, "expected a 'unrender-single-view' checkpoint, found format 'something-else'"),
        ({"version": 9}, "expected checkpoint version 1, found 9"),
        ({"config": "{not json"}, "expected the 'config' entry to be a JSON object"),
        ({"config": json.dumps({"kind": "mesh", "width": 3})}, r"bad model config: config: unknown keys \['width'\]"),
        ({"config": json.dumps({"kind": "mesh", "latent": -1})}, "bad model config: latent"),
        ({"info": "[1, 2]"}, "expected the 'info' entry to be a JSON object"),
        ({"state": {"encoder.fc.weight": torch.zeros(2, 2)}}, "the weights do not fit the mesh model of its config: missing .* more; wrong shape encoder.fc.weight"),
    ],
)
def test_bad_contents_are_refused_naming_the_file(tmp_path, changes, message):
    path = tmp_path / "bad.pt"
    torch.save(_payload(_small("mesh"), **changes), path)
    with pytest.raises(ValueError, match="bad.pt: " + message):
        load_checkpoint(path)


def test_a_plain_state_dict_is_the_wrong_format(tmp_path):
    path = tmp_path / "state.pt"
    torch.save(_small("vox").state_dict(), path)
    with pytest.raises(ValueError, match="state.pt: expected a 'unrender-single-view' checkpoint, found format None"):
        load_checkpoint(path)


def test_another_kind_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "p.pt", _small("points"))
    with pytest.raises(ValueError, match="p.pt: expected a vox checkpoint, found a points checkpoint"):
        load_checkpoint(path, kind="vox")
    with pytest.raises(ValueError, match="kind"):
        load_checkpoint(path, kind="sdf")


def test_too_large_file_is_refused_before_reading(tmp_path, monkeypatch):
    import unrender.models.checkpoint as ck

    path = save_checkpoint(tmp_path / "big.pt", _small("vox"))
    monkeypatch.setattr(ck, "MAX_CHECKPOINT_BYTES", 100)
    monkeypatch.setattr(ck.torch, "load", lambda *a, **k: pytest.fail("read a file over the limit"))
    with pytest.raises(ValueError, match="big.pt: checkpoint of .* bytes is larger than MAX_CHECKPOINT_BYTES"):
        load_checkpoint(path)
    assert MAX_CHECKPOINT_BYTES == 256 * 2**20


def test_shipped_checkpoint_paths_and_a_missing_one(tmp_path, monkeypatch):
    import unrender.models.checkpoint as ck

    for kind in KINDS:
        p = shipped_checkpoint(kind)
        assert p.name == f"{kind}.pt" and p.parent.name == "weights" and (p.parent / "README.md").is_file()
    with pytest.raises(ValueError, match="kind"):
        shipped_checkpoint("sdf")
    monkeypatch.setattr(ck, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="mesh.pt: the shipped mesh checkpoint is missing"):
        load_shipped("mesh")
    save_checkpoint(tmp_path / "mesh.pt", _small("mesh"), half=True)
    assert load_shipped("mesh").kind == "mesh"

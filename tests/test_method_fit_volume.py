"""fit-volume at CI size: the pipeline learns (held-out PSNR, mesh near the object), outputs and
their kinds, seeding, cancelling, bad input (cameras that do not see the box)."""

import pytest
import torch

from unrender.methods import get_method, run_method
from unrender.metrics import mesh_f1
from unrender.render import example_views

SMALL = {"resolution": 24, "stages": 2, "steps": 150, "rays": 1024, "samples": 48, "seed": 0}


@pytest.fixture(scope="module")
def scene():
    return example_views(12, 3, 32, seed=0, detail=1)


@pytest.fixture(scope="module")
def fitted(scene):
    return run_method("fit-volume", {"views": scene[0]}, SMALL)


def test_registered():
    m = get_method("fit-volume")
    assert [(o.name, o.kind) for o in m.outputs] == [("voxels", "voxels"), ("mesh", "mesh"), ("renders", "image")]
    assert m.inputs[0].kinds == ("views",)


def test_small_fit_learns_the_scene(scene, fitted):
    views, mesh = scene
    assert fitted.history[-1] < 0.3 * fitted.history[0]
    assert fitted.metrics["psnr"] >= 19.0, fitted.metrics
    assert set(fitted.extra["psnr_per_view"]) == {n for n, s in zip(views.file_names, views.splits) if s == "test"}
    f1 = mesh_f1(fitted.outputs["mesh"], mesh, thresholds=(0.05, 0.1), num_samples=5000)
    assert float(f1["f1@0.05"]) >= 0.85 and float(f1["f1@0.1"]) >= 0.95, f1
    colors = fitted.outputs["mesh"].textures.verts_features_list()[0]
    assert float(colors.std(0).mean()) > 0.1  # coloured, not grey


def test_outputs(fitted):
    vox = fitted.outputs["voxels"]
    grid = vox.grids_list()[0]
    assert grid.shape == (24, 24, 24) and float(grid.min()) >= 0 and float(grid.max()) <= 1
    assert fitted.extra["resolutions"] == [12, 24]
    r = fitted.outputs["renders"]
    assert r.shape == (512, 768, 3)  # three held-out views over their truth, 32 px enlarged 8x (>= 256 px)
    assert torch.equal(r[::8, ::8].repeat_interleave(8, 0).repeat_interleave(8, 1), r)  # nearest: no blur
    assert len(fitted.history) == 150 and not fitted.cancelled


def test_seeded(scene):
    once = run_method("fit-volume", {"views": scene[0]}, {**SMALL, "steps": 5})
    twice = run_method("fit-volume", {"views": scene[0]}, {**SMALL, "steps": 5})
    other = run_method("fit-volume", {"views": scene[0]}, {**SMALL, "steps": 5, "seed": 1})
    assert once.history == twice.history != other.history


def test_cancel_keeps_the_best_step(scene):
    calls = []

    def progress(step, total, loss, preview=None):
        calls.append(step)
        return step < 8

    r = run_method("fit-volume", {"views": scene[0]}, {**SMALL, "steps": 40}, progress=progress)
    assert r.cancelled and len(r.history) == 8 and r.saved_step == min(range(8), key=r.history.__getitem__)


def test_cameras_that_do_not_see_the_box_are_named(scene):
    views = scene[0].subset(range(6))
    views.cameras.T[2] = views.cameras.T[2] * -1  # frame 0002 now looks away from the object
    with pytest.raises(ValueError, match="0002"):
        run_method("fit-volume", {"views": views}, {**SMALL, "steps": 2})


QUICK_FLAGS = ["--steps", "20", "--resolution", "16", "--rays", "512", "--samples", "32", "--quiet"]


def test_cli_on_a_transforms_folder(scene, tmp_path, capsys):
    import json

    from unrender.cli import main
    from unrender.io.views import save_views

    save_views(tmp_path / "data", scene[0])
    code = main(["fit-volume", "--input", str(tmp_path / "data"), "--output", str(tmp_path / "out"), *QUICK_FLAGS])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["method"] == "fit-volume" and summary["metrics"]["psnr"] > 10
    for name in ("voxels", "mesh", "renders"):
        assert summary["files"][name] and all((tmp_path / "out" / f).stat().st_size > 0 for f in summary["files"][name])
    assert (tmp_path / "out" / "loss.png").exists()


def test_cli_example(tmp_path, capsys):
    from unrender.cli import main

    code = main(["fit-volume", "--example", "--output", str(tmp_path / "ex"), *QUICK_FLAGS])
    assert code == 0, capsys.readouterr().err


def _shell(n=32, radius=10.0, wall=2.0):
    """``(n, n, n)`` bool: a hollow spherical shell of ``wall`` voxels around the centre."""
    c = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    r = torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1).norm(dim=-1)
    return (r <= radius) & (r > radius - wall), r


def test_fill_cavities_fills_a_closed_shell_and_with_close_a_leaky_one():
    from unrender.volumetric import fill_cavities

    shell, r = _shell()
    inside = r <= 10.0
    assert torch.equal(fill_cavities(shell), inside)  # closed: the inside is filled
    leaky = shell.clone()
    leaky[14:18, 14:18, 20:] = False  # a 4-voxel hole through the wall
    assert not fill_cavities(leaky)[16, 16, 16]  # the outside flows in through the hole
    filled = fill_cavities(leaky, close=2)
    assert filled[16, 16, 16] and torch.equal(filled & ~leaky, (inside & ~leaky) & filled)
    assert int((filled & ~inside).sum()) == 0  # nothing outside the object is filled
    assert bool(filled[(r <= 7.0)].all())  # the whole hollow is filled
    with pytest.raises(ValueError, match="close"):
        fill_cavities(shell, close=-1)


def test_fill_cavities_with_close_keeps_wide_concavities_empty():
    from unrender.volumetric import fill_cavities

    cup = torch.zeros(32, 32, 32, dtype=torch.bool)
    cup[4:28, 4:28, 4:8] = True  # the floor
    cup[4:28, 4:8, 4:28] = cup[4:28, 24:28, 4:28] = cup[4:8, 4:28, 4:28] = cup[24:28, 4:28, 4:28] = True
    filled = fill_cavities(cup, close=2)  # open at the top, 16 voxels wide inside: a concavity, not a cavity
    assert not filled[16, 16, 16] and torch.equal(filled, cup)

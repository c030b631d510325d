"""Pictures that tell the truth: frames that hold every panel, legends, labelled stage marks."""

import torch

from unrender.methods.pictures import enclosing_frame, pictures_up_axis, up_axis
from unrender.methods.runner import Tracker
from unrender.plots import legend, plot_curves
from unrender.render import frame_of
from unrender.structures import PointClouds


def test_enclosing_frame_holds_every_sphere():
    clouds = [PointClouds([torch.randn(50, 3, generator=torch.Generator().manual_seed(i)) * (i + 1) + i * 3])
              for i in range(3)]
    c, r = enclosing_frame(clouds + [None])
    for cloud in clouds:
        c2, r2 = frame_of(cloud)
        assert float((c2 - c).norm()) + r2 <= r * (1 + 1e-5)


def test_legend_adds_a_band_with_each_colour():
    img = torch.full((40, 120, 3), 0.5)
    out = legend(img, [((1.0, 0.0, 0.0), "start"), ((0.0, 1.0, 0.0), "result")])
    assert out.shape[0] > 40 and out.shape[1] == 120
    band = out[40:]
    for rgb in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)):
        assert ((band - torch.tensor(rgb)).abs().amax(-1) < 0.01).sum() > 20


def test_labelled_marks_are_drawn():
    plain = plot_curves([1.0, 2.0, 3.0, 2.0], marks=[2])
    labelled = plot_curves([1.0, 2.0, 3.0, 2.0], marks=[(2, "refine")])
    assert (plain - labelled).abs().amax(-1).gt(0.1).sum() > 10


def test_tracker_records_stage_starts():
    t = Tracker(lambda *a: True, 6)
    for step in range(3):
        t.update(step, 1.0)
    t.new_stage()
    for step in range(3, 6):
        t.update(step, 5.0)
    assert t.result({}).extra["stages"] == [{"step": 3, "label": "new stage (loss not comparable)"}]
    assert t.result({}, stages=[]).extra["stages"] == []


def test_pictures_up_axis_is_scoped():
    assert up_axis() == "z"
    with pictures_up_axis("y"):
        assert up_axis() == "y"
    assert up_axis() == "z"


def _green_share(img: torch.Tensor) -> float:
    """Share of the non-white pixels of ``img (H, W, 3)`` that are clearly green."""
    drawn = img.amin(-1) < 0.9
    green = (img[..., 1] > img[..., 0] + 0.2) & (img[..., 1] > img[..., 2] + 0.2)
    return float((green & drawn).sum()) / max(int(drawn.sum()), 1)


def test_default_pictures_draw_vertex_colours_and_a_start_with_something_in_it():
    from unrender.geometry.primitives import icosphere
    from unrender.methods.base import Output, Result
    from unrender.methods.pictures import default_pictures
    from unrender.render import TexturesVertex
    from unrender.structures import Meshes

    sphere = icosphere(2)
    v = sphere.verts_list()[0]
    green = Meshes([v], [sphere.faces_list()[0]], textures=TexturesVertex([torch.tensor([0.1, 0.8, 0.1]).expand_as(v)]))
    empty = Meshes([torch.zeros(0, 3)], [torch.zeros(0, 3, dtype=torch.long)])

    class OneMesh:
        outputs = (Output("mesh", "mesh", "a mesh"),)

    result = Result(outputs={"mesh": green}, history=[1.0] * 10, snapshots=[(0, empty), (4, green), (9, green)])
    pics = default_pictures(OneMesh(), {}, result)
    start, final = pics["before_after"][:, :256], pics["before_after"][:, -256:]
    assert _green_share(final) > 0.5  # the mesh's own colours, not the default bronze
    assert _green_share(start) > 0.5  # the first snapshot with something to draw (step 5), not the empty one
    assert all(_green_share(f) > 0.5 for f in pics["progress"][1:])
    plain = Result(outputs={"mesh": sphere}, snapshots=[(0, sphere)])
    assert _green_share(default_pictures(OneMesh(), {}, plain)["before_after"][:, -256:]) < 0.05

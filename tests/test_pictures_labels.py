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

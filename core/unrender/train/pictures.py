"""The pictures of a training run: example predictions next to their input and truth."""

from __future__ import annotations

import torch

__all__ = ["VIEW_AZIMUTH", "render_view", "examples_picture", "comparison_picture"]

# render_still (up "y") with azimuth 180 and elevation 0 puts its camera on the -Z axis looking along +Z
# with +Y up: PyTorch3D's view axes, so a view-frame object is seen as from the input's camera
VIEW_AZIMUTH = 180.0
_FRAME = (torch.zeros(3), 0.55)  # view-frame objects fit the sphere of radius 0.5; a margin for errors


def render_view(obj, size: int = 128) -> torch.Tensor:
    """``(size, size, 3)`` render of a view-frame mesh, point cloud or voxel grid from the input's
    camera direction, framed so every object of the dataset shares one scale."""
    from ..render import render_still

    return render_still(obj, size=size, azimuth=VIEW_AZIMUTH, elevation=0.0, frame=_FRAME, up="y")


def examples_picture(model, batch: dict, size: int = 128) -> torch.Tensor:
    """One row per item of ``batch`` (a ``ShapeDataset`` batch): the input image | the model's
    prediction | the truth. Returns ``(H, W, 3)`` float in [0, 1]; see :func:`comparison_picture`."""
    return comparison_picture({"prediction": model}, batch, size)


def comparison_picture(models: dict, batch: dict, size: int = 128) -> torch.Tensor:
    """One row per item of ``batch`` (a ``ShapeDataset`` batch): the input image | each model's prediction
    (a points model: its points; the others: their meshes) | the truth (its surface points, which keep thin
    parts a 32^3 grid loses), each ``size`` pixels square, the first row captioned with ``models``' names.
    Returns ``(H, W, 3)`` float in [0, 1]."""
    from ..image import enlarge_nearest
    from ..plots import caption, hstack
    from ..structures import PointClouds

    images = batch["image"]
    preds = [m.predict(images) for m in models.values()]
    rows = []
    for i in range(images.shape[0]):
        rgb = images[i, :3].permute(1, 2, 0).clamp(0, 1).cpu()
        rgb = torch.nn.functional.interpolate(enlarge_nearest(rgb, size).permute(2, 0, 1)[None], size=(size, size),
                                              mode="nearest")[0].permute(1, 2, 0)
        truth = PointClouds([batch["points"][i].float().cpu()])
        shown = [p.points[i] if p.points is not None else p.meshes[i] for p in preds]
        row = [rgb, *(render_view(s, size) for s in shown), render_view(truth, size)]
        if i == 0:
            row = [caption(im, text) for im, text in zip(row, ("input", *models, "truth"))]
        rows.append(hstack(row))
    gap = torch.ones(4, rows[0].shape[1], 3)
    return torch.cat([t for r in rows for t in (r, gap)][:-1], 0)

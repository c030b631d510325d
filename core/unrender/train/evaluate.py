"""Evaluating single-view models on a dataset split: voxel IoU, chamfer and F1, scale-normalised."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import torch

__all__ = ["F1_THRESHOLDS", "EVAL_FILES", "LEVELS", "calibrate_level", "evaluate", "item_scores", "eval_markdown", "plot_f1", "write_eval"]

F1_THRESHOLDS = (0.01, 0.02, 0.03, 0.04, 0.05)
EVAL_FILES = ("eval.md", "eval.json", "f1.png")
#: The surface levels :func:`calibrate_level` tries for a vox model.
LEVELS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


def _named_models(models) -> dict:
    """``{name: (model, checkpoint path or None)}`` from models, checkpoint paths, or a mapping of them;
    checkpoints are loaded (and checked) here, before any evaluation."""
    from ..models import load_checkpoint

    items = list(models.items()) if isinstance(models, Mapping) else [(None, m) for m in models]
    if not items:
        raise ValueError("models: expected at least one model or checkpoint path, found none")
    named: dict = {}
    for name, m in items:
        path = None
        if isinstance(m, (str, Path)):
            path = Path(m)
            m, _ = load_checkpoint(path)
        if name is None:  # the file's name; a training run's checkpoint.pt: its folder's
            name = m.kind if path is None else path.parent.name if path.stem == "checkpoint" and path.parent.name else path.stem
        base, k = name, 2
        while name in named:
            name, k = f"{base}-{k}", k + 1
        named[name] = (m, path)
    return named


def _pick_items(dataset, limit: int | None, views: int | None) -> list[int]:
    """Indices of the items of at most ``limit`` objects, taken round-robin over the categories (so a
    small limit still sees each), and of each object's first ``views`` views."""
    n_views = dataset.views
    objects: dict[int, list[int]] = {}
    for obj in range(len(dataset) // n_views):  # item i is view i % views of object i // views
        objects.setdefault(dataset.object_category(obj), []).append(obj)
    order = [o for rank in range(max(map(len, objects.values()), default=0))
             for cat in sorted(objects) if rank < len(objects[cat]) for o in [objects[cat][rank]]]
    keep = sorted(order[:limit] if limit is not None else order)
    shown = n_views if views is None else min(views, n_views)
    return [obj * n_views + v for obj in keep for v in range(shown)]


def _pred_points(pred, i: int, kind: str, samples: int, generator: torch.Generator) -> torch.Tensor:
    """``(N, 3)`` points of item ``i`` of a ``Prediction``: a points model's own points, else ``samples``
    area-uniform samples of its mesh; an empty mesh gives the single point at the origin (finite scores)."""
    from ..geometry import sample_points_from_meshes

    if kind == "points" and pred.points is not None:
        return pred.points.points_list()[i]
    mesh = pred.meshes[i]
    if mesh.faces_packed().shape[0] == 0:
        return torch.zeros(1, 3, device=mesh.verts_packed().device)
    return sample_points_from_meshes(mesh, samples, generator=generator)[0]


def item_scores(pred_points: torch.Tensor, truth_points: torch.Tensor, thresholds=F1_THRESHOLDS) -> dict:
    """Chamfer (squared L2, PyTorch3D's) and F1 at ``thresholds`` of ``pred_points (N, 3)`` against
    ``truth_points (M, 3)``, both scaled by 1 / the longest edge of the truth's bounding box (Mesh R-CNN)."""
    from ..losses import chamfer_distance
    from ..metrics import point_f1

    edge = (truth_points.max(0).values - truth_points.min(0).values).max().clamp_min(1e-12)
    p, t = pred_points / edge, truth_points / edge
    scores = {"chamfer": float(chamfer_distance(p[None], t[None])[0])}
    f1 = point_f1(p, t, thresholds)
    scores.update({f"f1@{th:g}": float(f1[f"f1@{th:g}"]) for th in thresholds})
    return scores


def evaluate(models, data, split: str = "test", *, output=None, limit: int | None = None, views: int | None = None,
             batch_size: int = 16, samples: int = 10_000, seed: int = 0, device: str = "cpu",
             progress: bool = False) -> dict:
    """Scores of each model on the ``split`` of the dataset folder ``data``.

    ``models``: models, checkpoint paths (loaded with :func:`unrender.models.load_checkpoint`), or a
    mapping ``{name: model or path}``. Each (object, view) item's prediction (``model.predict``) is
    compared with the truth in the view frame, scale-normalised like Mesh R-CNN (both scaled by 1 / the
    longest edge of the truth's bounding box): chamfer (squared L2), F1 at :data:`F1_THRESHOLDS` between
    ``samples`` points of the predicted mesh (a points model: its points; fixed ``seed``) and the stored
    surface points, and for voxel models the voxel IoU of the predicted probabilities at 0.5 against the
    view's occupancy grid. ``limit``: at most so many objects (round-robin over the categories);
    ``views``: each object's first so many views (default all).

    Returns ``{"split", "data", "objects", "items", "thresholds", "models": {name: {"kind", "checkpoint",
    "overall": {metric: mean}, "categories": {category: {metric: mean, "items": n}}}}}``; with ``output``
    also writes ``eval.md``, ``eval.json`` and ``f1.png`` there (:func:`write_eval`).
    """
    from torch.utils.data import DataLoader, Subset

    from ..data import ShapeDataset, read_dataset_info
    from ..metrics import voxel_iou

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: expected an int >= 1 or None, found {limit!r}")
    info = read_dataset_info(data)
    if info["splits"].get(split, 0) < 1:
        raise ValueError(f"split: {data} has no {split!r} objects (splits: {info['splits']})")
    named = _named_models(models)
    dataset = ShapeDataset(data, split, points=int(info.get("points", 4096)))
    indices = _pick_items(dataset, limit, views)
    categories = list(info["categories"])
    dev = torch.device(device)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(named) * len(indices), desc="eval", unit="item", dynamic_ncols=True)
    results = {"split": split, "data": str(data), "objects": len({i // dataset.views for i in indices}),
               "items": len(indices), "thresholds": list(F1_THRESHOLDS), "models": {}}
    for name, (model, path) in named.items():
        model = model.to(dev).eval()
        generator = torch.Generator(device=dev).manual_seed(seed)
        per_cat: dict[str, list[dict]] = {}
        for batch in DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False):
            pred = model.predict(batch["image"].to(dev))
            for i in range(batch["image"].shape[0]):
                truth = batch["points"][i].to(dev)
                scores = item_scores(_pred_points(pred, i, model.kind, samples, generator), truth)
                if pred.voxels is not None:
                    scores["iou"] = float(voxel_iou(pred.voxels.grids_list()[i], batch["voxels"][i].to(dev),
                                                    threshold=model.config.level))
                per_cat.setdefault(categories[int(batch["category"][i])], []).append(scores)
            if bar is not None:
                bar.update(batch["image"].shape[0])
        everything = [s for rows in per_cat.values() for s in rows]
        results["models"][name] = {
            "kind": model.kind, "checkpoint": str(path) if path is not None else None,
            "overall": {**_means(everything), "items": len(everything)},
            "categories": {c: {**_means(per_cat[c]), "items": len(per_cat[c])} for c in categories if c in per_cat},
        }
    if bar is not None:
        bar.close()
    if output is not None:
        write_eval(results, output)
    return results


def calibrate_level(model, dataset, indices: Sequence[int], levels: Sequence[float] = LEVELS, *,
                    batch_size: int = 16, samples: int = 10_000, seed: int = 0) -> tuple[float, dict]:
    """The surface level of a vox ``model`` with the best mean F1@0.05 over ``dataset[indices]`` (the val
    split's items), scored as :func:`evaluate` does. Returns ``(level, {level: mean F1@0.05})``;
    ``model.config.level`` is left as it was."""
    from torch.utils.data import DataLoader, Subset

    if model.kind != "vox":
        raise ValueError(f"model: expected a vox model to calibrate, found a {model.kind} model")
    if not indices:
        raise ValueError("indices: expected at least one item to calibrate on, found none")
    dev = next(model.parameters()).device
    original, scores = model.config.level, {}
    try:
        for level in levels:
            model.config.level = float(level)
            generator = torch.Generator(device=dev).manual_seed(seed)
            f1 = []
            for batch in DataLoader(Subset(dataset, list(indices)), batch_size=batch_size, shuffle=False):
                pred = model.predict(batch["image"].to(dev, next(model.parameters()).dtype))
                for i in range(batch["image"].shape[0]):
                    points = _pred_points(pred, i, "vox", samples, generator)
                    f1.append(item_scores(points, batch["points"][i].to(points), (0.05,))["f1@0.05"])
            scores[float(level)] = sum(f1) / len(f1)
    finally:
        model.config.level = original
    return max(scores, key=scores.get), scores


def _means(rows: Sequence[dict]) -> dict:
    keys = [k for k in ("iou", "chamfer", *(f"f1@{t:g}" for t in F1_THRESHOLDS)) if rows and k in rows[0]]
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


def eval_markdown(results: dict) -> str:
    """A markdown table of :func:`evaluate`'s results: one row per model and category, then the model's
    overall means."""
    ts = results["thresholds"]
    head = ["model", "category", "items", "IoU", "chamfer", *(f"F1@{t:g}" for t in ts)]
    lines = [f"Evaluation on the {results['split']} split of {results['data']}: {results['objects']} objects, "
             f"{results['items']} views; chamfer (squared L2) and F1 scale-normalised (truth's longest bounding-box "
             "edge = 1).", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(name: str, cat: str, m: dict) -> str:
        iou = f"{m['iou']:.3f}" if "iou" in m else "-"
        f1 = [f"{m[f'f1@{t:g}']:.3f}" for t in ts]
        return "| " + " | ".join([name, cat, str(m["items"]), iou, f"{m['chamfer']:.4f}", *f1]) + " |"

    for name, r in results["models"].items():
        lines += [row(name, cat, m) for cat, m in r["categories"].items()]
        lines.append(row(f"**{name}**", "**all**", r["overall"]))
    return "\n".join(lines) + "\n"


def plot_f1(results: dict, path=None) -> torch.Tensor:
    """F1 against the threshold, one curve per model (``plots.plot_curves``); optionally a PNG."""
    from ..plots import plot_curves

    ts = results["thresholds"]
    curves = {name: [r["overall"][f"f1@{t:g}"] for t in ts] for name, r in results["models"].items()}
    return plot_curves(curves, path, log=False, title=f"F1 on the {results['split']} split", ylabel="F1",
                       xlabel="distance threshold (scale-normalised): " + ", ".join(f"{i} = {t:g}" for i, t in enumerate(ts)))


def write_eval(results: dict, output) -> list[str]:
    """Write ``eval.md``, ``eval.json`` and ``f1.png`` into the folder ``output`` (each whole or absent)."""
    from .loop import replace_file

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=1, default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else x)
    replace_file(out / "eval.md", lambda p: p.write_text(eval_markdown(results)))
    replace_file(out / "eval.json", lambda p: p.write_text(text + "\n"))
    replace_file(out / "f1.png", lambda p: plot_f1(results, p))
    return list(EVAL_FILES)

"""Writing a method's result folder: geometry files, JSON summary, loss curve, pictures."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..kinds import KINDS, kind_of
from .base import Result
from .registry import get_method

__all__ = ["save_result", "save_output", "describe_input"]


def _jsonable(x):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.item() if x.numel() == 1 and x.dim() == 0 else x.tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def save_output(path_stem: Path, kind: str, obj) -> list[Path]:
    """Write one output of ``kind`` (see :mod:`unrender.kinds`); returns the files written."""
    k = KINDS.get(kind)
    if k is None or k.save is None:
        raise ValueError(f"output {path_stem.name}: unknown kind {kind!r}")
    return k.save(Path(path_stem), obj)


def describe_input(value, kinds=None) -> dict:
    """A short JSON description of an input (kind and sizes), as the first of ``kinds`` (the input's
    accepted kinds) that recognises it, else as the first kind of the table that does."""
    kind = (kind_of(value, kinds) if kinds else None) or kind_of(value)
    return kind.describe(value) if kind is not None else {"kind": type(value).__name__}


def save_result(method, inputs: dict[str, Any], result: Result, output, *, pictures: bool = True, extra: dict | None = None) -> dict:
    """Write ``result`` of ``method`` into the folder ``output``.

    Files: one per output, written by its kind (``<name>.obj`` mesh, ``.ply`` points,
    ``.npz`` voxels, ``.png`` image, ``.json`` cameras or keypoints), ``loss.png``
    (the loss curve), the method's pictures (``before_after.png``,
    ``progress.gif``, ...) and ``summary.json`` (method, parameters, metrics,
    timings, files). Returns the summary.
    """
    from ..io import save_gif, save_image
    from ..plots import plot_curves

    m = get_method(method)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    kinds = {o.name: o.kind for o in m.outputs}
    specs = {i.name: i for i in m.inputs}
    for name, obj in result.outputs.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        files[name] = [p.name for p in save_output(out / name, kind, obj)]
    if result.history:
        # stage boundaries (e.g. deform-mesh's subdivisions) as dashed lines
        stages = result.extra.get("stages", []) if isinstance(result.extra, dict) else []
        marks = [st["step"] for st in stages if isinstance(st, dict) and st.get("step", 0) > 0]
        plot_curves(result.history, out / "loss.png", title=f"{m.id}: loss per step", marks=marks)
        files["loss_curve"] = ["loss.png"]
    picture_seconds = 0.0
    if pictures:
        t1 = time.perf_counter()
        for name, pic in m.pictures(inputs, result).items():
            if pic.dim() == 4:
                save_gif(out / f"{name}.gif", pic[..., :3], fps=8)
                files[name] = [f"{name}.gif"]
            else:
                save_image(out / f"{name}.png", pic)
                files[name] = [f"{name}.png"]
        picture_seconds = time.perf_counter() - t1
    summary = {
        "method": m.id,
        "label": m.label,
        "params": result.params,
        "inputs": {k: describe_input(v, specs[k].kinds if k in specs else None) for k, v in inputs.items()},
        "metrics": result.metrics,
        "steps": result.steps,
        "final_loss": result.history[-1] if result.history else None,
        "cancelled": result.cancelled,
        "seconds": {"run": round(result.seconds, 4), "pictures": round(picture_seconds, 4),
                    "writing": round(time.perf_counter() - t0 - picture_seconds, 4)},
        "files": files,
        "extra": result.extra,
        **(extra or {}),
    }
    (out / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2))
    return summary

"""Writing a method's result folder: geometry files, JSON summary, loss curve, pictures."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..kinds import KINDS, kind_of
from .base import Result
from .registry import get_method

__all__ = ["save_result", "save_output", "describe_input", "check_output", "discard_partial_files", "earlier_files"]

# staging folders of result folders being written (see _staging), removed by discard_partial_files
_STAGING: set[Path] = set()


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


def check_output(output, name: str = "output") -> Path:
    """Check that the folder ``output`` can be created or written into, creating nothing.

    Raises ``ValueError`` naming ``name``, the path and the problem: an
    existing file where the folder should be, a file among its parents, or a
    folder (the nearest existing one) that is not writable. Returns the path.
    """
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name}: expected a folder to write into, found a file: {out}")
    nearest = out
    while not nearest.exists() and nearest != nearest.parent:  # exists() is False under a file, too
        nearest = nearest.parent
    if not nearest.is_dir():
        raise ValueError(f"{name}: cannot create the folder {out}: {nearest} is a file, not a folder")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: cannot write into the folder {nearest}: permission denied")
    return out


@contextmanager
def _staging(out: Path):
    """A hidden folder inside ``out`` to write files into before they are renamed into ``out``
    (an atomic rename: a file in ``out`` is either whole or absent); removed on exit."""
    tmp = Path(tempfile.mkdtemp(prefix=".unrender-partial-", dir=out))
    _STAGING.add(tmp)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _STAGING.discard(tmp)


def discard_partial_files() -> None:
    """Remove the files of result folders still being written (for an immediate exit: what
    :func:`save_result` has already put in place stays whole, nothing half-written remains)."""
    for tmp in list(_STAGING):
        shutil.rmtree(tmp, ignore_errors=True)
        _STAGING.discard(tmp)


def earlier_files(output) -> list[str]:
    """The files an earlier :func:`save_result` wrote into the folder ``output``: the names its
    ``summary.json`` (one with a ``"method"`` key) lists under ``"files"`` that are still plain files
    there. Empty when there is no such summary; other files are never listed."""
    out = Path(output)
    try:
        old = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(old, dict) or "method" not in old or not isinstance(old.get("files"), dict):
        return []
    names = [f for fs in old["files"].values() if isinstance(fs, list) for f in fs if isinstance(f, str)]
    # plain names inside output only: a summary.json cannot point outside the folder
    return [f for f in dict.fromkeys(names) if Path(f).name == f and f not in (".", "..") and not (out / f).is_symlink() and (out / f).is_file()]


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
    timings, files, ``saved_step`` / ``saved_loss`` of a cancelled run, ``warnings``). Returns the summary.

    ``output`` is checked first (:func:`check_output`) and the pictures drawn
    before anything is written; a picture that cannot be drawn is skipped with
    a warning. Each file is written under a temporary name and renamed into
    place, so an interrupted save leaves whole files or none.

    Files of an earlier result in ``output`` (those its ``summary.json`` lists, see
    :func:`earlier_files`) that this result does not write again are removed, and a
    note in ``warnings`` says which; no other file is touched.
    """
    from ..io import save_gif, save_image
    from ..plots import plot_curves

    m = get_method(method)
    out = check_output(output)
    files: dict[str, list[str]] = {}
    # the method's own warnings (an open mesh, an unsure pose) come first
    notes: list[str] = list(result.warnings)
    kinds = {o.name: o.kind for o in m.outputs}
    specs = {i.name: i for i in m.inputs}
    # pictures first: one that cannot be drawn (e.g. a degenerate shape) is skipped before anything is written
    t1 = time.perf_counter()
    pics: dict[str, Any] = {}
    if pictures:
        try:
            pics = m.pictures(inputs, result)
        except (ValueError, RuntimeError) as exc:
            notes.append(f"pictures skipped: {exc}")
            warnings.warn(f"{m.id}: pictures skipped: {exc}", stacklevel=2)
    picture_seconds = time.perf_counter() - t1
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    earlier = earlier_files(out)
    with _staging(out) as tmp:

        def publish(paths) -> list[str]:
            names = []
            for p in paths:
                os.replace(p, out / Path(p).name)
                names.append(Path(p).name)
            return names

        for name, obj in result.outputs.items():
            kind = kinds.get(name)
            if kind is None:
                continue
            files[name] = publish(save_output(tmp / name, kind, obj))
        if result.history:
            # stage boundaries (e.g. deform-mesh's subdivisions) as dashed lines
            stages = result.extra.get("stages", []) if isinstance(result.extra, dict) else []
            marks = [(st["step"], st.get("label") or (f"level {st['level']}" if "level" in st else ""))
                     for st in stages if isinstance(st, dict) and st.get("step", 0) > 0]
            plot_curves(result.history, tmp / "loss.png", title=f"{m.id}: loss per step", marks=marks)
            files["loss_curve"] = publish([tmp / "loss.png"])
        for name, pic in pics.items():
            if pic.dim() == 4:
                save_gif(tmp / f"{name}.gif", pic[..., :3], fps=8)
                files[name] = publish([tmp / f"{name}.gif"])
            else:
                save_image(tmp / f"{name}.png", pic)
                files[name] = publish([tmp / f"{name}.png"])
        written = {f for fs in files.values() for f in fs}
        stale = [f for f in earlier if f not in written]
        for f in stale:
            (out / f).unlink(missing_ok=True)
        if stale:
            notes.append(f"removed {len(stale)} file(s) of an earlier run from {out}: {', '.join(stale)}")
            warnings.warn(f"{m.id}: {notes[-1]}", stacklevel=2)
        summary = {
            "method": m.id,
            "label": m.label,
            "params": result.params,
            "inputs": {k: describe_input(v, specs[k].kinds if k in specs else None) for k, v in inputs.items()},
            "metrics": result.metrics,
            "steps": result.steps,
            "final_loss": result.history[-1] if result.history else None,
            "cancelled": result.cancelled,
            "saved_step": None if result.saved_step is None else result.saved_step + 1,
            "saved_loss": result.history[result.saved_step] if result.saved_step is not None else None,
            "seconds": {"run": round(result.seconds, 4), "pictures": round(picture_seconds, 4),
                        "writing": round(time.perf_counter() - t0, 4)},
            "files": files,
            "warnings": notes,
            "extra": result.extra,
            **(extra or {}),
        }
        (tmp / "summary.json").write_text(json.dumps(_jsonable(summary), indent=2))
        publish([tmp / "summary.json"])
    return summary

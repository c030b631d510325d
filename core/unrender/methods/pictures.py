"""Default pictures of a method run: the target next to the start and the result, and a GIF of the fit.

Each value is drawn by its kind's ``picture`` (see :mod:`unrender.kinds`;
meshes, point clouds and voxels use :func:`unrender.render.render_still`).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch

from ..kinds import kind_of
from ..plots import caption, hstack
from ..render.still import UP_AXES, frame_of, still_renderable
from ..render.textures import TexturesVertex
from ..structures import Meshes, PointClouds, Voxels

__all__ = ["default_pictures", "enclosing_frame", "pictures_up_axis", "up_axis"]

_SIZE = 256


def _vertex_colors(obj) -> torch.Tensor | None:
    """``(V, 3)`` colours of a one-mesh ``Meshes`` with faces and ``TexturesVertex`` RGB, else None."""
    if not isinstance(obj, Meshes) or not isinstance(obj.textures, TexturesVertex) or obj.faces_packed().shape[0] == 0:
        return None
    feats = obj.textures.verts_features_list()[0]
    return feats[:, :3].detach().cpu().float().clamp(0, 1) if feats.shape[-1] >= 3 else None


def _picture(obj, **kw) -> torch.Tensor | None:
    """The kind's picture of ``obj`` (``(H, W, 3)``), or None when its kind has none; a mesh
    with vertex colours is drawn in them (whatever ``color`` asks)."""
    kind = kind_of(obj)
    if kind is None or kind.picture is None:
        return None
    colors = _vertex_colors(obj)
    return kind.picture(obj, **(kw if colors is None else {**kw, "color": colors}))


def _blank(obj) -> bool:
    """Geometry with nothing to draw (an empty mesh, a grid below the surface level everywhere)."""
    return isinstance(obj, (Meshes, PointClouds, Voxels)) and still_renderable(obj) is None


def _drawable(obj) -> bool:
    kind = kind_of(obj)
    return kind is not None and kind.picture is not None


_UP: ContextVar[str] = ContextVar("unrender_pictures_up_axis", default="z")


@contextmanager
def pictures_up_axis(up: str):
    """Within this block, default pictures (and the methods' own) are drawn with ``up``:
    ``"z"`` (Blender, the default) or ``"y"`` (Blender's OBJ export). The command line's
    ``--up-axis`` sets it."""
    if up not in UP_AXES:
        raise ValueError(f"up: expected one of {list(UP_AXES)}, found {up!r}")
    token = _UP.set(up)
    try:
        yield
    finally:
        _UP.reset(token)


def up_axis() -> str:
    """The up axis pictures are drawn with now (see :func:`pictures_up_axis`)."""
    return _UP.get()


def enclosing_frame(objs) -> tuple[torch.Tensor, float]:
    """One frame (centre ``(3,)``, radius) holding the bounding spheres of every object in
    ``objs`` that can be drawn (see :func:`~unrender.render.frame_of`), so that none is clipped."""
    frames = [frame_of(o) for o in objs if _drawable(o)]
    if not frames:
        return torch.zeros(3), 1.0
    c, r = frames[0][0].double(), float(frames[0][1])
    for c2, r2 in frames[1:]:
        c2 = c2.double()
        d = float((c2 - c).norm())
        if d + r2 <= r:
            continue
        if d + r <= r2:
            c, r = c2, float(r2)
            continue
        new_r = (d + r + r2) / 2
        c = c + (c2 - c) * ((new_r - r) / d)
        r = new_r
    return c.float(), r


def default_pictures(method, inputs: dict[str, Any], result, *, shown: str | None = None) -> dict[str, Any]:
    """``{"before_after": (H, W, 3), "progress": (N, H, W, 3)}`` for methods whose output can be pictured.

    ``before_after`` shows the first input that can be pictured (the target),
    the first snapshot with something to draw (the start; the first one, said
    to be empty, when none has) and the output ``shown`` (default: the first),
    captioned, in one frame that holds all three (nothing clipped); ``progress`` renders
    each snapshot with a slowly turning camera, captioned with its step.
    Meshes with vertex colours (``TexturesVertex``) are drawn in their colours.
    Methods whose shown output has no picture get no default pictures.
    Drawn with the current up axis (see :func:`pictures_up_axis`).
    """
    out_name = shown if shown is not None else (method.outputs[0].name if method.outputs else None)
    final = result.outputs.get(out_name)
    if not _drawable(final):
        return {}
    up = up_axis()
    target_name, target = next(((k, v) for k, v in inputs.items() if _drawable(v)), (None, None))
    first = next(((s, g) for s, g in result.snapshots if not _blank(g)), None)
    start_step, start = first if first is not None else (result.snapshots[0] if result.snapshots else (0, None))
    frame = enclosing_frame([target, start, final])
    tiles = []
    if target is not None:
        tiles.append(caption(_picture(target, size=_SIZE, frame=frame, color=(0.55, 0.6, 0.7), up=up),
                             "target (input)" if target_name == "target" else f"target (input {target_name})"))
    if start is not None:
        label = f"start (step {start_step + 1})" if first is not None else f"start (step {start_step + 1}, empty)"
        if first is not None and first[0] != result.snapshots[0][0]:
            label = f"start (step {start_step + 1}, first non-empty)"
        tiles.append(caption(_picture(start, size=_SIZE, frame=frame, up=up), label))
    label = f"result ({out_name}, cancelled)" if result.cancelled else f"result ({out_name})"
    tiles.append(caption(_picture(final, size=_SIZE, frame=frame, up=up), label))
    pictures: dict[str, Any] = {"before_after": hstack(tiles)}
    if len(result.snapshots) >= 2:
        frames = []
        n = len(result.snapshots)
        for i, (step, geom) in enumerate(result.snapshots):
            img = _picture(geom, size=192, azimuth=30.0 + 90.0 * i / max(n - 1, 1), frame=frame, up=up)
            loss = result.history[step] if step < len(result.history) else float("nan")
            frames.append(caption(img, f"step {step + 1}  loss {loss:.4g}", size=12))
        pictures["progress"] = torch.stack(frames)
    return pictures

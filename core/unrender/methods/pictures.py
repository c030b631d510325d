"""Default pictures of a method run: the target next to the start and the result, and a GIF of the fit.

Each value is drawn by its kind's ``picture`` (see :mod:`unrender.kinds`;
meshes, point clouds and voxels use :func:`unrender.render.render_still`).
"""

from __future__ import annotations

from typing import Any

import torch

from ..kinds import kind_of
from ..plots import caption, hstack
from ..render.still import frame_of

__all__ = ["default_pictures"]

_SIZE = 256


def _picture(obj, **kw) -> torch.Tensor | None:
    """The kind's picture of ``obj`` (``(H, W, 3)``), or None when its kind has none."""
    kind = kind_of(obj)
    return None if kind is None or kind.picture is None else kind.picture(obj, **kw)


def _drawable(obj) -> bool:
    kind = kind_of(obj)
    return kind is not None and kind.picture is not None


def default_pictures(method, inputs: dict[str, Any], result) -> dict[str, Any]:
    """``{"before_after": (H, W, 3), "progress": (N, H, W, 3)}`` for methods whose output can be pictured.

    ``before_after`` shows the first input that can be pictured (the target),
    the first snapshot (the start) and the first output; ``progress`` renders
    each snapshot with a slowly turning camera, captioned with its step.
    Methods whose first output has no picture get no default pictures.
    """
    out_name = method.outputs[0].name if method.outputs else None
    final = result.outputs.get(out_name)
    if not _drawable(final):
        return {}
    target = next((v for v in inputs.values() if _drawable(v)), None)
    frame = frame_of(target if target is not None else final)
    tiles = []
    if target is not None:
        tiles.append(caption(_picture(target, size=_SIZE, frame=frame, color=(0.55, 0.6, 0.7), point_radius=0.012), "target"))
    if result.snapshots:
        tiles.append(caption(_picture(result.snapshots[0][1], size=_SIZE, frame=frame, point_radius=0.012), "start"))
    label = "result (cancelled)" if result.cancelled else "result"
    tiles.append(caption(_picture(final, size=_SIZE, frame=frame, point_radius=0.012), label))
    pictures: dict[str, Any] = {"before_after": hstack(tiles)}
    if len(result.snapshots) >= 2:
        frames = []
        n = len(result.snapshots)
        for i, (step, geom) in enumerate(result.snapshots):
            img = _picture(geom, size=192, azimuth=30.0 + 90.0 * i / max(n - 1, 1), frame=frame, point_radius=0.012)
            loss = result.history[step] if step < len(result.history) else float("nan")
            frames.append(caption(img, f"step {step + 1}  loss {loss:.4g}", size=12))
        pictures["progress"] = torch.stack(frames)
    return pictures

#!/usr/bin/env python3
"""Render a .blend file's camera with Blender and with unrender, headless, and write both and their difference.

    python scripts/blender_compare_renders.py scene.blend --engine CYCLES --samples 64 --output compare/
    blender -b --python scripts/blender_compare_renders.py -- scene.blend --engine WORKBENCH --output compare/

Writes into ``--output``: ``blender.png`` and ``unrender.png`` (the two renders,
sRGB, transparent where nothing was hit), ``difference.png`` (absolute
difference of the display colours), ``side_by_side.png`` (the renders over white and
the difference x 8, in a row)
and ``summary.json`` (silhouette IoU, PSNR, timings, warnings). What the
comparison models (diffuse materials, sun and point lights, world colour) is
described in the README and in ``unrender.render.scene``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blender_session  # noqa: E402

DIFFERENCE_GAIN = 8.0  # the side-by-side picture brightens the difference so that small errors show


def _display(rgba_linear):
    """Premultiplied linear RGBA ``(H, W, 4)`` -> straight-alpha sRGB ``(H, W, 4)`` float in [0, 1]."""
    import torch

    from unrender.render.scene import linear_to_srgb

    px = torch.as_tensor(rgba_linear, dtype=torch.float64)
    alpha = px[..., 3:].clamp(0, 1)
    colour = linear_to_srgb(px[..., :3] / alpha.clamp_min(1e-6))
    return torch.cat([colour * (alpha > 0), alpha], -1).numpy()


def main(argv: list[str]) -> None:
    p = blender_session.parser(__doc__.splitlines()[0], "folder to write the pictures and summary.json into")
    p.add_argument("--engine", choices=("CYCLES", "EEVEE", "WORKBENCH"), default="CYCLES", help="Blender's engine")
    p.add_argument("--samples", type=int, default=32, help="samples per pixel of the Cycles or EEVEE render")
    p.add_argument("--antialias", type=int, default=3, help="unrender's samples per pixel along each axis")
    args = p.parse_args(argv)
    blender_session.open_blend(args.blend)
    name = blender_session.enable_unrender(args.device)

    import bpy
    import numpy as np

    from unrender.io import save_image

    addon = sys.modules[name]
    bpy.ops.unrender.compare_renders(engine=args.engine, samples=args.samples, antialias=args.antialias)
    result = addon.compare.last_result
    pictures = {key: addon.convert.image_pixels(bpy.data.images[image]) for key, image in result["images"].items()}
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    blender, ours = _display(pictures["blender"]), _display(pictures["unrender"])
    difference = np.concatenate([pictures["difference"][..., :3], np.ones_like(blender[..., :1])], -1)
    save_image(out / "blender.png", blender)
    save_image(out / "unrender.png", ours)
    save_image(out / "difference.png", difference[..., :3])
    over_white = lambda rgba: rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    gap = np.ones((blender.shape[0], max(2, blender.shape[1] // 50), 3))
    amplified = np.clip(DIFFERENCE_GAIN * difference[..., :3], 0.0, 1.0)
    save_image(out / "side_by_side.png", np.concatenate([over_white(blender), gap, over_white(ours), gap, amplified], 1))
    summary = {k: v for k, v in result.items() if k != "images"}
    summary["blend"] = str(args.blend)
    summary["side_by_side_difference_gain"] = DIFFERENCE_GAIN
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=list) + "\n")
    print(f"{args.engine.title()} vs unrender: silhouette IoU {result['iou']:.4f}, PSNR {result['psnr']:.1f} dB; "
          f"pictures and summary.json in {out}")


if __name__ == "__main__":
    sys.exit(blender_session.run(main))

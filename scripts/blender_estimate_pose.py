#!/usr/bin/env python3
"""Move a .blend file's camera so that an object looks as it does in a reference picture, headless, and save.

    python scripts/blender_estimate_pose.py scene.blend --object Statue --image photo_mask.png --output posed.blend
    blender -b --python scripts/blender_estimate_pose.py -- scene.blend --object Statue --image photo.png --output posed.blend

The picture is a silhouette mask, an RGBA render (its alpha) or an RGB photo on
a plain background, with the aspect of the scene's render resolution. The
scene camera's pose is the starting guess; ``--move object`` moves the object
instead of the camera. Other ``estimate-pose`` parameters go through
``--param name=value``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blender_session  # noqa: E402


def main(argv: list[str]) -> None:
    p = blender_session.parser(__doc__.splitlines()[0])
    p.add_argument("--object", required=True, help="name of the mesh object seen in the picture")
    p.add_argument("--image", type=Path, required=True, help="the reference picture")
    p.add_argument("--move", choices=("camera", "object"), default="camera", help="what moves to match the picture")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other estimate-pose parameter, e.g. --param restarts=8 (repeatable)")
    args = p.parse_args(argv)
    if not args.image.is_file():
        raise FileNotFoundError(f"image: no such file: {args.image}")
    blender_session.open_blend(args.blend)
    blender_session.enable_unrender(args.device)

    import bpy

    params = blender_session.method_params("estimate-pose", args.param, seed=args.seed)
    obj = blender_session.select(args.object, "object")
    if bpy.context.scene.camera is None:
        raise ValueError("scene: expected a scene camera to start from, found none")
    bpy.ops.unrender.estimate_pose(image_file=str(args.image.resolve()), move=args.move.upper(), **params)
    moved = obj if args.move == "object" else bpy.context.scene.camera
    blender_session.save_blend(args.output)
    print(f"moved {moved.name!r} to location {tuple(round(v, 4) for v in moved.matrix_world.translation)}; "
          f"saved {args.output}")


if __name__ == "__main__":
    sys.exit(blender_session.run(main))

#!/usr/bin/env python3
"""Deform an icosphere (or a source object) onto an object of a .blend file, headless, and save the result.

    python scripts/blender_deform_mesh.py scene.blend --target Suzanne --output fitted.blend --level 4 --steps 300
    blender -b --python scripts/blender_deform_mesh.py -- scene.blend --target Suzanne --output fitted.blend

The fitted mesh is a new object "Deform mesh <target>" in the target's
collection; the opened file is not modified. Any other parameter of the
``deform-mesh`` method goes through ``--param name=value`` (``unrender
deform-mesh --help`` lists them).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blender_session  # noqa: E402


def main(argv: list[str]) -> None:
    p = blender_session.parser(__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help="name of the mesh or point-cloud object to fit")
    p.add_argument("--source", default="", help="object to deform instead of an icosphere (its topology is kept)")
    p.add_argument("--level", type=int, default=4, help="icosphere level at the end of the fit (0..6)")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other deform-mesh parameter, e.g. --param lr=0.5 (repeatable)")
    args = p.parse_args(argv)
    blender_session.open_blend(args.blend)
    blender_session.enable_unrender(args.device)

    import bpy

    params = blender_session.method_params("deform-mesh", args.param, level=args.level, steps=args.steps, seed=args.seed)
    target = blender_session.select(args.target, "target")
    if args.source:
        blender_session.select(args.source, "source")
        blender_session.select(args.target, "target")
    before = set(bpy.data.objects)
    bpy.ops.unrender.deform_mesh(source=args.source, **params)  # RuntimeError carries the operator's error report
    (fitted,) = [o for o in bpy.data.objects if o not in before]
    blender_session.save_blend(args.output)
    print(f"{fitted.name}: {len(fitted.data.vertices)} vertices, {len(fitted.data.polygons)} faces, "
          f"fitted to {target.name!r}; saved {args.output}")


if __name__ == "__main__":
    sys.exit(blender_session.run(main))

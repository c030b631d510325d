#!/usr/bin/env python3
"""Render unrender's multi-view example object with Blender Cycles and write a NeRF-synthetic dataset, by Blender.

    python scripts/blender_views_dataset.py --output cycles_views/
    blender -b --python scripts/blender_views_dataset.py -- --output cycles_views/ --views 40 --held-out 8

The object is :func:`unrender.render.example_object` (a striped torus around a
checkered ball), put into an empty scene through the add-on's mesh and colour
attribute helpers, with a matte material (a Diffuse BSDF whose colour is the
vertex colour attribute) under a uniform white world: its colours do not depend
on the view. The cameras are those of :func:`unrender.render.example_views`
(``sphere_cameras``, made Blender cameras by ``blender_from_cameras``), so the
dataset is the example scene rendered by Cycles, with the same held-out views.
The add-on's "Export views" operator renders every camera (transparent film:
the alpha is the mask) and writes ``transforms_train.json``,
``transforms_test.json`` and the PNGs in ``train/`` and ``test/`` into
``--output``. The true surface is written beside them as ``mesh.ply`` (world
coordinates, the cameras' frame).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blender_session  # noqa: E402

MESH_FILE = "mesh.ply"


def build_scene(addon, detail: int, samples: int, denoise: bool):
    """The (empty) scene made to hold the example object (matte, vertex-coloured) under a white world -> the core mesh."""
    import bpy

    from unrender.render import example_object

    mesh = example_object(detail)
    verts = mesh.verts_list()[0].double().numpy()
    faces = mesh.faces_list()[0].numpy()
    obj = addon.convert.new_mesh_object(bpy.context, "Example object", verts, faces)
    addon.convert.set_vertex_colors(obj.data, mesh.textures.verts_features_list()[0].double().numpy())
    mat = bpy.data.materials.new("Matte vertex colour")
    if mat.node_tree is None:
        mat.use_nodes = True
    tree = mat.node_tree
    tree.nodes.clear()
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    diffuse = tree.nodes.new("ShaderNodeBsdfDiffuse")
    colour = tree.nodes.new("ShaderNodeVertexColor")
    colour.layer_name = addon.convert.COLOR_ATTRIBUTE
    tree.links.new(colour.outputs["Color"], diffuse.inputs["Color"])
    tree.links.new(diffuse.outputs["BSDF"], out.inputs["Surface"])
    obj.data.materials.append(mat)

    blender_session.cycles_scene(1.0, samples, denoise)
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    return mesh


def add_cameras(count: int, size: int) -> None:
    """Camera objects ``view 0000``, ... at :func:`unrender.render.sphere_cameras`; the scene renders ``size`` px."""
    import bpy

    from unrender.cameras import blender_from_cameras
    from unrender.render import sphere_cameras

    cameras = sphere_cameras(count)
    for i in range(count):
        obj = bpy.data.objects.new(f"view {i:04d}", bpy.data.cameras.new(f"view {i:04d}"))
        bpy.context.scene.collection.objects.link(obj)
        blender_from_cameras(cameras[i], (size, size)).apply_to_bpy(obj, bpy.context.scene)


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, required=True, help="dataset folder to write")
    p.add_argument("--views", type=int, default=40, help="training views")
    p.add_argument("--held-out", type=int, default=8, help="held-out (test) views, spread among the training ones")
    p.add_argument("--size", type=int, default=128, help="image width and height in pixels")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    p.add_argument("--no-denoise", action="store_true", help="leave Cycles' denoiser off")
    p.add_argument("--detail", type=int, default=2, help="mesh density of the example object (1-3)")
    args = p.parse_args(argv)
    if args.views < 1 or args.held_out < 1:
        raise ValueError(f"views, held-out: expected at least 1 each, found {args.views} and {args.held_out}")
    import bpy  # first: Blender's own modules (addon_utils) come with it

    bpy.ops.wm.read_factory_settings(use_empty=True)  # before the add-on: a reset would disable it
    name = blender_session.enable_unrender("cpu")

    from unrender.io import save_mesh

    start = time.perf_counter()
    mesh = build_scene(sys.modules[name], args.detail, args.samples, not args.no_denoise)
    out = args.output
    add_cameras(args.views + args.held_out, args.size)
    result = bpy.ops.unrender.export_views(filepath=str(out), source="ALL", held_out=args.held_out, engine="SCENE",
                                           transparent=True)
    if result != {"FINISHED"}:
        raise RuntimeError(f"the views export did not finish: {sorted(result)}")
    save_mesh(out / MESH_FILE, mesh)
    print(f"Cycles: {args.views} + {args.held_out} views at {args.size}x{args.size}, {args.samples} samples, "
          f"in {time.perf_counter() - start:.1f} s; dataset and {MESH_FILE} in {out}")


if __name__ == "__main__":
    sys.exit(blender_session.run(main))

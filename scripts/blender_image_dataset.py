#!/usr/bin/env python3
"""Re-render one split of an unrender shape dataset with Blender Cycles: the same objects and cameras, other pixels.

    python scripts/blender_image_dataset.py shapes/ --output shapes_cycles/ --split test
    blender -b --python scripts/blender_image_dataset.py -- shapes/ --output shapes_cycles/ --limit 5

The source is a folder written by :func:`unrender.data.write_dataset`. Every
object of ``--split`` is put into an empty scene (its ``verts``, ``faces`` and
``vert_colors`` as a mesh with a colour attribute driving the add-on's vertex
colour material, a Principled BSDF) and seen by each of its views' cameras
(``R``, ``T``, ``fov`` as a ``FoVPerspectiveCameras``, made a Blender camera by
:func:`unrender.cameras.blender_from_cameras`: the same pixels). Each view is
lit by a sun from a random direction above the camera's horizon and on its
side of the object, plus a grey world; the film is transparent, so the alpha
is the mask. The ``--size`` px render is framed to the dataset's image size by
:func:`unrender.image.frame_object`, as the dataset's own images are. Every other
array of the npz files is copied unchanged and ``dataset.json`` gets
``"renderer": "cycles"`` and the split's count (the other splits are empty);
``--limit N`` keeps the first N objects of each category (files renumbered as
the dataset reader expects). The folder is built in ``<output>.partial`` and
renamed when complete.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import blender_session  # noqa: E402

RENDERER = "cycles"
WORLD_GREY = 0.25  # the grey world's colour (linear): the light in the sun's shadow
SUN_STRENGTH = 1.7  # irradiance of the key light


def object_files(info: dict, split: str, limit: int | None) -> list[int]:
    """The file indices of ``split`` to render, category by category: object ``k`` of category ``c`` is file
    ``c * n + k`` (``n`` the split's count per category); with ``limit``, the first ``limit`` of each category."""
    n = int(info["splits"][split])
    keep = n if limit is None else min(n, limit)
    return [c * n + k for c in range(len(info["categories"])) for k in range(keep)]


def sun_direction(R: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random unit direction (world, towards the light) above the horizon of the camera with rotation ``R (3, 3)``
    (PyTorch3D view: +Y up, +Z forward) and on the camera's side of the object, so that what it sees is lit;
    at least ~11 degrees above the horizon and in front (no grazing light)."""
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    d[1], d[2] = max(abs(d[1]), 0.2), -max(abs(d[2]), 0.2)
    return R @ (d / np.linalg.norm(d))  # view -> world (points_view = points_world @ R)


def build_scene(samples: int, denoise: bool):
    """An empty scene rendered by Cycles on the CPU with a grey world and a sun -> the sun object."""
    import bpy

    scene = blender_session.cycles_scene(WORLD_GREY, samples, denoise)
    sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    sun.data.energy = SUN_STRENGTH
    sun.data.angle = 0.1
    scene.collection.objects.link(sun)
    scene.cycles.pixel_filter_type = "BOX"  # one-pixel box: the antialiasing of unrender's supersampled renders
    scene.cycles.filter_width = 1.0
    return sun


def point_sun(sun, direction: np.ndarray) -> None:
    """Turn the sun so that it shines from ``direction`` (world, towards the light): its local +Z."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
    sun.matrix_world = type(sun.matrix_world)(m.tolist())


def render_object(addon, arrays: dict, sun, *, size: int, image_size: int, samples: int,
                  rng: np.random.Generator) -> np.ndarray:
    """One object's views rendered by Cycles and framed -> ``images (V, image_size, image_size, 4)`` uint8."""
    import bpy
    import torch

    from unrender.cameras import FoVPerspectiveCameras, blender_from_cameras
    from unrender.data import to_uint8
    from unrender.image import frame_object

    context = bpy.context
    obj = addon.convert.new_mesh_object(context, "Object", arrays["verts"].astype(np.float64),
                                        arrays["faces"].astype(np.int64))
    addon.convert.set_vertex_colors(obj.data, arrays["vert_colors"].astype(np.float32) / 255.0)
    obj.data.materials.append(addon.convert.vertex_color_material("Vertex colour"))
    cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    context.scene.collection.objects.link(cam)
    R = torch.from_numpy(arrays["R"].astype(np.float32))
    cameras = FoVPerspectiveCameras(R=R, T=torch.from_numpy(arrays["T"].astype(np.float32)),
                                    fov=float(arrays["fov"]), degrees=True)
    images = []
    try:
        for v in range(len(R)):
            blender_from_cameras(cameras[v], (size, size), clip_start=0.01, clip_end=100.0).apply_to_bpy(cam, context.scene)
            point_sun(sun, sun_direction(arrays["R"][v].astype(np.float64), rng))
            views = addon.views.render_views(context, [cam], engine="CYCLES", size=(size, size), transparent=True,
                                             samples=samples)
            rgba = torch.cat([views.images[0], views.masks[0][..., None]], -1)
            framed = frame_object(rgba, size=image_size)
            images.append(to_uint8(framed))
    finally:
        mesh, material = obj.data, obj.data.materials[0]
        bpy.data.objects.remove(obj)
        bpy.data.meshes.remove(mesh)
        bpy.data.materials.remove(material)
        data = cam.data
        bpy.data.objects.remove(cam)
        bpy.data.cameras.remove(data)
    return np.stack(images)


def main(argv: list[str]) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="dataset folder written by unrender.data.write_dataset")
    p.add_argument("--output", type=Path, required=True, help="dataset folder to write (same layout, one split)")
    p.add_argument("--split", default="test", help="the split to re-render")
    p.add_argument("--limit", type=int, default=None, help="only the first N objects of each category")
    p.add_argument("--size", type=int, default=128, help="Cycles render width and height in pixels")
    p.add_argument("--samples", type=int, default=16, help="Cycles samples per pixel")
    p.add_argument("--denoise", action="store_true", help="run Cycles' denoiser")
    p.add_argument("--seed", type=int, default=0, help="seed of the sun directions")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"limit: expected at least 1, found {args.limit}")
    if args.size < 8 or args.samples < 1:
        raise ValueError(f"size, samples: expected at least 8 and 1, found {args.size} and {args.samples}")
    out = args.output
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise ValueError(f"output: {out} exists and is not empty (pass --overwrite to replace it)")

    from unrender.data import building_folder, read_dataset_info
    from unrender.io.arrays import load_arrays

    info = read_dataset_info(args.source)
    if args.split not in info["splits"]:
        raise ValueError(f"split: expected one of {sorted(info['splits'])}, found {args.split!r}")
    sources = object_files(info, args.split, args.limit)
    if not sources:
        raise ValueError(f"split: expected objects in split {args.split!r} of {args.source}, found none")
    folder = args.source / args.split
    missing = [i for i in sources if not (folder / f"{i:06d}.npz").is_file()]
    if missing:
        raise ValueError(f"{folder}: expected object file {missing[0]:06d}.npz, found none")
    per_category = len(sources) // len(info["categories"])

    import bpy  # first: Blender's own modules (addon_utils) come with it

    bpy.ops.wm.read_factory_settings(use_empty=True)  # before the add-on: a reset would disable it
    addon = sys.modules[blender_session.enable_unrender("cpu")]
    sun = build_scene(args.samples, args.denoise)

    start, views = time.perf_counter(), 0
    with building_folder(out) as partial:
        for name in info["splits"]:  # the others stay empty, as write_dataset leaves a split of 0 objects
            (partial / name).mkdir()
        for j, i in enumerate(sources):  # renumbered c * per_category + k, as the dataset reader expects
            arrays = load_arrays(folder / f"{i:06d}.npz")
            rng = np.random.default_rng([args.seed, int(arrays["seed"])])
            try:
                arrays["images"] = render_object(addon, arrays, sun, size=args.size,
                                                 image_size=int(info["image_size"]), samples=args.samples, rng=rng)
            except ValueError as exc:  # e.g. a view that saw nothing: frame_object refuses an empty alpha
                raise ValueError(f"{folder / f'{i:06d}.npz'}: {exc}") from None
            np.savez_compressed(partial / args.split / f"{j:06d}.npz", **arrays)
            views += len(arrays["images"])
            if not args.quiet:
                spent = time.perf_counter() - start
                print(f"[{j + 1}/{len(sources)}] {args.split}/{i:06d}.npz: {views} views in {spent:.1f} s "
                      f"({spent / views:.2f} s/view)", flush=True)
        info = dict(info, renderer=RENDERER,
                    splits={name: (per_category if name == args.split else 0) for name in info["splits"]})
        (partial / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    spent = time.perf_counter() - start
    print(f"Cycles: {len(sources)} objects, {views} views at {args.size}x{args.size}, {args.samples} samples, "
          f"in {spent:.1f} s ({spent / max(views, 1):.2f} s/view); dataset in {out}")


if __name__ == "__main__":
    sys.exit(blender_session.run(main))

"""Shared set-up of the headless Blender examples: arguments, the add-on, opening and saving .blend files.

The examples run two ways:

* with Blender as a Python module (``pip install bpy``, Python 3.11):
  ``python scripts/blender_deform_mesh.py scene.blend --target Suzanne --output fitted.blend``;
* inside a Blender install, headless:
  ``blender -b --python scripts/blender_deform_mesh.py -- scene.blend --target Suzanne --output fitted.blend``
  (the arguments after ``--`` are the script's).

:func:`enable_unrender` enables the installed Unrender extension when there is
one, and otherwise this repository's ``addon/`` folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def script_args(argv=None) -> list[str]:
    """The script's own arguments: everything after ``--`` inside Blender, ``sys.argv[1:]`` under ``python``."""
    if argv is not None:
        return list(argv)
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1:]
    return sys.argv[1:] if sys.argv and sys.argv[0].endswith(".py") else []


def parser(description: str, output_help: str = ".blend file to write (the input is left as it is)"):
    """An argument parser with the arguments every example takes (the .blend to open, ``--output``)."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("blend", type=Path, help=".blend file to open")
    p.add_argument("--output", type=Path, required=True, help=output_help)
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same result")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where unrender runs")
    return p


def open_blend(path: Path) -> None:
    """Open ``path`` as the current file (``FileNotFoundError`` / ``ValueError`` when it is not a .blend)."""
    import bpy

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"blend: no such file: {path}")
    if path.suffix.lower() != ".blend":
        raise ValueError(f"blend: expected a .blend file, found {path.name!r}")
    bpy.ops.wm.open_mainfile(filepath=str(path.resolve()), load_ui=False)


def save_blend(path: Path) -> None:
    """Write the current file to ``path`` (a copy: the opened file stays as it was)."""
    import bpy

    path = Path(path)
    if path.suffix.lower() != ".blend":
        raise ValueError(f"output: expected a .blend path, found {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(path.resolve()), copy=True)


def enable_unrender(device: str = "cpu") -> str:
    """Enable the Unrender add-on -> its module name.

    The installed extension (``bl_ext.<repository>.unrender``) when there is one,
    else the repository's ``addon/`` folder, linked into a temporary folder as
    the package ``unrender_addon``. ``device`` sets its preference.
    """
    import addon_utils
    import bpy

    name = next((m.__name__ for m in addon_utils.modules()
                 if m.__name__.startswith("bl_ext.") and m.__name__.endswith(".unrender")), None)
    if name is None:
        name = "unrender_addon"
        parent = Path(tempfile.mkdtemp(prefix="unrender_addon_"))
        os.symlink(ROOT / "addon", parent / name)
        sys.path.insert(0, str(parent))

    def fail(exc):
        raise RuntimeError(f"the Unrender add-on ({name}) failed to enable: {exc}") from exc

    if name not in bpy.context.preferences.addons:
        addon_utils.enable(name, default_set=True, handle_error=fail)
    prefs = bpy.context.preferences.addons[name].preferences
    problem = sys.modules[name].deps.problem()
    if problem:
        raise RuntimeError(problem)
    if device != prefs.device:
        try:
            prefs.device = device
        except TypeError:  # not among the enum's items: torch sees no CUDA device
            raise ValueError(f"device: expected cpu (torch sees no CUDA GPU here), found {device!r}") from None
    return name


def cycles_scene(grey: float, samples: int, denoise: bool):
    """Make the current scene render with Cycles on the CPU (``samples`` per pixel, no adaptive sampling, two
    bounces, ``denoise`` or not) under a uniform world of linear grey ``grey`` -> the scene."""
    import bpy

    scene = bpy.context.scene
    world = bpy.data.worlds.new("Uniform world")
    if world.node_tree is None:  # Blender before 5.0
        world.use_nodes = True
    background = next(n for n in world.node_tree.nodes if n.type == "BACKGROUND")
    background.inputs["Color"].default_value = (grey, grey, grey, 1.0)
    background.inputs["Strength"].default_value = 1.0
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = denoise
    scene.cycles.max_bounces = 2
    return scene


def select(name: str, what: str):
    """Make object ``name`` the only selected and the active object -> it (``ValueError`` naming ``what``)."""
    import bpy

    obj = bpy.data.objects.get(name)
    if obj is None:
        names = ", ".join(sorted(o.name for o in bpy.data.objects)) or "none"
        raise ValueError(f"{what}: expected an object of the file, found {name!r} (objects: {names})")
    view_layer = bpy.context.view_layer
    if view_layer.objects.get(obj.name) is None:
        raise ValueError(f"{what}: {name!r} is not in the view layer {view_layer.name!r}")
    for o in view_layer.objects:
        o.select_set(False)
    view_layer.objects.active = obj
    obj.select_set(True)
    return obj


def method_params(method_id: str, items: list[str], **given) -> dict:
    """``given`` plus ``--param NAME=VALUE`` items, each checked by the method's ``Param`` (``ValueError`` naming it)."""
    from unrender.methods import get_method

    method = get_method(method_id)
    params = dict(given)
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"param: expected NAME=VALUE, found {item!r}")
        params[name.strip()] = value.strip()
    return {name: method.param(name).coerce(value) for name, value in params.items()}


def run(main, argv=None) -> int:
    """Run ``main(args)``; bad input and operator errors print one line and give exit status 2."""
    try:
        main(script_args(argv))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

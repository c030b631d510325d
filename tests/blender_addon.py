"""Test support for the add-on: enable it the way Blender does, and reset the scene between tests.

The add-on folder is linked into a temporary directory as the package
``unrender_addon`` and enabled with ``addon_utils.enable`` (so its preferences
exist, as for a user); the installed-extension path is tested separately in
``test_addon_extension.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON_MODULE = "unrender_addon"
_parent: str | None = None


def enable_addon():
    """Enable the add-on from ``addon/`` (idempotent) -> its module."""
    global _parent
    import addon_utils
    import bpy

    if _parent is None:
        _parent = tempfile.mkdtemp(prefix="unrender_addon_")
        os.symlink(ROOT / "addon", Path(_parent) / ADDON_MODULE)
        sys.path.insert(0, _parent)
    if ADDON_MODULE not in bpy.context.preferences.addons:
        mod = addon_utils.enable(ADDON_MODULE, default_set=True, handle_error=_raise)
        assert mod is not None, "the add-on did not enable"
    return sys.modules[ADDON_MODULE]


def disable_addon():
    import addon_utils

    addon_utils.disable(ADDON_MODULE, default_set=True, handle_error=_raise)


def _raise(exc):
    raise exc


def reset_scene():
    """An empty scene: every object and the data it used removed (the add-on stays enabled)."""
    import bpy

    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob)
    for coll in (bpy.data.meshes, bpy.data.cameras, bpy.data.lights, bpy.data.images, bpy.data.materials,
                 bpy.data.pointclouds, bpy.data.curves):
        for item in list(coll):
            if item.users == 0 or coll is bpy.data.images:
                coll.remove(item)
    scene = bpy.context.scene
    scene.camera = None
    return scene

"""Unrender for Blender: run unrender's methods on the scene from the 3D Viewport sidebar.

A thin adapter (see ``ARCHITECTURE.md``): :mod:`.convert` turns bpy data into
unrender tensors and back, :mod:`.jobs` runs a registry method off the main
thread, :mod:`.operators` builds one operator per registry method and
:mod:`.panel` the sidebar from the same registry. Nothing here imports torch
or unrender at module level, so the add-on enables (and says what to install)
where torch is missing.
"""

from __future__ import annotations

import importlib

_MODULES = ("deps", "preferences", "panel", "operators", "compare")


def _modules():
    return [importlib.import_module(f"{__package__}.{name}") for name in _MODULES]


def register():
    for mod in _modules():
        if hasattr(mod, "register"):
            mod.register()


def unregister():
    for mod in reversed(_modules()):
        if hasattr(mod, "unregister"):
            mod.unregister()

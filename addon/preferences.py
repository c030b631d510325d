"""Add-on preferences: compute device, dependency status, extra site-packages."""

from __future__ import annotations

import bpy

from . import deps


def _device_items(self, context):
    items = [("cpu", "CPU", "Run on the CPU")]
    if deps.problem() is None:
        import torch

        if torch.cuda.is_available():
            items.append(("cuda", "CUDA", f"Run on {torch.cuda.get_device_name(0)}"))
    return items


class UNRENDER_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: bpy.props.EnumProperty(name="Device", items=_device_items, description="Where unrender's jobs run")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        for s in deps.check():
            row = layout.row()
            row.label(text=f"{s.dependency.distribution}: {s.version if s.ok else 'missing'}",
                      icon="CHECKMARK" if s.ok else "ERROR")


def get(context=None):
    """The add-on's preferences, or ``None`` when the add-on was registered without the add-on system."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def device(context=None) -> str:
    prefs = get(context)
    return prefs.device if prefs is not None else "cpu"


CLASSES = (UNRENDER_AP_preferences,)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

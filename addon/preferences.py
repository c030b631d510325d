"""Add-on preferences and their draw: compute device, dependency status, the installer, extra site-packages.

The installer itself is :mod:`.install`; the rest of the add-on reads these
preferences through :func:`.registration.addon_preferences` and
:func:`.registration.device`.
"""

from __future__ import annotations

import bpy

from . import deps, install, registration
from .drawing import text_width, wrapped

# Blender keeps pointers into the strings of a dynamic enum's items: Python must keep them alive.
_device_items_cache: list[tuple[str, str, str]] = []


def _device_items(self, context):
    items = [("cpu", "CPU", "Run unrender's jobs on the CPU")]
    gpu, _why = deps.cuda()
    if gpu:
        items.append(("cuda", f"CUDA: {gpu}", f"Run unrender's jobs on {gpu} with CUDA"))
    _device_items_cache[:] = items
    return _device_items_cache


def _site_packages_update(self, context):
    """Apply the new folder at once; rebuild the method operators when what imports changed."""
    registration.apply_site_packages(self)


class UNRENDER_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: bpy.props.EnumProperty(
        name="Device", items=_device_items,
        description="Where unrender's jobs run (CUDA is listed when torch sees an NVIDIA GPU)")
    site_packages: bpy.props.StringProperty(
        name="Python site-packages", subtype="DIR_PATH", update=_site_packages_update,
        description=("The site-packages folder of an existing Python environment (same Python version as "
                     "Blender's) to import torch and the other packages from, instead of installing them"))
    index_url: bpy.props.StringProperty(
        name="Torch index URL",
        description=("Optional package index to install torch from, e.g. https://download.pytorch.org/whl/cpu "
                     "for the CPU-only build (much smaller download); the other packages come from PyPI"))

    def draw(self, context):
        layout = self.layout
        width = text_width(context)

        col = layout.column()
        col.prop(self, "device")
        gpu, why = deps.cuda()
        if not gpu:
            col.label(text=f"CUDA unavailable: {why}", icon="INFO")

        box = layout.box()
        box.label(text="Python packages", icon="SCRIPTPLUGINS")
        grid = box.grid_flow(row_major=True, columns=2, even_columns=False, align=True)
        for s in deps.check():
            name = s.dependency.distribution
            if s.ok:
                state = s.version
            elif not s.found:
                state = "not installed"
            else:
                state = f"does not load: {s.error}"
            grid.label(text=name, icon="CHECKMARK" if s.ok else "ERROR")
            grid.label(text=state if len(state) <= width else state[:width - 1] + "\u2026")

        draw_install(box, self, width)

        box = layout.box()
        box.label(text="Use an existing Python environment", icon="FILE_FOLDER")
        box.prop(self, "site_packages")
        if deps.site_packages_error:
            wrapped(box, deps.site_packages_error, width, icon="ERROR")


def draw_install(layout, prefs, width: int) -> None:
    """The installer's part of the preferences: the running installation, else the Install button and the last result."""
    job = install.install_job()
    if job is not None:
        line, fraction = job.snapshot()
        row = layout.row()
        if hasattr(row, "progress"):  # Blender 4.0+
            row.progress(factor=fraction, text=f"Installing {', '.join(job.packages)}: {fraction:.0%}")
        else:
            row.label(text=f"Installing {', '.join(job.packages)}: {fraction:.0%}")
        row.operator(install.UNRENDER_OT_cancel_install.bl_idname, text="", icon="CANCEL")
        wrapped(layout, line, width, icon="INFO")
        return
    names = deps.packages_to_install()
    row = layout.row()
    row.operator(install.UNRENDER_OT_install_dependencies.bl_idname,
                 text=f"Install {', '.join(names)}" if names else "Install dependencies", icon="IMPORT")
    if names:
        why = install.install_refusal()  # online access off, or no torch for this Python and platform
        if why:
            wrapped(layout, why, width, icon="ERROR")
        layout.prop(prefs, "index_url")
        layout.label(text=f"Installs into {deps.user_site_packages()}")
    bundled = deps.bundled_problem()
    if bundled:
        wrapped(layout, bundled, width, icon="ERROR")
    if install.last_result:
        level, text = install.last_result
        wrapped(layout, text, width, icon="ERROR" if level == "ERROR" else "INFO")


CLASSES = (UNRENDER_AP_preferences,)

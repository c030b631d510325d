"""The 3D Viewport sidebar's "Unrender" tab: status, then one sub-panel per registry method.

Method sub-panels are built by :func:`make_method_panel` from the same
registry entries as the operators (inputs, parameters, output options), so a
new method, built in or from a plugin, gets its panel with no code here
(:mod:`.registration` registers it).
"""

from __future__ import annotations

import bpy

from . import deps, install, properties, readers, registration
from .drawing import text_width, wrapped

CATEGORY = "Unrender"


class UNRENDER_PT_main(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY
    bl_label = "Unrender"

    def draw(self, context):
        layout = self.layout
        width = text_width(context)
        problem = deps.problem()
        if problem:
            _draw_missing(layout, problem, width)
            return
        row = layout.row()
        row.label(text=f"Device: {registration.device(context).upper()}", icon="MEMORY")
        row.operator("unrender.refresh_methods", text="", icon="FILE_REFRESH")
        col = layout.column(align=True)
        col.operator("unrender.add_body", icon="OUTLINER_OB_ARMATURE")
        _draw_body_fits(col, context)
        layout.operator("unrender.export_views", icon="EXPORT")
        if registration.methods_error:
            wrapped(layout.box(), f"unrender failed to load: {registration.methods_error}", width)
        for method_id, why in sorted(registration.unavailable.items()):
            layout.label(text=f"{method_id}: {why}", icon="INFO")


#: The body fits offered beside "Add body": method id -> (button text, icon). Their settings are in their
#: own sub-panels; the buttons run the same operators with those settings.
BODY_FITS = {"fit-smpl-keypoints": ("Fit to keypoints", "POSE_HLT"), "fit-smpl-scan": ("Fit to scan", "MESH_DATA")}


def _draw_body_fits(layout, context) -> None:
    operators = registration.method_operators()
    for method_id, (text, icon) in BODY_FITS.items():
        if method_id in operators:
            from unrender.methods import get_method

            method_button(layout, context, get_method(method_id), operators[method_id], text, icon)


def method_button(layout, context, method, operator, text: str, icon: str):
    """A button running ``operator`` with the settings its method's sub-panel keeps (inputs, parameters, options)."""
    settings = getattr(context.scene, registration.settings_attr(operator))
    main = readers.main_input(method)
    op = layout.operator(operator.bl_idname, text=text, icon=icon)
    for inp in method.inputs:
        reader = readers.reader_for(inp)
        if reader is not None:
            reader.copy(inp, inp.name == main, settings, op)
    for name in _setting_names(method, settings):
        setattr(op, name, getattr(settings, name))
    return op


def _setting_names(method, settings) -> list[str]:
    """The parameters and output options a method's settings group holds (not its inputs)."""
    params = [properties.prop_name(p.name) for p in method.all_params() if p.name not in properties.SKIPPED_PARAMS]
    return params + [k for k in settings.__annotations__ if k not in params and not any(
        k == i.name or k.startswith(i.name + "_") for i in method.inputs)]


def _draw_missing(layout, problem: str, width: int) -> None:
    """What is missing and what to do: install (when online access allows it) or point at an environment."""
    box = layout.box()
    box.label(text="Unrender needs Python packages", icon="ERROR")
    wrapped(box, problem, width)
    job = install.install_job()
    if job is not None:
        line, fraction = job.snapshot()
        box.label(text=f"Installing {', '.join(job.packages)}: {fraction:.0%}", icon="IMPORT")
        wrapped(box, line, width)
    elif deps.packages_to_install():
        if deps.online_access():
            box.operator("unrender.install_dependencies", icon="IMPORT")
        else:
            box.label(text="Online access is off", icon="UNLINKED")  # the problem says what to do
    box.operator("preferences.addon_show", text="Open add-on preferences", icon="PREFERENCES").module = __package__


def make_method_panel(method, operator, settings) -> type:
    """The sub-panel of one method: its inputs, parameters and output options, and the Run button."""
    ident = operator.bl_idname.split(".", 1)[1]
    attr = registration.settings_attr(operator)
    main = readers.main_input(method)
    params = [properties.prop_name(p.name) for p in method.all_params() if p.name not in properties.SKIPPED_PARAMS]
    options = [k for k in _setting_names(method, settings) if k not in params]

    def draw(self, context):
        layout = self.layout
        s = getattr(context.scene, attr)
        col = layout.column()
        for inp in method.inputs:
            reader = readers.reader_for(inp)
            if reader is not None:
                reader.draw(col, inp, inp.name == main, s, context)
        for name in options:
            col.prop(s, name)
        box = layout.box()
        box.use_property_split = True
        for name in params:
            box.prop(s, name)
        method_button(layout, context, method, operator, f"Run {method.label}", "PLAY")

    return type(f"UNRENDER_PT_{ident}", (bpy.types.Panel,), {
        "bl_space_type": "VIEW_3D",
        "bl_region_type": "UI",
        "bl_category": CATEGORY,
        "bl_parent_id": "UNRENDER_PT_main",
        "bl_label": method.label,
        "bl_description": method.description,
        "bl_options": {"DEFAULT_CLOSED"},
        "draw": draw,
    })


CLASSES = (UNRENDER_PT_main,)

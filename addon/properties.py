"""Blender properties built from unrender's method registry: one per ``Param``, with its default, range and help.

:func:`param_property` maps a ``Param`` to ``Int``/``Float``/``Bool``/``Enum``/
``StringProperty``; :func:`settings_group` builds the ``PropertyGroup`` the
panel stores a method's settings in (on the scene, saved with the file).
"""

from __future__ import annotations

import math

import bpy

#: Parameters the add-on sets itself: the device comes from the add-on preferences.
SKIPPED_PARAMS = ("device",)
#: Defaults that differ in Blender: scene objects are read in world coordinates, which are Z up.
SCENE_DEFAULTS = {"vertical": "z"}
_INT_LIMIT = 2**31 - 1


def scene_default(param):
    """A ``Param``'s default in Blender (:data:`SCENE_DEFAULTS` where it is one of its choices)."""
    value = SCENE_DEFAULTS.get(param.name, param.default)
    return value if param.choices is not None and value in param.choices else param.default


def prop_name(name: str) -> str:
    """The property name of a parameter (``bl_``-prefixed and reserved names get a ``p_`` prefix)."""
    return "p_" + name if name.startswith("bl_") or name in _RESERVED else name


_RESERVED = {"name", "rna_type", "type", "layout", "options", "properties", "report", "is_registered"}


def _float_precision(value: float) -> int:
    if value == 0 or not math.isfinite(value):
        return 3
    return int(min(6, max(2, 2 - math.floor(math.log10(abs(value))))))


def param_property(param):
    """A ``Param`` -> the bpy property definition (``bpy.props.*Property(...)``)."""
    t, kw = param.type, dict(name=param.title, description=param.help + (f" ({param.range_text()})" if param.range_text() else ""))
    if param.choices is not None:
        items = [(c, c.replace("-", " ").replace("_", " ").capitalize(), "") for c in param.choices]
        return bpy.props.EnumProperty(items=items, default=scene_default(param), **kw)
    if t is bool:
        return bpy.props.BoolProperty(default=param.default, **kw)
    if t is int:
        lo = -_INT_LIMIT if param.minimum is None else max(int(math.ceil(param.minimum)), -_INT_LIMIT)
        hi = _INT_LIMIT if param.maximum is None else min(int(math.floor(param.maximum)), _INT_LIMIT)
        return bpy.props.IntProperty(default=param.default, min=lo, max=hi, **kw)
    if t is float:
        lim = {}
        if param.minimum is not None:
            lim["min"] = float(param.minimum)
        if param.maximum is not None:
            lim["max"] = float(param.maximum)
        precision = _float_precision(param.default or (param.minimum or 0.0) or 1.0)
        return bpy.props.FloatProperty(default=param.default, precision=precision, step=10 ** (2 - precision) * 100 // 100 or 1,
                                       **lim, **kw)
    return bpy.props.StringProperty(default=param.default, **kw)


def param_annotations(method) -> dict:
    """``{property name: property}`` for every parameter of a method the user sets (device excluded)."""
    return {prop_name(p.name): param_property(p) for p in method.all_params() if p.name not in SKIPPED_PARAMS}


def param_values(method, owner) -> dict:
    """Read a method's parameter values back from an operator or settings group -> ``{param name: value}``."""
    return {p.name: getattr(owner, prop_name(p.name)) for p in method.all_params() if p.name not in SKIPPED_PARAMS}

"""Registering the add-on, and what the panel and every ``poll`` say about what is available.

:func:`register` registers the add-on's fixed classes and scene properties,
puts the saved site-packages on ``sys.path`` and builds one operator,
settings group and sub-panel per registry method (:func:`register_methods`,
rebuilt by :func:`refresh_methods` after an install or a new plugin). The
package (``__init__``) hands in the classes and the builders, so this module
imports none of the modules that draw or build: they import it.

Why something is unavailable: :func:`ready` (missing dependencies, Object
Mode) for ``poll``; :data:`unavailable` (methods the add-on cannot offer) and
:data:`methods_error` (the registry failed to load) for the panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import bpy

from . import deps


class Unavailable(Exception):
    """Raised by a method-class builder: the add-on cannot offer this method (the message says why)."""


@dataclass(frozen=True)
class MethodClasses:
    """How the add-on builds a registry method's classes."""

    operator: Callable[[object], type]  # method -> operator class (``bl_idname`` ``unrender.<ident>``)
    settings: Callable[[object], type]  # method -> the PropertyGroup the panel keeps its settings in
    panel: Callable[[object, type, type], type]  # (method, operator, settings) -> its sub-panel


_classes: tuple[type, ...] = ()  # the fixed classes (registration order)
_scene_properties: dict[str, type] = {}  # scene attribute -> PropertyGroup, of the fixed classes
_builders: MethodClasses | None = None
_registered: list[type] = []  # method operators, settings groups, panels (registration order)
_operators: dict[str, type] = {}  # method id -> its operator class
_scene_props: list[str] = []
unavailable: dict[str, str] = {}  # method id -> why it has no operator
methods_error: str | None = None  # why no method could be listed at all


# ----------------------------------------------------------------------------- the add-on's preferences
def addon_preferences(context=None):
    """The add-on's preferences, or ``None`` when the add-on was registered without the add-on system."""
    context = context or bpy.context
    prefs = getattr(context, "preferences", None)
    addon = prefs.addons.get(__package__) if prefs is not None else None
    return addon.preferences if addon else None


def device(context=None) -> str:
    """``"cuda"`` when the preferences choose it and torch sees a GPU, else ``"cpu"``."""
    prefs = addon_preferences(context)
    value = prefs.device if prefs is not None else "cpu"
    return value if value in ("cpu", "cuda") else "cpu"  # a saved "cuda" where there is no GPU reads as ""


# ----------------------------------------------------------------------------- availability
def allowed(cls, why: str | None) -> bool:
    """A ``poll`` answer: True when there is no reason ``why`` not; else False, with ``why`` shown to the user."""
    if why:
        cls.poll_message_set(why)
        return False
    return True


def ready(cls, context, action: str) -> bool:
    """An unrender operator's ``poll``: dependencies import and Blender is in Object Mode (else it says why)."""
    problem = deps.problem()
    if problem is None and context.mode != "OBJECT":
        problem = f"Switch to Object Mode to {action}"
    return allowed(cls, problem)


# ----------------------------------------------------------------------------- method classes
def settings_attr(operator: type) -> str:
    """The scene attribute holding the settings of a method operator: ``unrender.fit_points`` -> ``unrender_fit_points``."""
    return "unrender_" + operator.bl_idname.split(".", 1)[1]


def register_methods() -> None:
    """Build and register an operator, a settings group and a panel for every method in the registry."""
    global methods_error
    if deps.problem() or _builders is None:
        return
    try:
        from unrender.methods import list_methods

        methods = list_methods()
    except Exception as exc:  # a broken unrender install: the panel says so
        methods_error = f"{type(exc).__name__}: {exc}"
        return
    methods_error = None
    for method in methods:
        try:
            op, group = _builders.operator(method), _builders.settings(method)
            classes = (op, group, _builders.panel(method, op, group))
            for cls in classes:
                bpy.utils.register_class(cls)
                _registered.append(cls)
        except Unavailable as exc:
            unavailable[method.id] = str(exc)
            continue
        except Exception as exc:  # one bad plugin must not break the others
            unavailable[method.id] = f"{type(exc).__name__}: {exc}"
            continue
        _operators[method.id] = op
        attr = settings_attr(op)
        setattr(bpy.types.Scene, attr, bpy.props.PointerProperty(type=group))
        _scene_props.append(attr)


def unregister_methods() -> None:
    for attr in _scene_props:
        if hasattr(bpy.types.Scene, attr):
            delattr(bpy.types.Scene, attr)
    _scene_props.clear()
    for cls in reversed(_registered):
        if cls.is_registered:
            bpy.utils.unregister_class(cls)
    _registered.clear()
    _operators.clear()
    unavailable.clear()


def refresh_methods() -> None:
    """Rebuild the method operators (after installing dependencies or a plugin)."""
    unregister_methods()
    deps.check(refresh=True)
    if deps.problem() is None:
        from unrender.methods import refresh

        refresh()
    register_methods()


def method_operators() -> dict[str, type]:
    """``{method id: operator class}`` of the registered method operators."""
    return dict(_operators)


class UNRENDER_OT_refresh_methods(bpy.types.Operator):
    """Reload unrender's method registry (built-in methods and installed plugins) and rebuild the panel"""

    bl_idname = "unrender.refresh_methods"
    bl_label = "Reload methods"

    def execute(self, context):
        refresh_methods()
        n = len(_operators)
        self.report({"INFO"} if n else {"WARNING"}, f"{n} unrender methods available" if n else
                    (deps.problem() or methods_error or "no methods found"))
        return {"FINISHED"}


# ----------------------------------------------------------------------------- site-packages
def apply_site_packages(prefs) -> None:
    """Put the install folder and ``prefs.site_packages`` on ``sys.path``; rebuild the methods when what imports
    changed (or imports: the folder may bring plugins)."""
    before = deps.problem()
    deps.apply_saved_paths(prefs)
    after = deps.problem()
    if after is None or after != before:
        refresh_methods()


def apply_site_packages_later():
    """Timer: apply the saved site-packages once the preferences can be read (see :func:`register`)."""
    prefs = addon_preferences()
    if prefs is not None:
        apply_site_packages(prefs)
    return None


# ----------------------------------------------------------------------------- the add-on
def register(classes, scene_properties: dict[str, type], builders: MethodClasses) -> None:
    """Register ``classes`` (in order), the scene's ``{attribute: PropertyGroup}`` and every method's classes."""
    global _classes, _scene_properties, _builders
    _classes, _scene_properties, _builders = tuple(classes) + (UNRENDER_OT_refresh_methods,), dict(scene_properties), builders
    for cls in _classes:
        bpy.utils.register_class(cls)
    for attr, group in _scene_properties.items():
        setattr(bpy.types.Scene, attr, bpy.props.PointerProperty(type=group))
    # Before the methods are built (only when torch imports): the install folder and the saved site-packages
    # go on sys.path now, so that they work after a restart.
    prefs = addon_preferences()
    deps.apply_saved_paths(prefs)
    if prefs is None and not bpy.app.timers.is_registered(apply_site_packages_later):
        # Registered outside the add-on system's order (the preferences come later): read them once they exist.
        bpy.app.timers.register(apply_site_packages_later, first_interval=0.1)
    register_methods()


def unregister() -> None:
    """Unregister what :func:`register` registered and take the add-on's folders off ``sys.path``."""
    global _classes, _scene_properties, _builders, methods_error
    if bpy.app.timers.is_registered(apply_site_packages_later):
        bpy.app.timers.unregister(apply_site_packages_later)
    unregister_methods()
    for attr in _scene_properties:
        if hasattr(bpy.types.Scene, attr):
            delattr(bpy.types.Scene, attr)
    for cls in reversed(_classes):
        if cls.is_registered:
            bpy.utils.unregister_class(cls)
    _classes, _scene_properties, _builders, methods_error = (), {}, None, None
    deps.unregister()

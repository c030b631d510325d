"""Unrender for Blender: run unrender's methods on the scene from the 3D Viewport sidebar.

A thin adapter (see ``docs/architecture.md`` in the unrender repository): :mod:`.convert` turns bpy data into
unrender tensors and back, :mod:`.jobs` runs a registry method off the main
thread, :mod:`.operators` builds one operator per registry method and
:mod:`.panel` the sidebar from the same registry; :mod:`.registration`
registers them all and says what is unavailable and why. Nothing here imports
torch or unrender at module level, so the add-on enables (and says what to
install) where torch is missing.

Imports run one way: this package module hands the classes and builders to
:mod:`.registration`; the modules that draw (:mod:`.panel`,
:mod:`.preferences`, :mod:`.compare`) and build (:mod:`.operators`,
:mod:`.install`) import :mod:`.registration`, which imports only :mod:`.deps`.
"""

from __future__ import annotations


def register():
    from . import body, compare, install, operators, panel, preferences, registration, views

    registration.register(
        classes=(*preferences.CLASSES, *install.CLASSES, *panel.CLASSES, *compare.CLASSES, *body.CLASSES,
                 *views.CLASSES),
        scene_properties=compare.SCENE_PROPERTIES,
        builders=registration.MethodClasses(operators.make_operator, operators.make_settings, panel.make_method_panel))
    views.register_menu()


def unregister():
    from . import install, registration, views

    views.unregister_menu()
    install.shutdown()
    registration.unregister()

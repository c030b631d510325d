"""The method registry: built-in methods and plugins from the ``unrender.methods`` entry points.

Built-in methods are the :class:`~unrender.methods.base.Method` subclasses
decorated with :func:`register` in any module of the ``unrender.methods``
package: adding a method is adding one file. Third-party packages declare

.. code-block:: toml

    [project.entry-points."unrender.methods"]
    my-method = "my_package.module:MyMethod"

where the object is a ``Method`` subclass or instance (or a callable returning
one). Plugins are read when the registry is first used; :func:`refresh`
reads them again (after installing a package into a running process). A
plugin that fails to load is skipped and listed by :func:`plugin_errors`.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from importlib import metadata

from .base import Method

__all__ = ["register", "get_method", "list_methods", "method_ids", "refresh", "plugin_errors", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "unrender.methods"
RESERVED_IDS = ("demo", "list", "help")

_builtin: dict[str, Method] = {}
_plugins: dict[str, Method] | None = None
_errors: list[str] = []
_builtins_loaded = False


def _check_method(m: Method, where: str) -> Method:
    for attr in ("id", "label", "description"):
        if not isinstance(getattr(m, attr, None), str) or not getattr(m, attr):
            raise ValueError(f"{where}: expected a non-empty str {attr!r}, found {getattr(m, attr, None)!r}")
    if not all(c.isalnum() or c == "-" for c in m.id) or not m.id[0].isalpha() or m.id != m.id.lower():
        raise ValueError(f"{where}: expected a lower-case id of letters, digits and '-', found {m.id!r}")
    if m.id in RESERVED_IDS:
        raise ValueError(f"{where}: the id {m.id!r} is reserved for a CLI command")
    names = [i.name for i in m.inputs] + [p.name for p in m.all_params()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{where}: input and parameter names must be unique, found {dup} more than once")
    if not m.outputs:
        raise ValueError(f"{where}: expected at least one Output, found none")
    return m


def _instantiate(obj, where: str) -> Method:
    if isinstance(obj, type) and issubclass(obj, Method):
        obj = obj()
    elif not isinstance(obj, Method) and callable(obj):
        obj = obj()
    if not isinstance(obj, Method):
        raise ValueError(f"{where}: expected a unrender.methods.Method subclass or instance, found {type(obj).__name__}")
    return _check_method(obj, where)


def register(cls_or_obj):
    """Class decorator (or function) adding a built-in method to the registry.

    Returns its argument unchanged, so it works as ``@register`` on a class.
    """
    m = _instantiate(cls_or_obj, getattr(cls_or_obj, "__name__", repr(cls_or_obj)))
    if m.id in _builtin and type(_builtin[m.id]) is not type(m):
        raise ValueError(f"register: a method with id {m.id!r} is already registered ({_builtin[m.id]!r})")
    _builtin[m.id] = m
    return cls_or_obj


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from . import __path__ as pkg_path

    for info in pkgutil.iter_modules(pkg_path):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")


def _load_plugins() -> dict[str, Method]:
    global _plugins
    if _plugins is not None:
        return _plugins
    _plugins, _errors[:] = {}, []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"plugin {ep.name!r} ({ep.value})"
        try:
            m = _instantiate(ep.load(), where)
            if m.id in _builtin or m.id in _plugins:
                raise ValueError(f"{where}: the id {m.id!r} is already taken")
        except Exception as exc:  # a broken plugin must not break the toolkit
            msg = f"{exc}" if str(exc).startswith(where) else f"{where}: {type(exc).__name__}: {exc}"
            _errors.append(msg)
            warnings.warn(f"unrender: skipped {msg}", RuntimeWarning, stacklevel=2)
            continue
        _plugins[m.id] = m
    return _plugins


def refresh() -> None:
    """Read the ``unrender.methods`` entry points again (e.g. after ``pip install`` of a plugin)."""
    global _plugins
    _plugins = None
    importlib.invalidate_caches()


def list_methods() -> list[Method]:
    """Every registered method, built-ins first, each group sorted by id."""
    _load_builtins()
    plugins = _load_plugins()
    return [_builtin[k] for k in sorted(_builtin)] + [plugins[k] for k in sorted(plugins)]


def method_ids() -> list[str]:
    return [m.id for m in list_methods()]


def get_method(method) -> Method:
    """A method by id (a ``Method`` passes through). Unknown ids raise ``ValueError`` listing the known ones."""
    if isinstance(method, Method):
        return method
    for m in list_methods():
        if m.id == method:
            return m
    raise ValueError(f"method: expected one of {method_ids()}, found {method!r}")


def plugin_errors() -> list[str]:
    """Messages of the plugins that failed to load at the last read."""
    _load_plugins()
    return list(_errors)

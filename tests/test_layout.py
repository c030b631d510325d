"""Project-level properties: core never imports Blender, the extension manifest is valid."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLENDER_MODULES = {"bpy", "bmesh", "mathutils", "bpy_extras", "gpu", "aud", "bgl", "blf", "idprop"}


def test_core_source_never_imports_blender():
    offenders = []
    for path in sorted((ROOT / "core" / "unrender").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in BLENDER_MODULES]
    assert not offenders, "core/unrender must not import Blender modules:\n" + "\n".join(offenders)


def test_importing_every_core_module_loads_no_blender_module():
    code = (
        "import importlib, pkgutil, sys, unrender\n"
        "for m in pkgutil.walk_packages(unrender.__path__, 'unrender.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(set(sys.modules) & set({sorted(BLENDER_MODULES)!r}))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Blender modules imported by core: {out.stdout.strip()}"


def test_blender_manifest_is_valid_for_blenders_extension_tool():
    bpy = pytest.importorskip("bpy", reason="bpy (Blender as a Python module) not installed")
    # bpy/__init__.py lives in <version>/scripts/modules/bpy; the extension tool ships beside it.
    cli_dir = pathlib.Path(bpy.__file__).parents[2] / "addons_core" / "bl_pkg" / "cli"
    sys.path.insert(0, str(cli_dir))
    try:
        import blender_ext
    finally:
        sys.path.remove(str(cli_dir))
    result = blender_ext.pkg_manifest_from_toml_and_validate_all_errors(str(ROOT / "blender_manifest.toml"), strict=True)
    assert not isinstance(result, list), f"manifest errors: {result}"
    assert result.id == "unrender" and result.blender_version_min == "4.2.0"
    assert result.license == ["SPDX:GPL-3.0-or-later"]


def addon_imports(folder: pathlib.Path = ROOT / "addon") -> dict[str, list[tuple[str, str, int]]]:
    """Each add-on module -> its imports of sibling modules ``(module, name or "", line)``, inside functions too.

    ``from . import a`` gives ``("a", "", line)``; ``from .a import b`` gives ``("a", "b", line)``.
    """
    graph = {}
    for path in sorted(folder.glob("*.py")):
        found = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module is None:
                    found += [(a.name, "", node.lineno) for a in node.names]
                else:
                    found += [(node.module.split(".")[0], a.name, node.lineno) for a in node.names]
        graph[path.stem] = found
    return graph


def _import_cycle(graph: dict[str, list[tuple[str, str, int]]]) -> list[str] | None:
    """A cycle of the module graph as ``[a, b, ..., a]``, or ``None``."""
    edges = {m: sorted({t for t, _, _ in imps if t in graph and t != m}) for m, imps in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(m):
        state[m] = 1
        path.append(m)
        for t in edges[m]:
            if state.get(t) == 1:
                return path[path.index(t):] + [t]
            if t not in state:
                cycle = visit(t)
                if cycle:
                    return cycle
        path.pop()
        state[m] = 2
        return None

    for m in edges:
        if m not in state:
            cycle = visit(m)
            if cycle:
                return cycle
    return None


def test_addon_modules_import_each_other_without_a_cycle():
    graph = addon_imports()
    assert {"__init__", "registration", "operators", "panel", "preferences", "jobs"} <= set(graph)
    cycle = _import_cycle(graph)
    assert cycle is None, "add-on modules import each other in a cycle: " + " -> ".join(cycle)
    dynamic = [f"addon/{path.name}:{node.lineno}" for path in sorted((ROOT / "addon").glob("*.py"))
               for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)
               and "import_module" in ast.unparse(node.func) and "__package__" in ast.unparse(node)]
    assert not dynamic, f"add-on modules imported by name, out of sight of the import graph: {dynamic}"


def test_the_import_cycle_check_finds_a_cycle(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "b.py").write_text("from .c import thing\n")
    (tmp_path / "c.py").write_text("def g():\n    from .a import f\n")
    (tmp_path / "d.py").write_text("from . import a\n")
    assert _import_cycle(addon_imports(tmp_path)) in (["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"])
    (tmp_path / "c.py").write_text("from . import e\n")  # not an add-on module: no edge
    assert _import_cycle(addon_imports(tmp_path)) is None


def test_addon_modules_use_no_underscore_name_of_another_module():
    graph = addon_imports()
    offenders = [f"addon/{m}.py:{line}: from .{t} import {n}" for m, imps in graph.items()
                 for t, n, line in imps if n.startswith("_")]
    for path in sorted((ROOT / "addon").glob("*.py")):
        siblings = {t for t, n, _ in graph[path.stem] if not n}  # modules bound by ``from . import t``
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in siblings
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                offenders.append(f"addon/{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offenders, "add-on modules reach into another module's private names:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "package",
    ["unrender.body", "unrender.cameras", "unrender.data", "unrender.fields", "unrender.geometry", "unrender.io", "unrender.losses", "unrender.ops", "unrender.render", "unrender.structures", "unrender.surfaces", "unrender.volumetric"],
)
def test_every_public_name_is_exported_by_its_package(package):
    """Each public module (or subpackage) of the core packages has an ``__all__``, and every
    name in it is in the ``__all__`` of every package above it, up to ``package``
    (``render/__init__`` re-exports ``render.mesh`` and ``render.points``). Modules whose
    name starts with ``_`` are private to their package."""
    import importlib
    import pkgutil

    top = importlib.import_module(package)
    problems = []
    for info in pkgutil.walk_packages(top.__path__, package + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        names = getattr(module, "__all__", None)
        if names is None:
            problems.append(f"{info.name}: no __all__")
            continue
        problems += [f"{info.name}.{n}: listed but not defined" for n in names if not hasattr(module, n)]
        parent = info.name
        while parent != package:
            parent = parent.rsplit(".", 1)[0]
            listed = set(importlib.import_module(parent).__all__)
            problems += [f"{info.name}.{n}: not in {parent}.__all__" for n in names if n not in listed]
    assert not problems, "\n".join(problems)


def core_imports():
    """Each core module's relative imports: ``(path, line, target module, name)``, inside functions too."""
    core = ROOT / "core"
    found = []
    for path in sorted((core / "unrender").rglob("*.py")):
        parts = list(path.relative_to(core).with_suffix("").parts)
        package = parts if parts[-1] == "__init__" else parts[:-1]
        package = [p for p in package if p != "__init__"]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                found += [(path.relative_to(ROOT), node.lineno, target, a.name) for a in node.names]
    return found


def test_core_modules_share_only_public_names():
    """No core module imports another module's underscore names, and what it imports from a
    public module is in that module's ``__all__`` (share by making a helper public where it lives).
    Private modules (``io/_common.py``, ``render/mesh/_raster_*.py``) serve their own package only."""
    import importlib
    import types

    problems = []
    for path, line, target, name in core_imports():
        if name == "*" or (name.startswith("__") and name.endswith("__")):
            continue
        if name.startswith("_"):
            problems.append(f"{path}:{line}: imports {target}.{name}")
            continue
        module = importlib.import_module(target)
        if isinstance(getattr(module, name, None), types.ModuleType):
            continue
        private = target.rsplit(".", 1)[-1].startswith("_")
        if private:
            owner = target.rsplit(".", 1)[0]
            here = ".".join(path.relative_to("core").with_suffix("").parts)
            if not here.startswith(owner + "."):
                problems.append(f"{path}:{line}: imports {target}.{name} from outside {owner}")
        elif name not in getattr(module, "__all__", ()):
            problems.append(f"{path}:{line}: imports {target}.{name}, which is not in its __all__")
    assert not problems, "\n".join(problems)

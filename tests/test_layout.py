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


@pytest.mark.parametrize("package", ["unrender.render", "unrender.geometry"])
def test_every_public_name_is_exported_by_its_package(package):
    """Each public module (or subpackage) of render/ and geometry/ has an ``__all__``, and every
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

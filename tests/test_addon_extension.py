"""The add-on as a user gets it: the extension zip built by ``scripts/build_extension.py``, installed into Blender.

The install runs in a subprocess (this file run as a script) with its own
Blender user folders, so the installed extension never meets the add-on the
other tests enable in-process, and nothing is written to the user's
``~/.config/blender``. In that subprocess the test venv's editable install of
unrender, and its copies of the other bundled packages (Pillow, imageio, tqdm),
are hidden: everything the zip bundles must import from the wheels Blender
installed from it, as in a Blender that has none of them.

The zips are built for the Python running the tests: 3.11 (bpy 5.0) in the
main test environment, 3.13 (bpy 5.2) in the second one ``scripts/test.sh``
sets up.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = "bl_ext.user_default.unrender"
METHOD_OPERATORS = ("deform_mesh", "fit_points", "fit_voxels", "estimate_pose")
FINDINGS = "UNRENDER_EXTENSION_FINDINGS "
PY = f"{sys.version_info.major}.{sys.version_info.minor}"  # Blender's Python: the zip is built for it
# What the zip must bundle (import names -> pip names), and what it no longer does (marching cubes is unrender's own).
BUNDLED = {"unrender": "unrender", "PIL": "pillow", "imageio": "imageio", "tqdm": "tqdm"}
NOT_BUNDLED = {"mcubes": "pymcubes", "scipy": "scipy", "torch": "torch", "numpy": "numpy"}


def _builder():
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_extension", mod)
    spec.loader.exec_module(mod)
    return mod


builder = _builder()


@pytest.fixture(scope="module")
def bpy():
    return pytest.importorskip("bpy", reason="the extension tests need the bpy module (Blender as a Python module)")


def _build(out: Path, **kwargs) -> list[Path]:
    try:
        return builder.build(out, **kwargs)
    except SystemExit as exc:
        pytest.fail(f"building the extension zip failed ({exc}); the build downloads the dependency wheels "
                    f"from the package index (PyPI), so it needs network access", pytrace=False)


@pytest.fixture(scope="module")
def extension_zip(bpy, tmp_path_factory):
    """The extension zip for this machine and this Python, built once."""
    (path,) = _build(tmp_path_factory.mktemp("extension"), python_versions=[PY])
    return path


@pytest.fixture(scope="module")
def other_python_zip(bpy, tmp_path_factory):
    """The zip for this machine built for Blender's other Python (3.13 under 3.11 and the reverse)."""
    (other,) = [v for v in builder.BLENDER_PYTHONS if v != PY]
    (path,) = _build(tmp_path_factory.mktemp("extension-other"), python_versions=[other])
    return path


def _wheel_top_levels(zf: zipfile.ZipFile, name: str) -> set[str]:
    """Top-level importable names a wheel inside the zip installs (from its RECORD)."""
    import io

    with zipfile.ZipFile(io.BytesIO(zf.read(name))) as whl:
        record = next(n for n in whl.namelist() if n.endswith(".dist-info/RECORD"))
        tops = set()
        for line in whl.read(record).decode().splitlines():
            head = line.split(",", 1)[0].split("/", 1)[0]
            if head.endswith((".dist-info", ".data", ".libs")) or not head:
                continue
            tops.add(head.split(".", 1)[0] if head.endswith((".py", ".so", ".pyd")) else head)
    return {t for t in tops if t.isidentifier()}


# ----------------------------------------------------------------------------- the zip
@pytest.mark.blender
@pytest.mark.addon
def test_zip_holds_the_addon_the_manifest_and_the_wheels(bpy, extension_zip):
    with zipfile.ZipFile(extension_zip) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        repo_manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

        platform = builder.current_platform()
        assert extension_zip.name == (f"unrender-{pyproject['project']['version']}-python{PY}-"
                                      f"{platform.replace('-', '_')}.zip")
        assert "__init__.py" in names and "blender_manifest.toml" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        addon = sorted(p.relative_to(ROOT / "addon").as_posix() for p in (ROOT / "addon").rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
        assert sorted(n for n in names if not n.startswith("wheels/") and n != "blender_manifest.toml") == addon

        wheels = sorted(n for n in names if n.startswith("wheels/"))
        assert sorted(w.removeprefix("./") for w in manifest["wheels"]) == wheels
        assert manifest["platforms"] == [builder.current_platform()]
        for key in ("id", "version", "tagline", "license", "permissions"):
            assert manifest[key] == repo_manifest[key]
        assert manifest["version"] == pyproject["project"]["version"]
        # The oldest Blender this Python's zip may install in: 4.2.0 for 3.11, 4.3.0 for 3.13.
        assert manifest["blender_version_min"] == builder.BLENDER_PYTHONS[PY]
        assert builder.BLENDER_PYTHONS["3.11"] == repo_manifest["blender_version_min"] == "4.2.0"
        version = tuple(int(n) for n in manifest["blender_version_min"].split("."))
        assert version <= bpy.app.version and "blender_version_max" not in manifest

        dists = {builder.normalize(w.split("/")[1].split("-")[0]) for w in wheels}
        assert set(BUNDLED.values()) <= dists and not dists & set(NOT_BUNDLED.values()), dists
        cp = f"cp{PY.replace('.', '')}"
        binary = [w for w in wheels if not w.endswith("-none-any.whl")]
        assert binary and all(f"-{cp}-" in w for w in binary), binary  # only this Python's compiled wheels

        # Nothing that Blender's own Python already has: the bpy module declares what Blender bundles
        # (numpy, requests, ...) as its requirements and ships the compiled ones in <version>/python.
        import importlib.metadata
        import re

        declared = {builder.normalize(re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0])
                    for r in importlib.metadata.requires("bpy") or []}
        assert declared and declared <= builder.BLENDER_BUNDLED, declared - builder.BLENDER_BUNDLED
        local = Path(bpy.utils.resource_path("LOCAL"))  # the bpy module's <version> folder
        shipped = {builder.normalize(p.name.split(".")[0])
                   for folder in local.glob("python/lib/python*/site-packages") for p in folder.iterdir()}
        assert shipped, f"no bundled site-packages found under {local}"
        assert not dists & (declared | shipped), f"bundles what Blender ships: {dists & (declared | shipped)}"

    # Blender's own validator (the one `blender --command extension validate` runs) accepts it.
    cli = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    out = subprocess.run([sys.executable, str(cli), "validate", str(extension_zip)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.blender
@pytest.mark.addon
def test_dependency_wheels_resolve_offline_from_a_wheel_folder(extension_zip, tmp_path):
    """--wheel-dir: the same wheels come from a local folder, without the package index."""
    folder = tmp_path / "wheels"
    with zipfile.ZipFile(extension_zip) as zf:
        wheels = [n for n in zf.namelist() if n.startswith("wheels/")]
        zf.extractall(tmp_path, wheels)
    own = next(folder.glob("unrender-*.whl"))
    _, _, requires = builder.wheel_metadata(own)
    platform = builder.PLATFORMS[builder.current_platform()]
    got = builder.dependency_wheels(requires, platform, PY, tmp_path, wheel_dir=folder)
    assert sorted(w.name for w in got) == sorted(n.split("/")[1] for n in wheels if n != f"wheels/{own.name}")


@pytest.mark.blender
@pytest.mark.addon
def test_a_platform_without_the_wheels_is_left_out_of_an_all_platforms_build(extension_zip, tmp_path, capsys):
    folder = tmp_path / "wheels"
    with zipfile.ZipFile(extension_zip) as zf:  # wheels for this platform only
        zf.extractall(tmp_path, [n for n in zf.namelist() if n.startswith("wheels/") and "unrender-" not in n])
    here = builder.current_platform()
    other = "windows-arm64" if here != "windows-arm64" else "linux-x64"
    built = builder.build(tmp_path / "out", [here, other], folder, [PY], skip_unavailable=True)
    assert [p.name for p in built] == [extension_zip.name]
    assert f"skipped Python {PY} / {other}:" in capsys.readouterr().err
    with pytest.raises(builder.NoWheels, match=f"for {other} / Python {PY}"):
        builder.build(tmp_path / "out", [other], folder, [PY])


# ----------------------------------------------------------------------------- installing it in Blender
@pytest.mark.blender
@pytest.mark.addon
def test_installs_enables_runs_and_uninstalls_like_a_user(extension_zip, tmp_path):
    with zipfile.ZipFile(extension_zip) as zf:
        bundled = set()
        for name in zf.namelist():
            if name.startswith("wheels/"):
                bundled |= _wheel_top_levels(zf, name)
    assert set(BUNDLED) <= bundled and not bundled & set(NOT_BUNDLED), bundled

    home, resources = tmp_path / "home", tmp_path / "blender"
    t0 = time.perf_counter()
    found, log = _in_blender("install", extension_zip, tmp_path, hide=sorted(bundled))
    seconds = time.perf_counter() - t0

    ext = str(resources / "extensions")
    assert found["user_extensions"].rstrip("/") == ext, log
    assert found["install"] == ["FINISHED"], log
    assert found["enabled_after_install"], log
    assert found["unrender_file"].startswith(ext + "/"), f"unrender imported from {found['unrender_file']}\n{log}"
    outside = {m: f for m, f in found["module_files"].items() if not f.startswith(ext + "/")}
    assert not outside, f"bundled modules imported from outside the extension: {outside}\n{log}"
    assert set(METHOD_OPERATORS) <= set(found["operators"]), log
    assert found["run"] == ["FINISHED"], log
    assert found["new_objects"], f"fit_points made no object\n{log}"
    assert found["new_points"] == 500, log

    assert found["disable"] == ["FINISHED"] and not found["enabled_after_disable"], log
    assert found["classes_after_disable"] == [], log
    assert found["operators_after_disable"] == [], log
    assert found["enable"] == ["FINISHED"] and found["enabled_after_reenable"], log
    assert set(METHOD_OPERATORS) <= set(found["operators_after_reenable"]), log
    assert found["uninstall"] == ["FINISHED"], log
    assert not found["enabled_after_uninstall"] and not found["installed_after_uninstall"], log
    assert not found["wheels_after_uninstall"], f"left behind: {found['wheels_after_uninstall']}\n{log}"
    assert found["classes_after_uninstall"] == [], log

    # Blender kept to the folders it was given.
    assert not (home / ".config" / "blender").exists(), sorted(p.name for p in home.rglob("*"))
    assert (resources / "extensions" / "user_default").is_dir()
    assert seconds < 120, f"the install subprocess took {seconds:.0f} s"


def _in_blender(mode: str, zip_path: Path, tmp_path: Path, hide=()) -> tuple[dict, str]:
    """Run this file's ``mode`` probe on ``zip_path`` in a fresh Blender (a subprocess) -> (findings, its output)."""
    home, resources = tmp_path / "home", tmp_path / "blender"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLENDER_USER_", "XDG_", "PYTHONPATH"))}
    env.update(HOME=str(home), BLENDER_USER_RESOURCES=str(resources), PYTHONNOUSERSITE="1",
               OMP_NUM_THREADS="1")
    args = {"mode": mode, "zip": str(zip_path), "hide": list(hide), "extensions": str(resources / "extensions")}
    proc = subprocess.run([sys.executable, __file__, json.dumps(args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    log = f"--- subprocess stdout ---\n{proc.stdout}\n--- subprocess stderr ---\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith(FINDINGS)]
    assert proc.returncode == 0 and lines, f"the {mode} subprocess failed (exit code {proc.returncode})\n{log}"
    found = json.loads(lines[-1][len(FINDINGS):])
    assert found["error"] is None, f"{found['error']}\n{log}"
    return found, log


@pytest.mark.blender
@pytest.mark.addon
def test_the_zip_for_the_other_python_is_refused_with_both_versions_named(other_python_zip, tmp_path):
    """Blender 4.3+ reads the Python from the wheels: the 3.13 zip does not enable in Blender 5.0, nor 3.11's in 5.2."""
    found, log = _in_blender("refuse", other_python_zip, tmp_path)
    other = "3.13" if PY == "3.11" else "3.11"
    assert f"This Python version ({PY}) isn't compatible with ({other})" in found["install_error"], log
    assert not found["enabled"] and not found["unrender_imports"], log


# ----------------------------------------------------------------------------- the builder, without Blender
def test_unknown_platform_names_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown platform 'linux-x86'.*linux-x64"):
        builder.build(tmp_path, ["linux-x86"])


def test_missing_manifest_is_named(tmp_path):
    with pytest.raises(SystemExit, match="blender_manifest.toml is missing"):
        builder.read_manifest(tmp_path / "blender_manifest.toml")


def test_failing_pip_is_one_line_naming_the_package(tmp_path):
    empty = tmp_path / "wheels"
    empty.mkdir()
    with pytest.raises(builder.NoWheels) as info:  # a SystemExit: the build's one line
        builder.dependency_wheels(["pillow>=10"], builder.PLATFORMS["linux-x64"], "3.13", tmp_path, empty)
    msg = str(info.value)
    assert "\n" not in msg and "pillow" in msg and str(empty) in msg and "pip exit code" in msg
    assert "linux-x64 / Python 3.13" in msg


def test_python_versions_are_blenders():
    with pytest.raises(ValueError, match="python version '3.12': expected one of Blender's, 3.11, 3.13"):
        builder.build(Path("unused"), ["linux-x64"], python_versions=["3.12"])


def test_addon_files_leave_out_caches_hidden_files_and_excluded_patterns(tmp_path):
    addon = tmp_path / "addon"
    for rel in ("__init__.py", "ops.py", "sub/x.py", "__pycache__/ops.cpython-311.pyc", ".DS_Store",
                "sub/__pycache__/x.pyc", "old.zip", "sub/old.zip"):
        (addon / rel).parent.mkdir(parents=True, exist_ok=True)
        (addon / rel).write_text("")
    exclude = tomllib.loads((ROOT / "blender_manifest.toml").read_text())["build"]["paths_exclude_pattern"]
    assert [rel for _, rel in builder.addon_files(addon, exclude)] == ["__init__.py", "ops.py", "sub/x.py"]
    (addon / "__init__.py").unlink()
    with pytest.raises(SystemExit, match="has no __init__.py"):
        builder.addon_files(addon, exclude)


def test_manifest_keys_are_written_into_the_top_level_table():
    text = (ROOT / "blender_manifest.toml").read_text()
    wheels = ["./wheels/a-1.0-py3-none-any.whl", "./wheels/b-2.0-cp311-cp311-win_amd64.whl"]
    out = builder.manifest_with(text, wheels, ["windows-x64"])
    data = tomllib.loads(out)
    assert data["wheels"] == wheels and data["platforms"] == ["windows-x64"]
    assert data["permissions"] == tomllib.loads(text)["permissions"]
    assert out.startswith(text.split("\n[", 1)[0].rstrip())  # the original text (comments too) is kept
    assert data["blender_version_min"] == tomllib.loads(text)["blender_version_min"]  # kept unless given
    # Written again (a manifest that already lists wheels): replaced, not duplicated.
    again = builder.manifest_with(out, wheels[:1], ["linux-x64"], "4.3.0")
    parsed = tomllib.loads(again)
    assert parsed["wheels"] == wheels[:1] and again.count("wheels = [") == 1
    assert parsed["blender_version_min"] == "4.3.0" and again.count("\nblender_version_min = ") == 1


def test_wheels_for_another_platform_are_refused():
    linux = builder.PLATFORMS["linux-x64"]
    assert builder.wheel_fits(linux, "pillow-13.0.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl")
    assert builder.wheel_fits(linux, "tqdm-4.70.1-py3-none-any.whl")
    assert not builder.wheel_fits(linux, "pillow-13.0.0-cp311-cp311-manylinux_2_28_aarch64.whl")
    assert not builder.wheel_fits(builder.PLATFORMS["macos-x64"], "x-1.0-cp311-cp311-macosx_10_9_intel.whl")
    assert builder.wheel_fits(builder.PLATFORMS["macos-arm64"], "x-1.0-cp311-cp311-macosx_11_0_arm64.whl")
    # Blender 4.2 installs no universal2 wheel (it matches the tag's ending against arm64 / x86_64).
    assert not builder.wheel_fits(builder.PLATFORMS["macos-arm64"], "x-1.0-cp311-cp311-macosx_10_9_universal2.whl")
    # The Python tag, as Blender 4.3+ reads it.
    pillow = "pillow-13.0.0-{0}-{0}-win_amd64.whl"
    windows = builder.PLATFORMS["windows-x64"]
    assert builder.wheel_fits(windows, pillow.format("cp313"), "3.13")
    assert not builder.wheel_fits(windows, pillow.format("cp311"), "3.13")
    assert not builder.wheel_fits(windows, pillow.format("cp313"), "3.11")
    assert builder.wheel_fits(windows, "tqdm-4.70.1-py3-none-any.whl", "3.13")
    assert builder.wheel_fits(windows, "colorama-0.4.6-py2.py3-none-any.whl", "3.11")
    assert builder.wheel_fits(windows, "x-1.0-cp311-abi3-win_amd64.whl", "3.13")  # stable ABI: newer Pythons
    assert not builder.wheel_fits(windows, "x-1.0-cp314-abi3-win_amd64.whl", "3.13")


def test_repository_manifest_follows_blenders_rules():
    data = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert data["schema_version"] == "1.0.0" and data["id"] == "unrender" and data["type"] == "add-on"
    assert data["blender_version_min"] == "4.2.0" and data["license"] == ["SPDX:GPL-3.0-or-later"]
    assert data["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for text in (data["tagline"], *data["permissions"].values()):
        assert len(text) <= 64 and (text[-1].isalnum() or text[-1] in ")]}"), text
    assert set(data["permissions"]) == {"files", "network"}
    assert "wheels" not in data and "platforms" not in data  # written by the build, per platform


# ----------------------------------------------------------------------------- the subprocess
def _hide_outside(names: set[str], allowed_root: str) -> None:
    """Make the top-level modules ``names`` importable only from below ``allowed_root``."""
    from importlib.machinery import PathFinder

    class OnlyFromExtensions:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if "." in name or name not in names:
                return None
            inside = [p for p in sys.path if os.path.realpath(p).startswith(allowed_root)]
            spec = PathFinder.find_spec(name, inside)
            if spec is None:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden outside {allowed_root})", name=name)
            return spec

    sys.meta_path.insert(0, OnlyFromExtensions())


def _drop_editable_install() -> list[str]:
    """Take the editable install of unrender (a path entry or an import hook) off -> what was dropped."""
    import site

    dropped = []
    site_dirs = {os.path.realpath(p) for p in site.getsitepackages()}
    for entry in list(sys.path):
        if entry and os.path.realpath(entry) not in site_dirs and os.path.isfile(
                os.path.join(entry, "unrender", "__init__.py")):
            sys.path.remove(entry)
            dropped.append(entry)
    for finder in list(sys.meta_path):
        if "__editable__" in str(getattr(finder, "__module__", "")):  # setuptools' strict editable finder
            sys.meta_path.remove(finder)
            dropped.append(repr(finder))
    sys.path_importer_cache.clear()
    return dropped


def _probe(args: dict) -> dict:
    """Install, enable, run, disable, re-enable and uninstall the extension -> what was seen at each step."""
    found: dict = {"error": None}
    found["dropped"] = _drop_editable_install()
    extensions = os.path.realpath(args["extensions"])
    _hide_outside(set(args["hide"]), extensions + os.sep)
    try:
        import unrender  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(f"unrender still imports before the install, from {unrender.__file__}")

    import bpy

    prefs = bpy.context.preferences

    def enabled():
        return PKG in prefs.addons

    def classes():
        return sorted(n for n in dir(bpy.types) if n.startswith("UNRENDER_"))

    def operators():
        return sorted(n for n in dir(bpy.ops.unrender))

    found["user_extensions"] = os.path.realpath(bpy.utils.user_resource("EXTENSIONS"))
    repo = next(r for r in prefs.extensions.repos if r.module == "user_default")
    found["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=args["zip"], repo="user_default", enable_on_install=True))
    found["enabled_after_install"] = enabled()

    import unrender

    found["unrender_file"] = os.path.realpath(unrender.__file__)
    found["module_files"] = {}
    for name in args["hide"]:
        mod = importlib.import_module(name)
        found["module_files"][name] = os.path.realpath(getattr(mod, "__file__", None) or next(iter(mod.__path__)))
    found["operators"] = operators()

    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob)
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16)
    before = {o.name for o in bpy.data.objects}
    found["run"] = sorted(bpy.ops.unrender.fit_points(points=500, steps=20))
    new = [o for o in bpy.data.objects if o.name not in before]
    found["new_objects"] = [o.name for o in new]
    found["new_points"] = len(new[0].data.points if hasattr(new[0].data, "points") else new[0].data.vertices) \
        if new else 0

    found["disable"] = sorted(bpy.ops.preferences.addon_disable(module=PKG))  # the add-ons list's checkbox
    found["enabled_after_disable"] = enabled()
    found["classes_after_disable"] = classes()
    found["operators_after_disable"] = operators()
    found["enable"] = sorted(bpy.ops.preferences.addon_enable(module=PKG))
    found["enabled_after_reenable"] = enabled()
    found["operators_after_reenable"] = operators()

    found["uninstall"] = sorted(bpy.ops.extensions.package_uninstall(repo_directory=repo.directory,
                                                                     pkg_id="unrender"))
    found["enabled_after_uninstall"] = enabled()
    found["installed_after_uninstall"] = os.path.exists(os.path.join(repo.directory, "unrender"))
    local = os.path.join(extensions, ".local")
    found["wheels_after_uninstall"] = sorted(
        name for folder, dirs, _ in os.walk(local) for name in dirs if name in set(args["hide"]))
    found["classes_after_uninstall"] = classes()
    return found


def _probe_refusal(args: dict) -> dict:
    """Install a zip Blender must not enable -> the error it gave and whether it enabled anyway."""
    found: dict = {"error": None, "install_error": ""}
    _drop_editable_install()
    import bpy

    try:
        bpy.ops.extensions.package_install_files(filepath=args["zip"], repo="user_default", enable_on_install=True)
    except RuntimeError as exc:  # the operator's error report
        found["install_error"] = str(exc)
    found["enabled"] = PKG in bpy.context.preferences.addons
    found["unrender_imports"] = importlib.util.find_spec("unrender") is not None
    return found


def main(argv) -> int:
    import traceback

    try:
        args = json.loads(argv[0])
        found = (_probe if args["mode"] == "install" else _probe_refusal)(args)
    except BaseException:  # report it in the findings: the test shows it with the whole output
        found = {"error": traceback.format_exc()}
    sys.stdout.flush()
    print(FINDINGS + json.dumps(found), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

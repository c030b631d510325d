"""Build the Unrender add-on as installable Blender extension zips, one per Blender Python and platform.

    python scripts/build_extension.py --output dist                  # this machine's platform, both Pythons
    python scripts/build_extension.py --output dist --all            # every platform that has the wheels
    python scripts/build_extension.py --output dist --python-version 3.13 --platform linux-x64 --platform windows-x64
    python scripts/build_extension.py --output dist --wheel-dir wheels/   # dependency wheels from a folder

Each zip, ``unrender-<version>-python<X.Y>-<platform>.zip`` (Blender's
``--split-platforms`` naming with the Python added, e.g.
``unrender-0.1.0-python3.13-linux_x64.zip``), holds the repository's
``blender_manifest.toml`` (with ``wheels``, ``platforms`` and
``blender_version_min`` written in), the add-on's files from ``addon/`` at its
root and ``wheels/``: a wheel of ``unrender`` built from this repository plus
the wheels it needs that Blender does not bundle (the closure of its
requirements for that Python and platform). numpy comes with Blender and torch
is installed from the add-on's preferences, so neither is bundled.

Why one zip per Python rather than cp311 and cp313 wheels in one zip: Blender
4.2 installs every wheel of the platform whatever its Python tag, one per
distribution (of two Pillow wheels of one version it keeps the cp313 one), so
Pillow would not load in Blender 4.2-5.0. From Blender 4.3 on, Blender reads
the Python versions from the wheels' tags and refuses an extension whose
wheels are for another Python, with a message naming both versions.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "blender_manifest.toml"
ADDON_DIR = "addon"
WHEELS_DIR = "wheels"

# Distributions Blender's own Python ships (the bpy module declares the same ones as its
# requirements; cattrs, with attrs, since Blender 5.2): bundling a second copy would clash.
BLENDER_BUNDLED = frozenset({"numpy", "requests", "certifi", "charset-normalizer", "idna", "urllib3",
                             "zstandard", "cython", "cattrs", "attrs"})
# Too large for an extension: installed from the add-on's preferences instead.
INSTALLED_SEPARATELY = frozenset({"torch"})

# Blender's Python versions -> the oldest Blender a zip for it may install in (its blender_version_min).
# Official builds: Python 3.11 in Blender 4.2-5.0, 3.13 from 5.1. A 3.13 zip must not reach Blender 4.2,
# which would install its wheels regardless of their Python tag; from 4.3 on Blender refuses a zip whose
# wheels are for another Python, so 4.3+ builds made with Python 3.13 (Linux distributions) may use it.
BLENDER_PYTHONS = {"3.11": "4.2.0", "3.13": "4.3.0"}
DEFAULT_PYTHON_VERSIONS = tuple(BLENDER_PYTHONS)


@dataclass(frozen=True)
class Platform:
    """A Blender platform: the pip ``--platform`` tags to ask for and the values of environment markers."""

    name: str  # Blender's name, e.g. "linux-x64"
    pip_tags: tuple[str, ...]
    wheel_os: str  # platform-tag prefix Blender accepts: "manylinux", "win", "macosx"
    wheel_arch: tuple[str, ...]  # platform-tag suffixes Blender accepts for this machine (4.2 takes no universal2)
    sys_platform: str
    platform_system: str
    os_name: str
    machine: str


def _manylinux(arch: str) -> tuple[str, ...]:
    # Blender 4.2+ needs glibc 2.28; accept any manylinux wheel up to that.
    return (*(f"manylinux_2_{minor}_{arch}" for minor in range(28, 16, -1)), f"manylinux2014_{arch}")


PLATFORMS = {p.name: p for p in (
    Platform("linux-x64", _manylinux("x86_64"), "manylinux", ("x86_64",), "linux", "Linux", "posix", "x86_64"),
    Platform("linux-arm64", _manylinux("aarch64"), "manylinux", ("aarch64",), "linux", "Linux", "posix", "aarch64"),
    Platform("windows-x64", ("win_amd64",), "win", ("amd64",), "win32", "Windows", "nt", "AMD64"),
    Platform("windows-arm64", ("win_arm64",), "win", ("arm64",), "win32", "Windows", "nt", "ARM64"),
    # pip also takes wheels for older macOS; Blender 4.2+ runs on macOS 11.2 and later.
    Platform("macos-x64", ("macosx_11_0_x86_64",), "macosx", ("x86_64",), "darwin", "Darwin", "posix", "x86_64"),
    Platform("macos-arm64", ("macosx_11_0_arm64",), "macosx", ("arm64",), "darwin", "Darwin", "posix", "arm64"),
)}


def _addon_deps():
    """The add-on's ``deps`` module (standard library only at import), loaded from its file."""
    import importlib.util

    name = "unrender_addon_deps"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / ADDON_DIR / "deps.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # before running it: its dataclasses look their module up
        spec.loader.exec_module(mod)
    return sys.modules[name]


def current_platform() -> str:
    """Blender's name for the platform this Python runs on (``ValueError`` where Blender has none)."""
    name = _addon_deps().blender_platform()
    if name is None:
        raise ValueError(f"this machine's platform {sysconfig.get_platform()!r} is not one Blender supports: "
                         f"pass --platform with one of {', '.join(PLATFORMS)}")
    return name


def normalize(name: str) -> str:
    """PEP 503 form (``Pillow`` -> ``pillow``, ``charset_normalizer`` -> ``charset-normalizer``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _packaging():
    try:
        from packaging.markers import default_environment
        from packaging.requirements import Requirement
    except ImportError:  # pip always carries a copy
        from pip._vendor.packaging.markers import default_environment
        from pip._vendor.packaging.requirements import Requirement
    return Requirement, default_environment


# ----------------------------------------------------------------------------- the manifest
def read_manifest(path: Path) -> tuple[str, dict]:
    """The manifest's text and its parsed table; ``SystemExit`` naming the file when missing or invalid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SystemExit(f"error: the extension manifest {path} is missing") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"error: {path} is not valid TOML: {exc}") from None
    for key in ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
                "blender_version_min", "license"):
        if key not in data:
            raise SystemExit(f"error: {path} has no '{key}' (Blender's manifest schema requires it)")
    return text, data


def project_version(pyproject: Path) -> str:
    try:
        data = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))
        return str(data["project"]["version"])
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise SystemExit(f"error: cannot read [project] version from {pyproject}: {exc}") from None


_TABLE = re.compile(r"^\s*\[")
_GENERATED_KEY = re.compile(r"^\s*(wheels|platforms)\s*=")
_VERSION_MIN_KEY = re.compile(r"^\s*blender_version_min\s*=")


def _toml_list(key: str, values: list[str]) -> str:
    if not values:
        return f"{key} = []\n"
    return f"{key} = [\n" + "".join(f'    "{v}",\n' for v in values) + "]\n"


def manifest_with(text: str, wheels: list[str], platforms: list[str], blender_version_min: str | None = None) -> str:
    """The manifest ``text`` with its top-level ``wheels`` / ``platforms`` replaced by these.

    The rest of the text (comments included) is kept. The keys go at the end of
    the top-level table, before the first ``[table]`` header: keys written after
    a header would belong to that table. A ``blender_version_min`` given is
    written in place of the manifest's.
    """
    blender_version_min = blender_version_min or tomllib.loads(text).get("blender_version_min")
    lines = text.splitlines(keepends=True)
    head_end = next((i for i, line in enumerate(lines) if _TABLE.match(line)), len(lines))
    head, rest = [], lines[head_end:]
    depth = 0  # brackets still open in a key being dropped
    for line in lines[:head_end]:
        if depth > 0 or _GENERATED_KEY.match(line):
            depth += line.count("[") - line.count("]")
            continue
        if _VERSION_MIN_KEY.match(line):
            line = f'blender_version_min = "{blender_version_min}"\n'
        head.append(line)
    while head and not head[-1].strip():
        head.pop()
    if head and not head[-1].endswith("\n"):
        head[-1] += "\n"
    block = ["\n# Written by scripts/build_extension.py.\n"]
    if platforms:
        block.append(_toml_list("platforms", platforms))
    block.append(_toml_list("wheels", wheels))
    out = "".join(head + block + (["\n"] + rest if rest else []))
    parsed = tomllib.loads(out)  # a bug here must not produce a zip Blender rejects
    if (parsed.get("wheels") != wheels or parsed.get("platforms", []) != platforms
            or parsed.get("blender_version_min") != blender_version_min):
        raise AssertionError("writing wheels/platforms/blender_version_min into the manifest did not round-trip")
    return out


# ----------------------------------------------------------------------------- the add-on's files
def _excluded(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    """Whether ``rel`` (a ``/`` path inside the zip) matches one of the manifest's ``paths_exclude_pattern``."""
    parts = rel.split("/")
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        pat = pattern.strip("/")
        if not pat or (dir_only and not is_dir):
            continue
        if pattern.startswith("/") or "/" in pat:  # anchored at the package root
            if fnmatch.fnmatchcase(rel, pat):
                return True
        elif fnmatch.fnmatchcase(parts[-1], pat):
            return True
    return False


def addon_files(addon_dir: Path, exclude: list[str]) -> list[tuple[Path, str]]:
    """``(file, path in the zip)`` for the add-on's files (``__pycache__`` and excluded patterns left out)."""
    addon_dir = Path(addon_dir)
    if not (addon_dir / "__init__.py").is_file():
        raise SystemExit(f"error: the add-on folder {addon_dir} has no __init__.py")
    patterns = ["__pycache__/", "*.pyc", *exclude]
    found = []
    for folder, dirs, files in os.walk(addon_dir):
        rel_dir = Path(folder).relative_to(addon_dir).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = sorted(d for d in dirs if not _excluded(rel_dir + d, True, patterns))
        for name in sorted(files):
            rel = rel_dir + name
            if not _excluded(rel, False, patterns):
                found.append((Path(folder) / name, rel))
    for _, rel in found:
        if rel == MANIFEST or rel.split("/")[0] == WHEELS_DIR:
            raise SystemExit(f"error: {addon_dir / rel} clashes with the extension's own {rel.split('/')[0]}")
    return found


# ----------------------------------------------------------------------------- wheels
def _pip(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise SystemExit(f"error: {what}: cannot run {sys.executable} -m pip: {exc}") from None
    if out.returncode != 0:
        lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
        message = f"error: {what} failed (pip exit code {out.returncode}): {' '.join(errors)}"
        if any("No matching distribution found" in line for line in errors):
            raise NoWheels(message)
        raise SystemExit(message)


class NoWheels(SystemExit):
    """pip found no wheel of a bundled package for a Python and platform (the index answered)."""


def _stage_project(root: Path, dest: Path) -> Path:
    """Copy what building the unrender wheel reads (pyproject, README, licences, the package folders) to ``dest``.

    Building from a copy keeps setuptools' ``build/`` and ``*.egg-info`` out of
    the repository and stale files in an old ``build/lib`` out of the wheel.
    """
    import shutil

    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    find = pyproject.get("tool", {}).get("setuptools", {}).get("packages", {}).get("find", {})
    folders = find.get("where", ["."]) if isinstance(find, dict) else ["."]
    if "." in folders:
        raise SystemExit(f"error: {root / 'pyproject.toml'}: expected the packages in a folder "
                         f"([tool.setuptools.packages.find] where = [...]), found the repository root")
    dest.mkdir(parents=True)
    for path in root.iterdir():
        if path.is_file() and (path.name in {"pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in"}
                               or path.name.upper().startswith(("README", "LICENSE", "LICENCE", "COPYING"))):
            shutil.copy2(path, dest / path.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for folder in folders:
        shutil.copytree(root / folder, dest / folder, ignore=ignore)
    return dest


def build_unrender_wheel(dest: Path, version: str, wheel_dir: Path | None = None, root: Path = ROOT) -> Path:
    """``pip wheel`` of this repository (no dependencies) into ``dest`` -> the wheel, checked to be ``version``."""
    source = _stage_project(root, Path(dest) / "source")
    args = ["wheel", str(source), "--no-deps", "--wheel-dir", str(dest), "--quiet"]
    if wheel_dir is not None:  # build requirements (setuptools, wheel) may come from the folder too
        args += ["--find-links", str(wheel_dir)]
    _pip(args, f"building the unrender wheel from {root}")
    built = sorted(Path(dest).glob("unrender-*.whl"))
    if len(built) != 1:
        raise SystemExit(f"error: expected one unrender wheel in {dest}, found {[p.name for p in built]}")
    found = built[0].name.split("-")[1]
    if found != version:
        raise SystemExit(f"error: the unrender wheel is version {found}, the manifest says {version}")
    return built[0]


def wheel_metadata(wheel: Path) -> tuple[str, str, list[str]]:
    """``(normalized name, version, Requires-Dist lines)`` read from a wheel's ``METADATA``."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise SystemExit(f"error: {wheel.name} is not a valid wheel: expected one *.dist-info/METADATA, "
                             f"found {len(names)}")
        meta = Parser().parsestr(zf.read(names[0]).decode("utf-8", errors="replace"))
    return normalize(meta["Name"]), str(meta["Version"]), meta.get_all("Requires-Dist") or []


def wheel_fits(platform: Platform, filename: str, python_version: str | None = None) -> bool:
    """Whether Blender would install this wheel on ``platform`` (its platform tag, as Blender reads it).

    With ``python_version`` (``"3.13"``), also whether its Python tag is for
    that Python (``cp313``, ``py3``, or a stable-ABI ``abi3`` wheel of an
    older one), as Blender 4.3+ checks.
    """
    python_tags, abi, tags = (t.lower() for t in filename[:-len(".whl")].split("-")[-3:])
    fits = any(tag == "any" or (tag.startswith(platform.wheel_os) and tag.endswith(tuple("_" + a for a in
               platform.wheel_arch))) for tag in tags.split("."))
    if python_version is None or not fits:
        return fits
    want = tuple(int(n) for n in python_version.split("."))
    for tag in python_tags.split("."):
        m = re.fullmatch(r"(?:cp|py)(\d)(\d*)", tag)
        if m is None:
            continue
        major, minor = int(m[1]), int(m[2]) if m[2] else None
        if major == want[0] and (minor is None or minor == want[1] or ("abi3" in abi and minor <= want[1])):
            return True
    return False


def _marker_environment(platform: Platform, python_version: str) -> dict[str, str]:
    _, default_environment = _packaging()
    env = dict(default_environment())
    env.update(sys_platform=platform.sys_platform, platform_system=platform.platform_system,
               os_name=platform.os_name, platform_machine=platform.machine, python_version=python_version,
               python_full_version=f"{python_version}.0", implementation_name="cpython",
               platform_python_implementation="CPython", platform_release="", platform_version="", extra="")
    return env


def dependency_wheels(requires: list[str], platform: Platform, python_version: str, dest: Path,
                      wheel_dir: Path | None = None) -> list[Path]:
    """Download the wheels for ``requires`` and everything they need on ``platform`` -> the wheels.

    Distributions Blender bundles, or that are installed separately (torch),
    are left out, with whatever only they need. Requirements whose environment
    marker does not hold on ``platform`` (e.g. tqdm's colorama outside Windows)
    are left out too.
    """
    Requirement, _ = _packaging()
    env = _marker_environment(platform, python_version)
    skip = BLENDER_BUNDLED | INSTALLED_SEPARATELY
    seen: dict[str, Path] = {}
    what = f"{platform.name} / Python {python_version}"
    pending = list(requires)
    while pending:
        wanted: dict[str, str] = {}
        for line in pending:
            req = Requirement(line)
            name = normalize(req.name)
            if name in skip or name in seen or (req.marker is not None and not req.marker.evaluate(env)):
                continue
            wanted[name] = f"{req.name}{req.specifier}"
        pending = []
        if not wanted:
            break
        folder = Path(tempfile.mkdtemp(prefix="download-", dir=dest))
        args = ["download", "--only-binary=:all:", "--no-deps", "--python-version", python_version,
                "--implementation", "cp", "--dest", str(folder), "--quiet"]
        for tag in platform.pip_tags:
            args += ["--platform", tag]
        if wheel_dir is not None:
            args += ["--no-index", "--find-links", str(wheel_dir)]
        source = f"the folder {wheel_dir}" if wheel_dir is not None else "the package index (needs network access)"
        _pip(args + sorted(wanted.values()), f"downloading {', '.join(sorted(wanted.values()))} for {what} "
                                             f"from {source}")
        for wheel in sorted(folder.glob("*.whl")):
            if not wheel_fits(platform, wheel.name, python_version):
                raise SystemExit(f"error: pip picked {wheel.name} for {what}, but Blender would not "
                                 f"install a wheel with those tags there")
            name, _, deps = wheel_metadata(wheel)
            seen[name] = wheel
            pending += deps
        for name in wanted:
            if name not in seen:
                raise SystemExit(f"error: pip did not download a wheel of {name} for {what}")
    return list(seen.values())


# ----------------------------------------------------------------------------- the zip
def zip_name(ext_id: str, version: str, python_version: str, platform: str) -> str:
    return f"{ext_id}-{version}-python{python_version}-{platform.replace('-', '_')}.zip"


def write_zip(out: Path, manifest_text: str, files: list[tuple[Path, str]], wheels: list[Path]) -> None:
    """Write the extension zip (via a temporary file, so a failed build leaves no half-written zip)."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            zf.writestr(MANIFEST, manifest_text)
            for path, rel in files:
                zf.write(path, rel)
            for wheel in wheels:  # already compressed
                zf.write(wheel, f"{WHEELS_DIR}/{wheel.name}", compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def build(output: Path, platforms: list[str] | None = None, wheel_dir: Path | None = None,
          python_versions: list[str] | None = None, root: Path = ROOT, skip_unavailable: bool = False) -> list[Path]:
    """Build one extension zip per Python version and platform into ``output`` -> the zips.

    ``skip_unavailable``: a Python and platform for which a bundled package
    has no wheel is left out with a line on stderr (else it fails the build).
    """
    platforms = list(dict.fromkeys(platforms or [current_platform()]))
    for name in platforms:
        if name not in PLATFORMS:
            raise ValueError(f"unknown platform {name!r}: expected one of {', '.join(PLATFORMS)}")
    python_versions = list(dict.fromkeys(python_versions or DEFAULT_PYTHON_VERSIONS))
    for v in python_versions:
        if v not in BLENDER_PYTHONS:
            raise ValueError(f"python version {v!r}: expected one of Blender's, {', '.join(BLENDER_PYTHONS)}")
    if wheel_dir is not None:
        wheel_dir = Path(wheel_dir).resolve()
        if not wheel_dir.is_dir():
            raise SystemExit(f"error: the wheel folder {wheel_dir} does not exist")

    text, manifest = read_manifest(root / MANIFEST)
    version = str(manifest["version"])
    py_version = project_version(root / "pyproject.toml")
    if version != py_version:
        raise SystemExit(f"error: {MANIFEST} says version {version} but pyproject.toml says {py_version}: "
                         f"make them equal")
    exclude = list(manifest.get("build", {}).get("paths_exclude_pattern", []))
    files = addon_files(root / ADDON_DIR, exclude)
    oldest = str(manifest["blender_version_min"])

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    built = []
    with tempfile.TemporaryDirectory(prefix="unrender-extension-") as tmp:
        tmp = Path(tmp)
        (tmp / "unrender").mkdir()
        own = build_unrender_wheel(tmp / "unrender", version, wheel_dir, root)
        _, _, requires = wheel_metadata(own)
        for pv in python_versions:
            blender_min = max(oldest, BLENDER_PYTHONS[pv], key=lambda v: tuple(int(n) for n in v.split(".")))
            for name in platforms:
                try:
                    wheels = dependency_wheels(requires, PLATFORMS[name], pv, tmp, wheel_dir)
                except NoWheels as exc:
                    if not skip_unavailable:
                        raise
                    print(f"skipped Python {pv} / {name}: {str(exc).removeprefix('error: ')}", file=sys.stderr)
                    continue
                ordered = [own, *sorted(wheels, key=lambda p: p.name.lower())]
                listed = [f"./{WHEELS_DIR}/{w.name}" for w in ordered]
                out = output / zip_name(str(manifest["id"]), version, pv, name)
                write_zip(out, manifest_with(text, listed, [name], blender_min), files, ordered)
                built.append(out)
    return built


def describe(path: Path) -> str:
    """What a built zip holds: its path and size, then each wheel with its size."""
    lines = [f"{path} ({path.stat().st_size / 1e6:.1f} MB)"]
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        others = [i for i in infos if not i.filename.startswith(WHEELS_DIR + "/")]
        lines.append(f"  {len(others)} add-on files ({sum(i.file_size for i in others) / 1e3:.0f} kB)")
        for i in infos:
            if i.filename.startswith(WHEELS_DIR + "/"):
                lines.append(f"  {i.filename} ({i.file_size / 1e6:.2f} MB)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", "-o", type=Path, default=ROOT / "dist", help="folder for the zips (default: dist)")
    parser.add_argument("--platform", action="append", dest="platforms", metavar="PLATFORM",
                        help=f"Blender platform to build for, repeatable: {', '.join(PLATFORMS)} "
                             "(default: this machine's)")
    parser.add_argument("--all", action="store_true",
                        help="build for every platform, leaving out those where a bundled package has no wheel")
    parser.add_argument("--wheel-dir", type=Path, help="take dependency wheels from this folder instead of the "
                                                        "package index (offline builds)")
    parser.add_argument("--python-version", action="append", dest="python_versions", metavar="X.Y",
                        help="Blender's Python version, repeatable: 3.11 for Blender 4.2-5.0, 3.13 for Blender "
                             "5.1 and later (default: both)")
    args = parser.parse_args(argv)
    try:
        platforms = list(PLATFORMS) if args.all else args.platforms
        zips = build(args.output, platforms, args.wheel_dir, args.python_versions, skip_unavailable=args.all)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    for path in zips:
        print(describe(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())

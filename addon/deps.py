"""Which Python packages the add-on needs, whether they import, and where they come from.

No torch or unrender import at module level: this module decides whether they
can be imported at all.

Packages come from three places, in this order on ``sys.path``:

1. Blender's own Python (it bundles numpy) and the extension's bundled wheels
   (``unrender`` itself, installed by Blender with the extension);
2. the extension's user directory (:func:`user_site_packages`), where
   :func:`install` puts what is missing (torch, ...);
3. an existing environment's site-packages that the user names in the
   preferences (:func:`add_site_packages`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import queue
import re
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Dependency:
    module: str  # import name
    distribution: str  # pip name
    required: bool = True


DEPENDENCIES = (
    Dependency("torch", "torch"),
    Dependency("numpy", "numpy"),
    Dependency("mcubes", "pymcubes"),
    Dependency("PIL", "pillow"),
    Dependency("imageio", "imageio"),
    Dependency("tqdm", "tqdm"),
    Dependency("unrender", "unrender"),
)

# unrender itself comes with the extension (its bundled wheel), never from PyPI.
BUNDLED = frozenset({"unrender"})

ONLINE_ACCESS_MESSAGE = "Online access is disabled: enable it in Preferences > System > Network"


@dataclass(frozen=True)
class DependencyStatus:
    dependency: Dependency
    ok: bool
    version: str  # "" when it does not import
    error: str  # why it does not import ("" when ok)
    found: bool = True  # False when the package is not installed at all (vs. installed but failing)


_cache: list[DependencyStatus] | None = None
_cuda: tuple[str | None, str] | None = None  # (GPU name or None, why there is none)


def _version(dep: Dependency, mod) -> str:
    v = getattr(mod, "__version__", None)
    if v:
        return str(v)
    try:
        return importlib.metadata.version(dep.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except Exception:  # a finder raising (broken install, or a test blocking the module)
        return False


def check(refresh: bool = False) -> list[DependencyStatus]:
    """Import every dependency once (cached until ``refresh``) -> one status each."""
    global _cache, _cuda
    if _cache is None or refresh:
        importlib.invalidate_caches()
        out = []
        for dep in DEPENDENCIES:
            try:
                mod = importlib.import_module(dep.module)
            except Exception as exc:  # ImportError, or an OSError from a broken binary
                out.append(DependencyStatus(dep, False, "", f"{type(exc).__name__}: {exc}", _found(dep.module)))
            else:
                out.append(DependencyStatus(dep, True, _version(dep, mod), ""))
        _cache = out
        _cuda = None
    return _cache


def status(module: str) -> DependencyStatus:
    return next(s for s in check() if s.dependency.module == module)


def missing() -> list[Dependency]:
    return [s.dependency for s in check() if not s.ok and s.dependency.required]


def packages_to_install() -> list[str]:
    """pip names of the missing dependencies that pip can install (not unrender: it comes with the extension)."""
    return [d.distribution for d in missing() if d.distribution not in BUNDLED]


def _bundled_problem() -> str | None:
    """Why unrender itself cannot load, when installing the other packages would not fix it."""
    s = status("unrender")
    if s.ok:
        return None
    if not s.found:
        return ("The unrender package is missing from the extension: reinstall the Unrender extension "
                "(or set 'Python site-packages' to an environment where unrender is installed)")
    if packages_to_install():
        return None  # unrender is there and fails on a missing dependency: installing that fixes it
    return f"The unrender package does not load ({s.error}): reinstall the Unrender extension"


def problem() -> str | None:
    """Why the operators cannot run (a sentence saying what to do), or ``None`` when everything imports."""
    if not missing():
        return None
    parts = []
    names = packages_to_install()
    if names:
        parts.append(f"Missing Python packages: {', '.join(names)}. Open Edit > Preferences > Add-ons > Unrender "
                     "and click 'Install dependencies', or set 'Python site-packages' to an environment that "
                     "has them")
    bundled = _bundled_problem()
    if bundled:
        parts.append(bundled)
    return ". ".join(parts)


def cuda() -> tuple[str | None, str]:
    """``(GPU name, "")`` when torch imports and sees a CUDA device, else ``(None, why not)`` (cached with :func:`check`)."""
    global _cuda
    if _cuda is None:
        if not status("torch").ok:
            _cuda = (None, "torch is not installed")
        else:
            try:
                import torch

                if torch.cuda.is_available():
                    _cuda = (torch.cuda.get_device_name(0), "")
                elif torch.version.cuda is None:
                    _cuda = (None, f"torch {torch.__version__} is a CPU-only build")
                else:
                    _cuda = (None, "no CUDA device found")
            except Exception as exc:  # a broken driver
                _cuda = (None, f"{type(exc).__name__}: {exc}")
    return _cuda


# ----------------------------------------------------------------------------- where packages live
def _package() -> str:
    """The add-on's package name (``bl_ext.<repo>.unrender`` as an extension, ``unrender_addon`` in the tests)."""
    return __package__ or __name__.rpartition(".")[0]


def user_site_packages(create: bool = False) -> Path:
    """The folder :func:`install` installs into: ``site-packages`` in the extension's user directory.

    Add-ons enabled as plain modules (not extensions) have no extension user
    directory; they get ``<scripts>/addons_data/<package>/site-packages``.
    """
    import bpy

    try:
        return Path(bpy.utils.extension_path_user(_package(), path="site-packages", create=create))
    except ValueError:  # "The package does not name an extension"
        path = Path(bpy.utils.user_resource("SCRIPTS", path=f"addons_data/{_package()}")) / "site-packages"
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path


_PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
_PY_DIR = re.compile(r"^python(\d+)\.(\d+)t?$", re.IGNORECASE)


def _venv_version(folder: Path) -> str | None:
    """``"3.12"`` from a ``pyvenv.cfg`` in ``folder``, else ``None``."""
    try:
        text = (folder / "pyvenv.cfg").read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"^\s*(?:version|version_info)\s*=\s*(\d+)\.(\d+)", text, re.MULTILINE)
    return f"{m[1]}.{m[2]}" if m else None


def _site_dirs(root: Path) -> list[Path]:
    """site-packages folders inside an environment's root (venv, conda, Windows layouts)."""
    found = [p for p in sorted(root.glob("lib/python*/site-packages")) if p.is_dir()]
    found += [p for p in (root / "Lib" / "site-packages", root / "lib" / "site-packages") if p.is_dir()]
    return found


def validate_site_packages(path) -> Path:
    """``path`` as an absolute folder that Blender's Python can use, or ``ValueError`` saying what to pick instead."""
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    p = Path(os.path.expanduser(str(path))).resolve()
    if not p.exists():
        raise ValueError(f"'{p}' does not exist")
    if not p.is_dir():
        raise ValueError(f"'{p}' is not a folder: pick the environment's site-packages folder")
    # .../lib/python3.12/site-packages of another Python: torch's binaries would not load.
    for part in p.parts:
        m = _PY_DIR.match(part)
        if m and f"{m[1]}.{m[2]}" != ours:
            raise ValueError(f"'{p}' belongs to Python {m[1]}.{m[2]}, but Blender runs Python {ours}: "
                             f"its compiled packages (torch) will not load. Use an environment made with "
                             f"Python {ours} (its lib/{_PY}/site-packages)")
    for folder in (p, *list(p.parents)[:3]):
        v = _venv_version(folder)
        if v is not None and v != ours:
            raise ValueError(f"'{p}' is in a Python {v} environment ({folder / 'pyvenv.cfg'}), but Blender runs "
                             f"Python {ours}: its compiled packages (torch) will not load. Use an environment made "
                             f"with Python {ours}")
    inner = _site_dirs(p)
    if inner and p.name != "site-packages":  # the environment's root, not its site-packages
        good = [d for d in inner if not _PY_DIR.match(d.parent.name) or d.parent.name.lower() == _PY]
        if good:
            raise ValueError(f"'{p}' is a Python environment's root, not its site-packages: "
                             f"use {good[0]} (lib/{_PY}/site-packages)")
        other = inner[0].parent.name
        raise ValueError(f"'{p}' is a Python environment for {other}, but Blender runs Python {ours}: its "
                         f"compiled packages (torch) will not load. Use an environment made with Python {ours} "
                         f"(its lib/{_PY}/site-packages)")
    return p


_added: list[str] = []  # the sys.path entries this module added (removed by unregister)
site_packages_error: str | None = None  # why the preferences' site-packages could not be used


def add_site_packages(path) -> Path:
    """Make the packages in ``path`` importable (``ValueError`` when the folder cannot be used) -> the folder.

    The folder is *appended* to ``sys.path``: Blender's bundled modules (numpy
    above all, which Blender itself and other add-ons already use) keep
    priority, and an environment cannot shadow Blender's own Python. numpy is
    in any case imported by Blender before us, so a second copy in the folder
    would not load either way; torch wheels work with numpy 1.x and 2.x, which
    is why we accept the mismatch rather than prepend and risk breaking
    Blender.
    """
    p = validate_site_packages(path)
    entry = str(p)
    if entry not in sys.path:
        sys.path.append(entry)
        _added.append(entry)
    importlib.invalidate_caches()
    check(refresh=True)
    return p


def remove_site_packages(path) -> None:
    """Undo :func:`add_site_packages` (modules already imported from it stay loaded until Blender restarts)."""
    entry = str(Path(os.path.expanduser(str(path))).resolve())
    for lst in (sys.path, _added):
        while entry in lst:
            lst.remove(entry)
    importlib.invalidate_caches()
    check(refresh=True)


_prefs_path: str | None = None  # the preferences' site-packages currently on sys.path


def apply_saved_paths(prefs) -> str | None:
    """Add the install folder (if it exists) and the preferences' ``site_packages`` to ``sys.path``.

    Never raises for a bad saved path: the error is kept in
    :data:`site_packages_error` (and returned) for the preferences to show.
    """
    global site_packages_error, _prefs_path
    site_packages_error = None
    try:
        target = user_site_packages()
        if target.is_dir() and str(target.resolve()) not in sys.path:
            add_site_packages(target)
    except Exception as exc:  # an unreadable user folder must not stop the add-on from enabling
        site_packages_error = f"Install folder: {exc}"
    if _prefs_path is not None:
        remove_site_packages(_prefs_path)
        _prefs_path = None
    wanted = (getattr(prefs, "site_packages", "") or "").strip() if prefs is not None else ""
    if wanted:
        try:
            _prefs_path = str(add_site_packages(wanted))
        except (ValueError, OSError) as exc:
            site_packages_error = str(exc)
    check(refresh=True)
    return site_packages_error


def unregister() -> None:
    """Take the folders this module put on ``sys.path`` off again and forget the cached checks."""
    global _cache, _cuda, _prefs_path, site_packages_error
    for entry in _added:
        while entry in sys.path:
            sys.path.remove(entry)
    _added.clear()
    _prefs_path = None
    site_packages_error = None
    _cache = _cuda = None
    importlib.invalidate_caches()


# ----------------------------------------------------------------------------- installing
class InstallCancelled(RuntimeError):
    """:func:`install` was cancelled (pip was stopped; nothing was moved into the target)."""


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                          **_popen_flags())


def _popen_flags() -> dict:
    if os.name == "nt":  # no console window flashing up from Blender
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {}


def ensure_pip(progress: Callable[[str, float], None] | None = None) -> None:
    """Make ``python -m pip`` work in this Python (Blender's bundled Python may come without pip)."""
    exe = sys.executable
    if _run([exe, "-m", "pip", "--version"]).returncode == 0:
        return
    if progress:
        progress("pip is missing: installing it with ensurepip", 0.0)
    out = _run([exe, "-m", "ensurepip", "--upgrade"])
    if out.returncode != 0:  # Blender's folder is read-only: install pip for this user instead
        out = _run([exe, "-m", "ensurepip", "--upgrade", "--user"])
    if out.returncode != 0 or _run([exe, "-m", "pip", "--version"]).returncode != 0:
        tail = "\n".join(out.stdout.strip().splitlines()[-10:])
        raise RuntimeError(f"pip is not available in {exe} and ensurepip failed:\n{tail}")


class _Progress:
    """Turns pip's output into a rough fraction: resolving (to 0.3), downloading (to 0.8), installing (to 1)."""

    def __init__(self, callback, n_packages: int):
        self.callback, self.n = callback, max(n_packages, 1)
        self.collected = self.downloaded = 0
        self.fraction = 0.0

    def line(self, text: str) -> None:
        s = text.strip()
        if s.startswith("Collecting") or s.startswith("Processing"):
            self.collected += 1
            f = 0.3 * (1 - 1 / (1 + self.collected / self.n))
        elif s.startswith("Downloading") or s.startswith("Using cached"):
            self.downloaded += 1
            f = 0.3 + 0.5 * min(self.downloaded / max(self.collected, 1), 1.0)
        elif s.startswith("Installing collected packages"):
            f = 0.85
        elif s.startswith("Successfully installed"):
            f = 1.0
        else:
            f = self.fraction
        self.fraction = max(self.fraction, f)
        if self.callback and s:
            self.callback(s, self.fraction)


def install(packages: list[str], target: Path, progress: Callable[[str, float], None] | None = None,
            extra_args=(), cancel: threading.Event | None = None) -> None:
    """``pip install --target target --upgrade packages`` in a subprocess of this Python.

    ``progress(line, fraction)`` gets every output line of pip and a rough
    completed fraction. Setting ``cancel`` stops pip (``InstallCancelled``);
    pip failing raises ``RuntimeError`` with the end of its output.
    """
    packages = list(packages)
    if not packages:
        return
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    ensure_pip(progress)
    cmd = [sys.executable, "-m", "pip", "install", "--target", str(target), "--upgrade", "--no-input",
           "--disable-pip-version-check", "--progress-bar", "off", *map(str, extra_args), *packages]
    env = dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1")
    tracker = _Progress(progress, len(packages))
    tracker.line(f"Running pip install {' '.join(packages)}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, errors="replace", bufsize=1, env=env, **_popen_flags())
    lines: queue.Queue[str | None] = queue.Queue()

    def read():  # a reader thread, so that cancel is seen even while pip prints nothing (a long download)
        for text in proc.stdout:
            lines.put(text.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True, name="unrender-pip-output")
    reader.start()
    tail: deque[str] = deque(maxlen=40)
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise InstallCancelled("Installation cancelled")
            try:
                text = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if text is None:
                break
            if text.strip():
                tail.append(text)
                tracker.line(text)
        code = proc.wait()
    finally:
        if proc.poll() is None:  # cancelled (or an error in a callback): stop pip
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()
    if code != 0:
        errors = [t for t in tail if t.lstrip().startswith("ERROR")]
        shown = list(tail)[-12:]
        shown += [e for e in errors if e not in shown]
        raise RuntimeError(f"pip install {' '.join(packages)} failed (exit code {code}):\n" + "\n".join(shown))


def install_plan(packages: list[str], index_url: str = "") -> list[tuple[list[str], tuple[str, ...]]]:
    """The pip runs installing ``packages``: ``[(packages, extra pip arguments)]``.

    A custom ``index_url`` (e.g. PyTorch's CPU-only index) is used for torch
    alone: such indexes carry torch and its dependencies, not pymcubes or
    imageio, which come from PyPI in a second run.
    """
    index_url = (index_url or "").strip()
    if not index_url or "torch" not in packages:
        return [(list(packages), ())] if packages else []
    rest = [p for p in packages if p != "torch"]
    plan = [(["torch"], ("--index-url", index_url))]
    if rest:
        plan.append((rest, ()))
    return plan


def install_missing(target: Path | None = None, index_url: str = "",
                    progress: Callable[[str, float], None] | None = None,
                    cancel: threading.Event | None = None) -> list[str]:
    """Install every missing installable dependency into ``target`` (default :func:`user_site_packages`).

    Runs in any thread (no bpy call when ``target`` is given) -> the pip names installed.
    """
    packages = packages_to_install()
    if not packages:
        return []
    target = Path(target) if target is not None else user_site_packages(create=True)
    plan = install_plan(packages, index_url)
    for i, (names, extra) in enumerate(plan):
        def step(line, fraction, i=i):
            if progress:
                progress(line, (i + fraction) / len(plan))

        install(names, target, step, extra, cancel)
    return packages

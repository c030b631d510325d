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
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from contextlib import contextmanager
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


def online_access() -> bool:
    """Whether Blender allows add-ons to go online (``bpy.app.online_access``; True outside Blender)."""
    try:
        import bpy
    except ImportError:
        return True
    return bool(getattr(bpy.app, "online_access", True))


def bundled_problem() -> str | None:
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
    failing = {s.dependency.distribution: s.error for s in check() if not s.ok and s.found}
    names = packages_to_install()
    absent = [n for n in names if n not in failing]
    broken = [f"{n} ({failing[n]})" for n in names if n in failing]
    if names:
        what = []
        if absent:
            what.append(f"Missing Python packages: {', '.join(absent)}")
        if broken:
            what.append(f"Python packages that do not load: {'; '.join(broken)}")
        # Short: a poll message reaches scripts cut at 200 characters (bpy.ops' RuntimeError).
        where = "Edit > Preferences > Add-ons > Unrender"
        if online_access():
            todo = f"Install them in {where}, or set 'Python site-packages' there to an environment that has them"
        else:
            todo = (f"Set 'Python site-packages' in {where}, or allow online access (Preferences > System > "
                    f"Network) to install them there")
        parts.append(f"{'. '.join(what)}. {todo}")
    bundled = bundled_problem()
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
    """site-packages folders in an environment's root, its ``lib`` or ``lib/pythonX.Y`` (venv, conda, Windows)."""
    found = [p for p in sorted(root.glob("lib/python*/site-packages")) if p.is_dir()]
    found += [p for p in sorted(root.glob("python*/site-packages")) if p.is_dir()]
    found += [p for p in (root / "Lib" / "site-packages", root / "lib" / "site-packages", root / "site-packages")
              if p.is_dir()]
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
            raise ValueError(f"'{p}' is not a site-packages folder but contains one: use {good[0]}")
        other = inner[0].parent.name
        raise ValueError(f"'{p}' is a Python environment for {other}, but Blender runs Python {ours}: its "
                         f"compiled packages (torch) will not load. Use an environment made with Python {ours} "
                         f"(its lib/{_PY}/site-packages)")
    return p


_added: list[str] = []  # the sys.path entries this module added (removed by unregister)
site_packages_error: str | None = None  # why the preferences' site-packages could not be used


def add_site_packages(path, refresh: bool = True) -> Path:
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
    if refresh:
        check(refresh=True)
    return p


def remove_site_packages(path, refresh: bool = True) -> None:
    """Undo :func:`add_site_packages` (modules already imported from it stay loaded until Blender restarts).

    Only an entry this module appended is removed: a folder that was on
    ``sys.path`` already (Blender's own, another add-on's) stays.
    """
    entry = str(Path(os.path.expanduser(str(path))).resolve())
    if entry in _added:
        _added.remove(entry)
        while entry in sys.path:
            sys.path.remove(entry)
    importlib.invalidate_caches()
    if refresh:
        check(refresh=True)


_prefs_path: str | None = None  # the preferences' site-packages currently on sys.path


def apply_saved_paths(prefs) -> str | None:
    """Add the install folder (if it exists) and the preferences' ``site_packages`` to ``sys.path``.

    The previous ``site_packages`` comes off ``sys.path`` when it changed.
    Never raises for a bad saved path: the error is kept in
    :data:`site_packages_error` (and returned) for the preferences to show.
    """
    global site_packages_error, _prefs_path
    site_packages_error = None
    target = None
    try:
        target = user_site_packages()
        if target.is_dir():
            target = add_site_packages(target, refresh=False)
    except Exception as exc:  # an unreadable user folder must not stop the add-on from enabling
        site_packages_error = f"Install folder: {exc}"
    wanted = (getattr(prefs, "site_packages", "") or "").strip() if prefs is not None else ""
    new = None
    if wanted:
        try:
            new = str(add_site_packages(wanted, refresh=False))
        except (ValueError, OSError) as exc:
            site_packages_error = f"Python site-packages: {exc}"
    if _prefs_path is not None and _prefs_path != new and _prefs_path != str(target):
        remove_site_packages(_prefs_path, refresh=False)
    _prefs_path = new
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
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, errors="replace", env=_pip_env(), **_popen_flags())


def _popen_flags() -> dict:
    if os.name == "nt":  # no console window flashing up from Blender; its own group so it can be stopped
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)
                | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return {"start_new_session": True}  # its own process group: cancel stops pip and what it started


def _pip_env() -> dict:
    # A user's pip configuration must not turn --target into --user or refuse Blender's Python.
    return dict(os.environ, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_USER="0", PIP_REQUIRE_VIRTUALENV="0")


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


PROGRESS_BARS = ("raw", "off")  # pip's --progress-bar, in order of preference: raw needs pip 24.1+
_RAW = re.compile(r"^Progress (\d+) of (\d+)$")  # pip's --progress-bar raw (pip >= 24.1)


class PipProgress:
    """Turns pip's output into a rough fraction: resolving (to 0.3), downloading (to 0.8), installing (to 1).

    With ``--progress-bar raw`` pip prints ``Progress <bytes> of <total>``
    while it downloads: those lines move the fraction within the download and
    reach the callback as ``Downloading <file>: 42 %``.
    """

    def __init__(self, callback, n_packages: int):
        self.callback, self.n = callback, max(n_packages, 1)
        self.collected = self.downloaded = 0
        self.fraction = 0.0
        self.file = ""  # what pip downloads now

    def line(self, text: str) -> bool:
        """Take one output line -> whether it is a message (not a raw progress tick)."""
        s = text.strip()
        shown, message = s, True
        m = _RAW.match(s)
        if m:
            message = False
            done, total = int(m[1]), int(m[2])
            part = min(done / total, 1.0) if total > 0 else 0.0
            f = 0.3 + 0.5 * min((max(self.downloaded - 1, 0) + part) / max(self.collected, 1), 1.0)
            shown = (f"Downloading {self.file}: {100 * part:.0f} %" if total > 0
                     else f"Downloading {self.file}: {done / 1e6:.1f} MB")
        elif s.startswith("Collecting") or s.startswith("Processing"):
            self.collected += 1
            f = 0.3 * (1 - 1 / (1 + self.collected / self.n))
        elif s.startswith("Downloading") or s.startswith("Using cached"):
            self.downloaded += 1
            self.file = s.split(" ", 1)[1] if " " in s else s
            f = 0.3 + 0.5 * min((self.downloaded - 1) / max(self.collected, 1), 1.0)
        elif s.startswith("Installing collected packages"):
            f = 0.85
        elif s.startswith("Successfully installed"):
            f = 0.95
        else:
            f = self.fraction
        self.fraction = max(self.fraction, f)
        if self.callback and s:
            self.callback(shown, self.fraction)
        return message

    def finish(self, text: str) -> None:
        self.fraction = 1.0
        if self.callback:
            self.callback(text, 1.0)


def _stop(proc: subprocess.Popen) -> None:
    """Stop pip and every process it started (a build backend, a compiler)."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "nt":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
        else:
            os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            if os.name == "nt":
                proc.kill()
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()


def _pip(packages: list[str], target: Path, tracker: PipProgress, extra_args, cancel) -> None:
    """One ``pip install --target`` run (raises ``InstallCancelled`` or ``RuntimeError``)."""
    bars = list(PROGRESS_BARS)
    while True:
        bar = bars.pop(0)
        cmd = [sys.executable, "-m", "pip", "install", "--target", str(target), "--upgrade", "--no-input",
               "--disable-pip-version-check", "--progress-bar", bar, *map(str, extra_args), *packages]
        code, tail = _pip_run(cmd, tracker, cancel)
        if code == 2 and bars and any(f"invalid choice: '{bar}'" in t for t in tail):
            continue  # an older pip without --progress-bar raw
        break
    if code != 0:
        errors = [t for t in tail if t.lstrip().startswith("ERROR")]
        shown = list(tail)[-12:]
        shown += [e for e in errors if e not in shown]
        raise RuntimeError(f"pip install {' '.join(packages)} failed (exit code {code}):\n" + "\n".join(shown))


def _pip_run(cmd: list[str], tracker: PipProgress, cancel) -> tuple[int, list[str]]:
    if cancel is not None and cancel.is_set():
        raise InstallCancelled("Installation cancelled: pip was stopped and nothing was installed")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            text=True, errors="replace", bufsize=1, env=_pip_env(), **_popen_flags())
    lines: queue.Queue[str | None] = queue.Queue()

    def read():  # a reader thread, so that cancel is seen even while pip prints nothing (a long download)
        try:
            for text in proc.stdout:
                lines.put(text.rstrip("\n"))
        except (OSError, ValueError):  # the pipe closed under us
            pass
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True, name="unrender-pip-output")
    reader.start()
    tail: deque[str] = deque(maxlen=40)
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise InstallCancelled("Installation cancelled: pip was stopped and nothing was installed")
            try:
                text = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if text is None:
                break
            if text.strip() and tracker.line(text):
                tail.append(text)
        code = proc.wait()
    finally:
        _stop(proc)  # cancelled (or an error in a callback): stop pip
        reader.join(timeout=5)
        if not reader.is_alive():
            proc.stdout.close()
    return code, list(tail)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _move_in(staging: Path, target: Path) -> list[str]:
    """Move everything in ``staging`` into ``target``, replacing what is there -> the names moved.

    The replaced items are first moved aside, so a failure half-way (a file
    in use on Windows) puts everything back as it was.
    """
    names = sorted(p.name for p in staging.iterdir())
    target.mkdir(exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=".replaced-", dir=target.parent))
    old, new = [], []
    try:
        for name in names:
            if (target / name).exists() or (target / name).is_symlink():
                os.replace(target / name, aside / name)
                old.append(name)
        for name in names:
            os.replace(staging / name, target / name)
            new.append(name)
    except OSError as exc:
        for name in reversed(new):
            os.replace(target / name, staging / name)
        for name in reversed(old):
            os.replace(aside / name, target / name)
        raise RuntimeError(f"could not move the installed packages into {target}: {exc} "
                           f"(restart Blender and install again)") from exc
    finally:
        shutil.rmtree(aside, ignore_errors=True)
    return names


@contextmanager
def _staged(target: Path):
    """A fresh folder next to ``target`` to install into; moved into ``target`` only when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)  # target itself only appears with what was installed
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-installing-", dir=target.parent))
    try:
        yield staging
        _move_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install(packages: list[str], target: Path, progress: Callable[[str, float], None] | None = None,
            extra_args=(), cancel: threading.Event | None = None) -> None:
    """``pip install --target target --upgrade packages`` in a subprocess of this Python.

    ``progress(line, fraction)`` gets every output line of pip and a rough
    completed fraction, ending with 1.0. pip installs into a staging folder
    next to ``target`` whose contents move into ``target`` only when pip
    succeeded. Setting ``cancel`` stops pip (``InstallCancelled``); pip
    failing raises ``RuntimeError`` with the end of its output. Either way
    ``target`` is left as it was.
    """
    _install_plan([(list(packages), tuple(extra_args))], Path(target), progress, cancel)


def _install_plan(plan, target: Path, progress, cancel) -> None:
    plan = [(names, extra) for names, extra in plan if names]
    if not plan:
        return
    ensure_pip(progress)
    with _staged(target) as staging:
        for i, (names, extra) in enumerate(plan):
            def step(line, fraction, i=i):
                if progress:
                    progress(line, min((i + fraction) / len(plan), 0.99))

            tracker = PipProgress(step, len(names))
            tracker.line(f"Running pip install {' '.join(names)}")
            _pip(names, staging, tracker, extra, cancel)
        if cancel is not None and cancel.is_set():
            raise InstallCancelled("Installation cancelled: pip was stopped and nothing was installed")
    everything = [n for names, _ in plan for n in names]
    if progress:
        progress(f"Installed {', '.join(everything)} into {target}", 1.0)


# ----------------------------------------------------------------------------- which torch
TORCH_MIN = (2, 4)  # unrender's own floor: pyproject.toml's "torch>=2.4"

# The first torch release with wheels on PyPI for each Python version (of Blender: 3.11 in Blender
# 4.2-5.0, 3.13 in Blender 5.1+) and Blender platform. Missing platforms have none that unrender can
# use: PyPI's torch for Intel Macs stopped at 2.2.2 (Python 3.12 at most), and PyPI has no torch
# for Windows on ARM.
TORCH_FIRST_WHEELS = {
    (3, 11): {"linux-x64": (2, 0), "linux-arm64": (2, 0), "macos-arm64": (2, 0), "windows-x64": (2, 0)},
    (3, 12): {"linux-x64": (2, 2), "linux-arm64": (2, 2), "macos-arm64": (2, 2), "windows-x64": (2, 2)},
    (3, 13): {"linux-x64": (2, 5), "linux-arm64": (2, 6), "macos-arm64": (2, 6), "windows-x64": (2, 6)},
    (3, 14): {"linux-x64": (2, 9), "linux-arm64": (2, 9), "macos-arm64": (2, 9), "windows-x64": (2, 9)},
}
BLENDER_PLATFORMS = ("linux-x64", "linux-arm64", "macos-arm64", "macos-x64", "windows-x64", "windows-arm64")


def blender_platform(sysconfig_platform: str | None = None, machine: str | None = None) -> str | None:
    """Blender's name for a platform (``"linux-x64"``, ``"macos-arm64"``, ...) or ``None`` where Blender has none.

    ``sysconfig_platform`` is ``sysconfig.get_platform()`` (``linux-x86_64``,
    ``win-amd64``, ``macosx-11.0-arm64``); ``machine`` (``platform.machine()``)
    settles ``universal2`` builds. Both default to this Python's.
    """
    import platform
    import sysconfig

    plat = (sysconfig_platform or sysconfig.get_platform()).lower()
    arch = plat.rsplit("-", 1)[-1]
    if arch == "universal2":
        arch = (machine or platform.machine()).lower()
    system = {"linux": "linux", "win": "windows", "macosx": "macos"}.get(plat.split("-", 1)[0])
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(arch)
    return f"{system}-{arch}" if system and arch else None


def torch_requirement(python: tuple[int, int] | None = None, platform: str | None = None,
                      index_url: str = "") -> str:
    """The pip requirement for torch in a Blender whose Python is ``python`` on ``platform``, e.g. ``"torch>=2.6"``.

    The floor is the first release with wheels for that Python and platform
    (and at least unrender's :data:`TORCH_MIN`), so pip never falls back to
    an older release without them; pip then takes the newest release whose
    wheels fit (the macOS version included). ``ValueError`` saying what to do
    instead where PyPI has no such torch, unless a custom ``index_url`` may
    have one. ``python`` and ``platform`` default to this Python's.
    """
    python = tuple(python or sys.version_info[:2])
    platform = platform or blender_platform()
    known = TORCH_FIRST_WHEELS.get(python)
    first = known.get(platform) if known is not None else None
    if known is not None and first is None and not (index_url or "").strip():
        where = {"macos-x64": "Intel Macs", "windows-arm64": "Windows on ARM"}.get(platform, platform or "this system")
        # Short: a poll message reaches scripts cut at 200 characters (bpy.ops' RuntimeError).
        raise ValueError(f"No torch {TORCH_MIN[0]}.{TORCH_MIN[1]}+ on PyPI for Python {python[0]}.{python[1]} on "
                         f"{where}: set 'Torch index URL' or 'Python site-packages' (an environment with torch)")
    floor = max(TORCH_MIN, first or TORCH_MIN)
    return f"torch>={floor[0]}.{floor[1]}"


def install_plan(packages: list[str], index_url: str = "", python: tuple[int, int] | None = None,
                 platform: str | None = None) -> list[tuple[list[str], tuple[str, ...]]]:
    """The pip runs installing ``packages``: ``[(requirements, extra pip arguments)]``.

    torch becomes :func:`torch_requirement` for ``python`` on ``platform``
    (default: this Python's; ``ValueError`` where there is none), installed
    from wheels only (building torch from source takes hours). A custom
    ``index_url`` (e.g. PyTorch's CPU-only index) is used for torch alone:
    such indexes carry torch and its dependencies, not imageio or tqdm, which
    come from PyPI in a second run.
    """
    packages = list(packages)
    if "torch" not in packages:
        return [(packages, ())] if packages else []
    index_url = (index_url or "").strip()
    torch = torch_requirement(python, platform, index_url)
    binary = ("--only-binary", "torch")
    if not index_url:
        return [([torch if p == "torch" else p for p in packages], binary)]
    rest = [p for p in packages if p != "torch"]
    return [([torch], ("--index-url", index_url, *binary))] + ([(rest, ())] if rest else [])


def install_missing(target: Path | None = None, index_url: str = "",
                    progress: Callable[[str, float], None] | None = None,
                    cancel: threading.Event | None = None, packages: list[str] | None = None,
                    extra_args=()) -> list[str]:
    """Install the missing installable dependencies (or ``packages``) into ``target`` -> the pip names installed.

    ``target`` defaults to :func:`user_site_packages`. Runs in any thread (no
    bpy call when ``target`` and ``packages`` are given). All pip runs of
    :func:`install_plan` go into one staging folder, moved into ``target``
    only when every run succeeded; ``extra_args`` go to each run.
    """
    packages = packages_to_install() if packages is None else list(packages)
    if not packages:
        return []
    target = Path(target) if target is not None else user_site_packages(create=True)
    plan = [(names, (*extra, *map(str, extra_args))) for names, extra in install_plan(packages, index_url)]
    _install_plan(plan, target, progress, cancel)
    return packages

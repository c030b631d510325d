"""The add-on's preferences and dependency handling, headless: what they show, the pip installer, site-packages.

pip runs for real, offline: a tiny wheel built here (``plugin_fixture``) is
installed with ``--no-index --find-links``. Missing torch is simulated by
replacing the cached dependency check, so every test leaves the add-on as it
found it.
"""

from __future__ import annotations

import dataclasses
import importlib
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module (Blender as a Python module)")

import blender_addon  # noqa: E402
from plugin_fixture import NAME as WHEEL_MODULE, build_plugin_wheel  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.addon]

PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
WHEEL = "unrender-sphere-plugin"


def _mod(name):
    return importlib.import_module(f"{blender_addon.ADDON_MODULE}.{name}")


@pytest.fixture
def deps(addon):
    return _mod("deps")


@pytest.fixture
def prefs(addon):
    """The add-on's preferences; ``site_packages`` is cleared again afterwards (which re-applies the paths)."""
    p = _mod("registration").addon_preferences()
    assert p is not None, "the add-on has no preferences"
    saved_path = list(sys.path)
    yield p
    p = _mod("registration").addon_preferences()  # afresh: a test may have re-registered the add-on (the old struct is freed)
    if p.site_packages:
        p.site_packages = ""
    assert sys.path == saved_path


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheels")
    build_plugin_wheel(folder)
    return folder


def _offline(wheels):
    return ("--no-index", "--find-links", str(wheels))


class Layout:
    """Records what a ``draw`` puts in a ``UILayout``: labels, operators and properties, in order."""

    def __init__(self, items=None):
        self.items = [] if items is None else items

    def _child(self, *args, **kwargs):
        return Layout(self.items)

    box = row = column = split = grid_flow = _child

    def label(self, text="", icon="NONE", **kwargs):
        self.items.append(("label", text, icon))

    def operator(self, idname, text="", icon="NONE", **kwargs):
        props = SimpleNamespace()
        self.items.append(("operator", idname, text, props))
        return props

    def prop(self, data, name, **kwargs):
        self.items.append(("prop", name))

    def progress(self, text="", factor=0.0, **kwargs):
        self.items.append(("progress", text, factor))

    def separator(self, **kwargs):
        pass

    def text(self) -> str:
        return " ".join(i[1] for i in self.items if i[0] == "label")

    def operators(self) -> dict:
        return {i[1]: i for i in self.items if i[0] == "operator"}


def _draw_preferences():
    prefs_cls = _mod("preferences").UNRENDER_AP_preferences
    layout = Layout()
    prefs_cls.draw(SimpleNamespace(layout=layout), bpy.context)
    return layout


def _draw_panel():
    layout = Layout()
    _mod("panel").UNRENDER_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
    return layout


@pytest.fixture
def no_torch(deps, monkeypatch):
    """The dependency check as it reads where torch is not installed (and unrender fails on importing it)."""
    err = "ModuleNotFoundError: No module named 'torch'"
    fake = []
    for s in deps.check():
        if s.dependency.module == "torch":
            s = dataclasses.replace(s, ok=False, version="", error=err, found=False)
        elif s.dependency.module == "unrender":
            s = dataclasses.replace(s, ok=False, version="", error=err, found=True)
        fake.append(s)
    monkeypatch.setattr(deps, "_cache", fake)
    monkeypatch.setattr(deps, "_cuda", None)
    yield fake
    monkeypatch.undo()
    assert deps.problem() is None


# ----------------------------------------------------------------------------- what the preferences show
def test_preferences_show_the_device_and_every_dependency_with_its_version(deps, prefs):
    assert prefs.device == "cpu"
    assert _mod("registration").device() == "cpu"
    statuses = deps.check()
    assert [s.dependency.distribution for s in statuses] == [
        "torch", "numpy", "pillow", "imageio", "tqdm", "unrender"]
    for s in statuses:
        assert s.ok and s.version and s.version != "unknown", s
    import torch

    assert deps.status("torch").version == torch.__version__
    text = _draw_preferences().text()
    for s in statuses:
        assert s.dependency.distribution in text and s.version in text
    gpu, why = deps.cuda()
    if gpu is None:  # the CPU machines the suite runs on: the preferences say why there is no CUDA
        assert why and f"CUDA unavailable: {why}" in text
        items = _mod("preferences")._device_items(prefs, bpy.context)
        assert [i[0] for i in items] == ["cpu"]


def test_install_is_refused_when_nothing_is_missing(deps):
    assert not bpy.ops.unrender.install_dependencies.poll()
    with pytest.raises(RuntimeError, match="Nothing to install: every dependency imports"):
        bpy.ops.unrender.install_dependencies()


def test_install_is_refused_without_online_access_and_changes_nothing(deps, no_torch):
    install = _mod("install")
    assert bpy.app.online_access is False  # background mode
    assert deps.packages_to_install() == ["torch"]
    target = deps.user_site_packages()
    existed, path_before = target.exists(), list(sys.path)
    assert not bpy.ops.unrender.install_dependencies.poll()
    with pytest.raises(RuntimeError, match="Online access is disabled: enable it in Preferences > System > Network"):
        bpy.ops.unrender.install_dependencies()
    assert target.exists() == existed and sys.path == path_before
    assert install.install_job() is None and install.last_result is None
    text = _draw_preferences().text()
    assert "torch not installed" in text and deps.ONLINE_ACCESS_MESSAGE in text
    assert "CUDA unavailable: torch is not installed" in text


# ----------------------------------------------------------------------------- the pip installer
def test_install_from_a_local_wheel_reports_progress_up_to_one(deps, wheels, tmp_path):
    target = tmp_path / "site-packages"
    seen = []
    deps.install([WHEEL], target, lambda line, f: seen.append((line, f)), _offline(wheels))
    assert (target / f"{WHEEL_MODULE}.py").is_file()
    assert (target / f"{WHEEL_MODULE}-0.1.dist-info" / "METADATA").is_file()
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions.count(1.0) == 1
    lines = [line for line, _ in seen]
    assert any(line.startswith("Successfully installed unrender-sphere-plugin") for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site-packages"]  # no staging folder left


def test_install_missing_installs_what_is_missing_into_the_target(deps, wheels, tmp_path, monkeypatch):
    monkeypatch.setattr(deps, "packages_to_install", lambda: [WHEEL])
    target = tmp_path / "site-packages"
    target.mkdir()
    old = target / f"{WHEEL_MODULE}-0.1.dist-info"  # an older copy: replaced
    old.mkdir()
    (old / "STALE").write_text("")
    (target / "keep.txt").write_text("untouched")
    seen = []
    assert deps.install_missing(target, progress=lambda line, f: seen.append(f), extra_args=_offline(wheels)) == [WHEEL]
    assert (target / f"{WHEEL_MODULE}.py").is_file() and (old / "METADATA").is_file() and not (old / "STALE").exists()
    assert (target / "keep.txt").read_text() == "untouched"
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site-packages"]


def test_pips_raw_download_progress_moves_the_fraction(deps):
    seen = []
    tracker = deps.PipProgress(lambda line, f: seen.append((line, f)), 1)
    out = ["Collecting torch", "  Downloading torch-2.5.1-cp311-none-linux_x86_64.whl (200.0 MB)",
           "Progress 0 of 200000000", "Progress 100000000 of 200000000", "Progress 200000000 of 200000000",
           "Collecting filelock (from torch)", "  Downloading filelock-3.16.1-py3-none-any.whl (16 kB)",
           "Installing collected packages: filelock, torch", "Successfully installed filelock-3.16.1 torch-2.5.1"]
    messages = [tracker.line(line) for line in out]
    assert messages == [True, True, False, False, False, True, True, True, True]  # ticks stay out of error tails
    assert seen[3] == ("Downloading torch-2.5.1-cp311-none-linux_x86_64.whl (200.0 MB): 50 %", pytest.approx(0.55))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[4] == pytest.approx(0.8) and fractions[-1] < 1.0


def test_an_older_pip_without_raw_progress_is_run_again_without_it(deps, wheels, tmp_path, monkeypatch):
    monkeypatch.setattr(deps, "PROGRESS_BARS", ("no-such-bar", "off"))  # as pip < 24.1 answers "raw"
    target = tmp_path / "site-packages"
    deps.install([WHEEL], target, extra_args=_offline(wheels))
    assert (target / f"{WHEEL_MODULE}.py").is_file()


def test_a_failing_install_raises_with_pips_error_and_leaves_nothing(deps, tmp_path):
    target = tmp_path / "site-packages"
    with pytest.raises(RuntimeError) as info:
        deps.install(["unrender-no-such-package"], target, extra_args=("--no-index",))
    msg = str(info.value)
    assert "pip install unrender-no-such-package failed" in msg
    assert "ERROR: No matching distribution found for unrender-no-such-package" in msg
    assert list(tmp_path.iterdir()) == []


def test_cancelling_stops_pip_and_installs_nothing(deps, wheels, tmp_path, monkeypatch):
    started = []
    popen = subprocess.Popen

    def recording_popen(cmd, *args, **kwargs):
        proc = popen(cmd, *args, **kwargs)
        if "install" in cmd:
            started.append(proc)
        return proc

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    cancel = threading.Event()

    def progress(line, fraction):
        if not line.startswith("Running pip"):  # pip itself has started talking: stop it now
            cancel.set()

    target = tmp_path / "site-packages"
    with pytest.raises(deps.InstallCancelled, match="nothing was installed"):
        deps.install([WHEEL], target, progress, _offline(wheels), cancel)
    (proc,) = started
    assert proc.returncode is not None and proc.returncode != 0  # stopped, not finished
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the install operator
@pytest.fixture
def installer(deps, wheels, tmp_path, monkeypatch):
    """The install operator made to work offline: online access on, the wheel as the missing package, pip told
    (through its environment variables) to use only the local wheels, a temporary install folder."""
    install = _mod("install")
    target = tmp_path / "user" / "site-packages"
    monkeypatch.setattr(deps, "online_access", lambda: True)
    monkeypatch.setattr(deps, "packages_to_install", lambda: [WHEEL])
    monkeypatch.setattr(deps, "user_site_packages", lambda create=False: (
        target.mkdir(parents=True, exist_ok=True) if create else None, target)[1])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setattr(install, "last_result", None)
    path_before = list(sys.path)
    yield target
    monkeypatch.undo()
    deps.remove_site_packages(target)
    sys.modules.pop(WHEEL_MODULE, None)
    install.job = None
    _mod("registration").refresh_methods()  # forget the plugin's method
    assert sys.path == path_before and "fit-sphere" not in _mod("registration").method_operators()


def test_the_install_operator_installs_and_rebuilds_the_method_operators(deps, installer):
    assert bpy.ops.unrender.install_dependencies.poll()
    assert bpy.ops.unrender.install_dependencies() == {"FINISHED"}  # execute: blocking, as for scripts
    assert (installer / f"{WHEEL_MODULE}.py").is_file()
    assert str(installer.resolve()) in sys.path
    assert "fit-sphere" in _mod("registration").method_operators()  # the wheel's plugin method, found after install
    level, text = _mod("install").last_result
    assert level == "INFO" and text.startswith(f"Installed {WHEEL} into {installer}")


def test_a_failing_install_operator_reports_pips_error(deps, installer, monkeypatch):
    monkeypatch.setattr(deps, "packages_to_install", lambda: ["unrender-no-such-package"])
    with pytest.raises(RuntimeError, match="Could not install unrender-no-such-package: ERROR: "):
        bpy.ops.unrender.install_dependencies()
    assert not any(installer.iterdir()) and str(installer.resolve()) not in sys.path
    level, text = _mod("install").last_result
    assert level == "ERROR" and "No matching distribution found for unrender-no-such-package" in text
    assert "No matching distribution" in _draw_preferences().text()


def _drive(events):
    """Drive the installer's ``modal`` (see :func:`blender_addon.drive_modal`) -> (its result, its reports)."""
    return blender_addon.drive_modal(_mod("install").UNRENDER_OT_install_dependencies.modal, events)


def test_the_modal_installer_reports_progress_and_finishes(deps, installer):
    install = _mod("install")
    install.job = job = install.InstallJob([WHEEL], installer, "")
    job.start()
    assert not bpy.ops.unrender.install_dependencies.poll()  # one installation at a time
    assert install.install_refusal().startswith("Dependencies are being installed")
    result, reports = _drive([("MOUSEMOVE", {"PASS_THROUGH"})])  # Blender stays usable
    assert result == {"FINISHED"} and reports[-1][0] == {"INFO"}
    assert job.snapshot()[1] == 1.0 and (installer / f"{WHEEL_MODULE}.py").is_file()


def test_esc_stops_the_modal_installer_and_installs_nothing(deps, installer):
    install = _mod("install")
    install.job = job = install.InstallJob([WHEEL], installer, "")
    job.start()
    result, reports = _drive([("ESC", {"RUNNING_MODAL"})])  # then waits for pip to stop
    assert result == {"CANCELLED"}
    assert reports == [({"WARNING"}, "Installation cancelled: pip was stopped and nothing was installed")]
    assert job.cancelled and not installer.exists()
    assert sorted(p.name for p in installer.parent.parent.iterdir()) == ["user"]
    assert list(installer.parent.iterdir()) == []  # no staging folder left


def test_an_install_whose_window_closed_is_finished_by_a_timer(deps, installer):
    """Closing the preferences window ends the modal operator (``cancel``); pip goes on and its result is used."""
    import time

    install = _mod("install")
    install.job = job = install.InstallJob([WHEEL], installer, "")
    job.start()
    install.UNRENDER_OT_install_dependencies.cancel(blender_addon.Reports(), bpy.context)
    assert bpy.app.timers.is_registered(install.finish_later)
    bpy.app.timers.unregister(install.finish_later)  # headless Blender runs no timers: call it here
    deadline = time.monotonic() + 120
    while install.finish_later() is not None:
        assert time.monotonic() < deadline, "the installer did not finish"
        time.sleep(0.05)
    assert str(installer.resolve()) in sys.path and "fit-sphere" in _mod("registration").method_operators()
    assert install.last_result[0] == "INFO"


# ----------------------------------------------------------------------------- site-packages of another environment
def _env(root, py=PY, cfg=None):
    site = root / "lib" / py / "site-packages"
    site.mkdir(parents=True)
    if cfg:
        (root / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {cfg}\n")
    return site


def test_validate_site_packages(deps, tmp_path):
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    with pytest.raises(ValueError, match="does not exist"):
        deps.validate_site_packages(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("")
    with pytest.raises(ValueError, match="is not a folder"):
        deps.validate_site_packages(tmp_path / "file.txt")
    old = _env(tmp_path / "py39", "python3.9")
    with pytest.raises(ValueError, match=rf"belongs to Python 3\.9, but Blender runs Python {ours}"):
        deps.validate_site_packages(old)
    win = tmp_path / "win39"
    (win / "Lib" / "site-packages").mkdir(parents=True)
    (win / "pyvenv.cfg").write_text("version = 3.9.13\n")
    with pytest.raises(ValueError, match=r"Python 3\.9 environment"):
        deps.validate_site_packages(win / "Lib" / "site-packages")
    good = _env(tmp_path / "venv", cfg=f"{ours}.2")
    for wrong in (tmp_path / "venv", tmp_path / "venv" / "lib", tmp_path / "venv" / "lib" / PY):
        with pytest.raises(ValueError, match="not a site-packages folder but contains one") as info:
            deps.validate_site_packages(wrong)
        assert str(good.resolve()) in str(info.value)
    assert deps.validate_site_packages(good) == good.resolve()
    plain = tmp_path / "packages"  # any folder of modules is fine too
    plain.mkdir()
    assert deps.validate_site_packages(plain) == plain.resolve()


def test_site_packages_preference_makes_its_modules_importable(deps, prefs, tmp_path):
    site = _env(tmp_path / "venv")
    (site / "unrender_test_env_module.py").write_text("VALUE = 42\n")
    try:
        prefs.site_packages = str(site)
        assert deps.site_packages_error is None
        assert str(site.resolve()) in sys.path
        assert importlib.import_module("unrender_test_env_module").VALUE == 42
        assert deps.problem() is None and "deform-mesh" in _mod("registration").method_operators()

        prefs.site_packages = str(tmp_path / "venv")  # the environment's root: refused, and said why
        assert str(site.resolve()) not in sys.path  # the previous folder came off
        assert "not a site-packages folder" in deps.site_packages_error
        assert "not a site-packages folder" in _draw_preferences().text()

        prefs.site_packages = str(tmp_path / "gone")  # never raises into Blender
        assert "does not exist" in deps.site_packages_error
    finally:
        sys.modules.pop("unrender_test_env_module", None)
    prefs.site_packages = ""
    assert deps.site_packages_error is None


def test_method_operators_come_back_when_a_missing_package_becomes_importable(deps, prefs, tmp_path, monkeypatch):
    registration = _mod("registration")
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "unrender_fake_dependency.py").write_text("__version__ = '1.2'\n")
    extra = deps.Dependency("unrender_fake_dependency", "unrender-fake-dependency")
    try:
        with monkeypatch.context() as m:
            m.setattr(deps, "DEPENDENCIES", deps.DEPENDENCIES + (extra,))
            registration.refresh_methods()
            assert registration.method_operators() == {}
            assert "Missing Python packages: unrender-fake-dependency" in deps.problem()
            prefs.site_packages = str(site)  # the update callback rebuilds the operators
            assert deps.problem() is None and deps.status("unrender_fake_dependency").version == "1.2"
            assert "deform-mesh" in registration.method_operators()
            assert bpy.ops.unrender.deform_mesh.poll()
            prefs.site_packages = ""
    finally:
        sys.modules.pop("unrender_fake_dependency", None)
        registration.refresh_methods()
    assert deps.problem() is None and "deform-mesh" in registration.method_operators()


def test_saved_site_packages_are_applied_when_the_add_on_registers(deps, prefs, tmp_path):
    """As after a Blender restart: the add-on registers with ``site_packages`` already in its preferences."""
    import addon_utils

    site = tmp_path / "site-packages"
    site.mkdir()
    prefs.site_packages = str(site)
    entry = str(site.resolve())
    assert entry in sys.path
    addon_utils.disable(blender_addon.ADDON_MODULE, default_set=False)  # keeps the saved preferences
    try:
        assert entry not in sys.path and not hasattr(bpy.types, "UNRENDER_OT_install_dependencies")
        assert bpy.context.preferences.addons[blender_addon.ADDON_MODULE].preferences is None
    finally:
        addon_utils.enable(blender_addon.ADDON_MODULE, default_set=False)
    assert _mod("registration").addon_preferences().site_packages == str(site)
    assert entry in sys.path
    assert "deform-mesh" in _mod("registration").method_operators()
    _mod("registration").addon_preferences().site_packages = ""
    assert entry not in sys.path


def test_the_deferred_apply_reads_the_saved_folder(deps, prefs, tmp_path, monkeypatch):
    """The timer ``register`` leaves when the preferences cannot be read yet applies them once they can."""
    site = tmp_path / "site-packages"
    site.mkdir()
    with monkeypatch.context() as m:  # stored as if read from disk: not applied by the update callback
        m.setattr(deps, "apply_saved_paths", lambda prefs: None)
        prefs.site_packages = str(site)
    entry = str(site.resolve())
    assert entry not in sys.path
    assert _mod("registration").apply_site_packages_later() is None  # runs once
    assert entry in sys.path and "deform-mesh" in _mod("registration").method_operators()
    prefs.site_packages = ""
    assert entry not in sys.path


# ----------------------------------------------------------------------------- without torch
def test_without_torch_the_operators_and_the_panel_say_what_to_do(deps, no_torch):
    problem = deps.problem()
    assert problem == ("Missing Python packages: torch. Set 'Python site-packages' in Edit > Preferences > Add-ons > "
                       "Unrender, or allow online access (Preferences > System > Network) to install them there")
    assert not bpy.ops.unrender.deform_mesh.poll()
    with pytest.raises(RuntimeError) as info:
        bpy.ops.unrender.deform_mesh()
    assert problem in str(info.value)  # whole: bpy.ops cuts poll messages at 200 characters

    panel = _draw_panel()
    text = panel.text()
    assert "Unrender needs Python packages" in text and "torch" in text and "Online access is off" in text
    ops = panel.operators()
    assert ops["preferences.addon_show"][3].module == blender_addon.ADDON_MODULE
    assert "unrender.install_dependencies" not in ops  # cannot work without online access


def test_with_online_access_the_panel_offers_the_installer(deps, no_torch, monkeypatch):
    monkeypatch.setattr(deps, "online_access", lambda: True)
    assert deps.problem() == ("Missing Python packages: torch. Install them in Edit > Preferences > Add-ons > "
                              "Unrender, or set 'Python site-packages' there to an environment that has them")
    assert "unrender.install_dependencies" in _draw_panel().operators()
    assert bpy.ops.unrender.install_dependencies.poll()  # (not run: it would download torch)


def test_where_pypi_has_no_torch_the_installer_says_so_before_downloading(deps, no_torch, prefs, monkeypatch):
    monkeypatch.setattr(deps, "online_access", lambda: True)
    monkeypatch.setattr(deps, "blender_platform", lambda *args: "macos-x64")  # an Intel Mac
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    why = (f"No torch 2.4+ on PyPI for Python {python} on Intel Macs: set 'Torch index URL' or 'Python "
           f"site-packages' (an environment with torch)")
    assert not bpy.ops.unrender.install_dependencies.poll()
    with pytest.raises(RuntimeError) as info:
        bpy.ops.unrender.install_dependencies()
    assert why in str(info.value)  # whole: under the 200 characters bpy.ops keeps of a poll message
    assert _mod("install").install_job() is None
    shown = why.split(":")[0]  # (the labels wrap the rest, "site-packages" at its hyphen)
    assert shown in _draw_preferences().text()
    prefs.index_url = "https://example.invalid/whl"  # another index may have one: the installer may try
    try:
        assert bpy.ops.unrender.install_dependencies.poll() and shown not in _draw_preferences().text()
    finally:
        prefs.index_url = ""

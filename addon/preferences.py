"""Add-on preferences: compute device, dependency status, the dependency installer, extra site-packages.

``UNRENDER_OT_install_dependencies`` runs pip (:func:`.deps.install_missing`)
in a worker thread under a modal timer: the window-manager progress, the
status bar and a line in these preferences follow pip's output; ESC (or the
Cancel button) stops pip and leaves the install folder as it was.
"""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import bpy

from . import deps

TIMER_STEP = 0.2  # seconds between modal updates of the installer

# Blender keeps pointers into the strings of a dynamic enum's items: Python must keep them alive.
_device_items_cache: list[tuple[str, str, str]] = []


def _device_items(self, context):
    items = [("cpu", "CPU", "Run unrender's jobs on the CPU")]
    gpu, _why = deps.cuda()
    if gpu:
        items.append(("cuda", f"CUDA: {gpu}", f"Run unrender's jobs on {gpu} with CUDA"))
    _device_items_cache[:] = items
    return _device_items_cache


def _site_packages_update(self, context):
    """Apply the new folder at once; rebuild the method operators when what imports changed."""
    before = deps.problem()
    deps.apply_saved_paths(self)
    after = deps.problem()
    if after is None or after != before:  # also picks up the plugins the folder brings
        from . import operators

        operators.refresh_methods()


class UNRENDER_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: bpy.props.EnumProperty(
        name="Device", items=_device_items,
        description="Where unrender's jobs run (CUDA is listed when torch sees an NVIDIA GPU)")
    site_packages: bpy.props.StringProperty(
        name="Python site-packages", subtype="DIR_PATH", update=_site_packages_update,
        description=("The site-packages folder of an existing Python environment (same Python version as "
                     "Blender's) to import torch and the other packages from, instead of installing them"))
    index_url: bpy.props.StringProperty(
        name="Torch index URL",
        description=("Optional package index to install torch from, e.g. https://download.pytorch.org/whl/cpu "
                     "for the CPU-only build (much smaller download); the other packages come from PyPI"))

    def draw(self, context):
        layout = self.layout
        width = text_width(context)

        col = layout.column()
        col.prop(self, "device")
        gpu, why = deps.cuda()
        if not gpu:
            col.label(text=f"CUDA unavailable: {why}", icon="INFO")

        box = layout.box()
        box.label(text="Python packages", icon="SCRIPTPLUGINS")
        grid = box.grid_flow(row_major=True, columns=2, even_columns=False, align=True)
        for s in deps.check():
            name = s.dependency.distribution
            if s.ok:
                state = s.version
            elif not s.found:
                state = "not installed"
            else:
                state = f"does not load: {s.error}"
            grid.label(text=name, icon="CHECKMARK" if s.ok else "ERROR")
            grid.label(text=state if len(state) <= width else state[:width - 1] + "\u2026")

        self._draw_install(box, width)

        box = layout.box()
        box.label(text="Use an existing Python environment", icon="FILE_FOLDER")
        box.prop(self, "site_packages")
        if deps.site_packages_error:
            _wrapped(box, deps.site_packages_error, width, icon="ERROR")

    def _draw_install(self, layout, width: int) -> None:
        job = _job
        if job is not None and not job.done:
            line, fraction = job.snapshot()
            row = layout.row()
            if hasattr(row, "progress"):  # Blender 4.0+
                row.progress(factor=fraction, text=f"Installing {', '.join(job.packages)}: {fraction:.0%}")
            else:
                row.label(text=f"Installing {', '.join(job.packages)}: {fraction:.0%}")
            row.operator(UNRENDER_OT_cancel_install.bl_idname, text="", icon="CANCEL")
            _wrapped(layout, line, width, icon="INFO")
            return
        names = deps.packages_to_install()
        row = layout.row()
        row.operator(UNRENDER_OT_install_dependencies.bl_idname,
                     text=f"Install {', '.join(names)}" if names else "Install dependencies", icon="IMPORT")
        if names:
            if not deps.online_access():
                _wrapped(layout, deps.ONLINE_ACCESS_MESSAGE, width, icon="ERROR")
            layout.prop(self, "index_url")
            layout.label(text=f"Installs into {deps.user_site_packages()}")
        bundled = deps.bundled_problem()
        if bundled:
            _wrapped(layout, bundled, width, icon="ERROR")
        if last_result:
            level, text = last_result
            _wrapped(layout, text, width, icon="ERROR" if level == "ERROR" else "INFO")


def text_width(context) -> int:
    """How many characters fit in a line of the region being drawn (a rough estimate)."""
    region = getattr(context, "region", None)
    scale = (context.preferences.system.ui_scale if context.preferences else 0.0) or 1.0  # 0 in background mode
    px = region.width if region is not None and region.width > 1 else 800
    return max(20, int(px / (7.5 * scale)) - 8)


def _wrapped(layout, text: str, width: int, icon: str = "NONE") -> None:
    col = layout.column(align=True)
    for i, line in enumerate(l for para in text.splitlines() for l in (textwrap.wrap(para, width) or [""])):
        col.label(text=line, icon=icon if i == 0 else "BLANK1" if icon != "NONE" else "NONE")


# ----------------------------------------------------------------------------- accessors
def get(context=None):
    """The add-on's preferences, or ``None`` when the add-on was registered without the add-on system."""
    context = context or bpy.context
    prefs = getattr(context, "preferences", None)
    addon = prefs.addons.get(__package__) if prefs is not None else None
    return addon.preferences if addon else None


def device(context=None) -> str:
    """``"cuda"`` when the preferences choose it and torch sees a GPU, else ``"cpu"``."""
    prefs = get(context)
    value = prefs.device if prefs is not None else "cpu"
    return value if value in ("cpu", "cuda") else "cpu"  # a saved "cuda" where there is no GPU reads as ""


# ----------------------------------------------------------------------------- installing
class InstallJob:
    """One run of the installer: pip in a worker thread (or blocking), its progress and its outcome."""

    def __init__(self, packages: list[str], target: Path, index_url: str):
        self.packages, self.target, self.index_url = list(packages), Path(target), index_url
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._line, self._fraction = "Starting pip", 0.0
        self.error: str | None = None
        self.cancelled = False
        self.done = False
        self.thread: threading.Thread | None = None
        self.echo = False  # print pip's messages (blocking runs: the console is all there is)
        self.timer = None  # the modal operator's event timer (removed by unregister when still running)
        self.window_manager = None

    def progress(self, line: str, fraction: float) -> None:
        with self._lock:
            if self.echo and line != self._line and not line.endswith("%"):
                print(f"unrender: {line}")
            self._line, self._fraction = line, fraction

    def snapshot(self) -> tuple[str, float]:
        with self._lock:
            return self._line, self._fraction

    def run(self) -> None:
        try:
            deps.install_missing(self.target, self.index_url, self.progress, self.cancel, packages=self.packages)
        except deps.InstallCancelled:
            self.cancelled = True
        except Exception as exc:  # pip's RuntimeError, or an OSError writing the target
            self.error = str(exc) or type(exc).__name__
        finally:
            self.done = True

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run, daemon=True, name="unrender-install")
        self.thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Cancel and wait for the worker (pip stopped, the staging folder removed)."""
        self.cancel.set()
        if self.thread is not None:
            self.thread.join(timeout)


_job: InstallJob | None = None  # the install running now (or the last one)
last_result: tuple[str, str] | None = None  # (report level, text) of the last install, shown in the preferences


def install_job() -> InstallJob | None:
    """The installation running now, or ``None``."""
    return _job if _job is not None and not _job.done else None


def install_refusal() -> str | None:
    """Why the installer cannot run now, or ``None``."""
    if install_job() is not None:
        return "Dependencies are being installed (Esc or Cancel in the add-on preferences stops it)"
    if not deps.packages_to_install():
        return deps.bundled_problem() or "Nothing to install: every dependency imports"
    if not deps.online_access():
        return deps.ONLINE_ACCESS_MESSAGE
    return None


def _error_summary(text: str) -> str:
    """pip's first ERROR line (else the last line) then the rest: the first line is what the status bar shows."""
    lines = [l for l in text.splitlines() if l.strip()]
    errors = [l.strip() for l in lines if l.lstrip().startswith("ERROR")]
    head = errors[0] if errors else (lines[-1].strip() if lines else text)
    return head + ("\n" + "\n".join(lines) if len(lines) > 1 else "")


class UNRENDER_OT_install_dependencies(bpy.types.Operator):
    """Download and install the missing Python packages (torch, ...) into the add-on's user folder with pip"""

    bl_idname = "unrender.install_dependencies"
    bl_label = "Install dependencies"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        why = install_refusal()
        if why:
            cls.poll_message_set(why)
            return False
        return True

    def _start(self, context) -> InstallJob | None:
        global _job, last_result
        why = install_refusal()
        if why:
            self.report({"ERROR"}, why)
            return None
        try:
            target = deps.user_site_packages(create=True)
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, f"Cannot create the install folder: {exc}")
            return None
        prefs = get(context)
        _job = InstallJob(deps.packages_to_install(), target, prefs.index_url if prefs is not None else "")
        last_result = None
        return _job

    def execute(self, context):
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        job.echo = True
        job.run()
        return _finish(self, job)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        wm = context.window_manager
        job.window_manager = wm
        job.timer = wm.event_timer_add(TIMER_STEP, window=context.window)
        wm.progress_begin(0, 1000)
        wm.modal_handler_add(self)
        job.start()
        _status(context, f"Installing {', '.join(job.packages)} (Esc cancels)")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = _job
        if job is None:  # the add-on was disabled under us
            return {"CANCELLED"}
        if event.type == "ESC" and event.value == "PRESS" and not job.cancel.is_set():
            job.cancel.set()
            _status(context, "Cancelling the installation: stopping pip")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        line, fraction = job.snapshot()
        context.window_manager.progress_update(int(1000 * fraction))
        if not job.cancel.is_set():
            _status(context, f"Installing {', '.join(job.packages)}: {fraction:.0%}: {line} (Esc cancels)")
        _redraw(context)
        if not job.done:
            return {"RUNNING_MODAL"}
        _end_modal(job)
        _status(context, None)
        result = _finish(self, job)
        _redraw(context)
        return result

    def cancel(self, context):
        """Blender ended the modal run (its window closed, a file loaded): pip goes on; finish when it is done."""
        job = _job
        if job is not None and not job.done:
            job.timer = None  # went with its window
            if not bpy.app.timers.is_registered(_finish_later):
                bpy.app.timers.register(_finish_later, first_interval=TIMER_STEP)


class _Reports:
    """Where reports go when no operator is left to take them (:func:`_finish_later`): the console."""

    def report(self, level, text):
        print(f"unrender: {', '.join(sorted(level))}: {text}")


def _finish_later():
    """Timer: finish an installation whose modal operator went away (see ``cancel``)."""
    job = _job
    if job is None:
        return None
    if not job.done:
        return TIMER_STEP
    try:
        wm = bpy.context.window_manager
        wm.progress_end()
        _status(bpy.context, None)
    except (AttributeError, ReferenceError):
        pass
    _finish(_Reports(), job)
    return None


class UNRENDER_OT_cancel_install(bpy.types.Operator):
    """Stop the running installation (pip is stopped; nothing is installed)"""

    bl_idname = "unrender.cancel_install"
    bl_label = "Cancel installation"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        if install_job() is None:
            cls.poll_message_set("No installation is running")
            return False
        return True

    def execute(self, context):
        install_job().cancel.set()
        return {"FINISHED"}


def _finish(op, job: InstallJob) -> set[str]:
    """Report the outcome; on success make the packages importable and build the method operators."""
    global last_result
    from . import operators

    names = ", ".join(job.packages)
    if job.cancelled:
        last_result = ("WARNING", "Installation cancelled: pip was stopped and nothing was installed")
        op.report({"WARNING"}, last_result[1])
        return {"CANCELLED"}
    if job.error is not None:
        last_result = ("ERROR", f"Could not install {names}: {_error_summary(job.error)}")
        op.report({"ERROR"}, last_result[1])
        return {"CANCELLED"}
    try:
        deps.add_site_packages(job.target)
    except (ValueError, OSError) as exc:
        last_result = ("ERROR", f"Installed {names} into {job.target}, but cannot import from there: {exc}")
        op.report({"ERROR"}, last_result[1])
        return {"CANCELLED"}
    operators.refresh_methods()
    problem = deps.problem()
    if problem:
        last_result = ("ERROR", f"Installed {names} into {job.target}, but: {problem}")
        op.report({"ERROR"}, last_result[1])
        return {"FINISHED"}
    n = len(operators.method_operators())
    last_result = ("INFO", f"Installed {names} into {job.target}; {n} unrender methods available")
    op.report({"INFO"}, last_result[1])
    return {"FINISHED"}


def _end_modal(job: InstallJob) -> None:
    if job.timer is not None and job.window_manager is not None:
        try:
            job.window_manager.event_timer_remove(job.timer)
            job.window_manager.progress_end()
        except ReferenceError:  # the window manager went away (new file loaded)
            pass
    job.timer = job.window_manager = None


def _status(context, text: str | None) -> None:
    """The status-bar text of every open workspace (the installer runs from the preferences window)."""
    seen = set()
    for window in context.window_manager.windows:
        ws = window.workspace
        if ws is not None and ws.name not in seen:
            seen.add(ws.name)
            ws.status_text_set(text)


def _redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"PREFERENCES", "VIEW_3D"}:
                area.tag_redraw()


# ----------------------------------------------------------------------------- registration
def _apply_later():
    """Apply the saved site-packages once the preferences can be read (timer; see :func:`register`)."""
    prefs = get()
    if prefs is None:
        return None
    before = deps.problem()
    deps.apply_saved_paths(prefs)
    if deps.problem() != before:
        from . import operators

        operators.refresh_methods()
    return None


CLASSES = (UNRENDER_AP_preferences, UNRENDER_OT_install_dependencies, UNRENDER_OT_cancel_install)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    # Before the operators register (they are built only when torch imports): the install folder and the
    # saved site-packages go on sys.path now, so that they work after a restart.
    prefs = get()
    deps.apply_saved_paths(prefs)
    if prefs is None and not bpy.app.timers.is_registered(_apply_later):
        # Registered outside the add-on system's order (the preferences come later): read them once they exist.
        bpy.app.timers.register(_apply_later, first_interval=0.1)


def unregister():
    global _job, last_result
    for timer in (_apply_later, _finish_later):
        if bpy.app.timers.is_registered(timer):
            bpy.app.timers.unregister(timer)
    job = _job
    if job is not None and not job.done:
        job.stop()  # pip stopped, its staging folder removed
        if job.timer is not None:  # its modal operator goes with the class; clear what it showed
            _end_modal(job)
            try:
                _status(bpy.context, None)
            except (AttributeError, ReferenceError):
                pass
    _job = last_result = None
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)

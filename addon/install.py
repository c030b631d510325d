"""The dependency installer: pip (:func:`.deps.install_missing`) in a worker thread, and its two operators.

``UNRENDER_OT_install_dependencies`` runs it under a modal timer
(:class:`~.jobs.ModalJob`): the window-manager progress, the status bar and
a line in the preferences follow pip's output; ESC (or
``UNRENDER_OT_cancel_install``) stops pip and leaves the install folder as it
was. On success the packages go on ``sys.path`` and the method operators are
rebuilt (:func:`.registration.refresh_methods`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import bpy

from . import deps, registration
from .jobs import ModalJob, Tick

TIMER_STEP = 0.2  # seconds between modal updates of the installer


class InstallJob(ModalJob):
    """One run of the installer: pip in a worker thread (or blocking), its progress and its outcome."""

    interval = TIMER_STEP

    def __init__(self, packages: list[str], target: Path, index_url: str):
        super().__init__()
        self.packages, self.target, self.index_url = list(packages), Path(target), index_url
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._line, self._fraction = "Starting pip", 0.0
        self.error: str | None = None
        self.cancelled = False
        self.done = False
        self.thread: threading.Thread | None = None
        self.echo = False  # print pip's messages (blocking runs: the console is all there is)

    # -- the worker ---------------------------------------------------------------
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
            deps.install_missing(self.target, self.index_url, self.progress, self.cancel_event, packages=self.packages)
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
        self.cancel_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    # -- the modal side -----------------------------------------------------------
    def update(self, context) -> Tick:
        line, fraction = self.snapshot()
        return Tick(self.done, fraction, f"Installing {', '.join(self.packages)}: {fraction:.0%}: {line}")

    def stop_work(self) -> None:
        self.cancel_event.set()

    def cancelling_status(self) -> str:
        return "Cancelling the installation: stopping pip"

    def abandon(self, context) -> None:
        """Pip goes on; :func:`finish_later` finishes the installation when it is done."""
        self.timer = None  # went with its window
        if not bpy.app.timers.is_registered(finish_later):
            bpy.app.timers.register(finish_later, first_interval=self.interval)

    def outcome(self, reports) -> set[str]:
        """Report the outcome; on success make the packages importable and build the method operators."""
        global last_result
        names = ", ".join(self.packages)
        if self.cancelled:
            last_result = ("WARNING", "Installation cancelled: pip was stopped and nothing was installed")
            reports.report({"WARNING"}, last_result[1])
            return {"CANCELLED"}
        if self.error is not None:
            last_result = ("ERROR", f"Could not install {names}: {error_summary(self.error)}")
            reports.report({"ERROR"}, last_result[1])
            return {"CANCELLED"}
        try:
            deps.add_site_packages(self.target)
        except (ValueError, OSError) as exc:
            last_result = ("ERROR", f"Installed {names} into {self.target}, but cannot import from there: {exc}")
            reports.report({"ERROR"}, last_result[1])
            return {"CANCELLED"}
        registration.refresh_methods()
        problem = deps.problem()
        if problem:
            last_result = ("ERROR", f"Installed {names} into {self.target}, but: {problem}")
            reports.report({"ERROR"}, last_result[1])
            return {"FINISHED"}
        n = len(registration.method_operators())
        last_result = ("INFO", f"Installed {names} into {self.target}; {n} unrender methods available")
        reports.report({"INFO"}, last_result[1])
        return {"FINISHED"}


job: InstallJob | None = None  # the install running now (or the last one)
last_result: tuple[str, str] | None = None  # (report level, text) of the last install, shown in the preferences


def install_job() -> InstallJob | None:
    """The installation running now, or ``None``."""
    return job if job is not None and not job.done else None


def install_refusal() -> str | None:
    """Why the installer cannot run now, or ``None``."""
    if install_job() is not None:
        return "Dependencies are being installed (Esc or Cancel in the add-on preferences stops it)"
    if not deps.packages_to_install():
        return deps.bundled_problem() or "Nothing to install: every dependency imports"
    if not deps.online_access():
        return deps.ONLINE_ACCESS_MESSAGE
    prefs = registration.addon_preferences()
    try:  # no torch for this Python and platform (an Intel Mac): say so before downloading anything
        deps.install_plan(deps.packages_to_install(), prefs.index_url if prefs is not None else "")
    except ValueError as exc:
        return str(exc)
    return None


def error_summary(text: str) -> str:
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
        return registration.allowed(cls, install_refusal())

    def _start(self, context) -> InstallJob | None:
        global job, last_result
        why = install_refusal()
        if why:
            self.report({"ERROR"}, why)
            return None
        try:
            target = deps.user_site_packages(create=True)
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, f"Cannot create the install folder: {exc}")
            return None
        prefs = registration.addon_preferences(context)
        job = InstallJob(deps.packages_to_install(), target, prefs.index_url if prefs is not None else "")
        last_result = None
        return job

    def execute(self, context):
        new = self._start(context)
        if new is None:
            return {"CANCELLED"}
        new.echo = True
        new.run()
        return new.outcome(self)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        new = self._start(context)
        if new is None:
            return {"CANCELLED"}
        new.start()
        return new.start_modal(self, context, f"Installing {', '.join(new.packages)}")

    def modal(self, context, event):
        if job is None:  # the add-on was disabled under us
            return {"CANCELLED"}
        return job.modal(self, context, event)

    def cancel(self, context):
        """Blender ended the modal run (its window closed, a file loaded): pip goes on; finish when it is done."""
        if job is not None and not job.done:
            job.abandon(context)


class ConsoleReports:
    """Where reports go when no operator is left to take them (:func:`finish_later`): the console."""

    def report(self, level, text):
        print(f"unrender: {', '.join(sorted(level))}: {text}")


def finish_later():
    """Timer: finish an installation whose modal operator went away (see ``InstallJob.abandon``)."""
    if job is None:
        return None
    if not job.done:
        return TIMER_STEP
    job.end_modal(bpy.context)
    job.outcome(ConsoleReports())
    return None


class UNRENDER_OT_cancel_install(bpy.types.Operator):
    """Stop the running installation (pip is stopped; nothing is installed)"""

    bl_idname = "unrender.cancel_install"
    bl_label = "Cancel installation"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context):
        return registration.allowed(cls, "No installation is running" if install_job() is None else None)

    def execute(self, context):
        install_job().cancel(context)
        return {"FINISHED"}


CLASSES = (UNRENDER_OT_install_dependencies, UNRENDER_OT_cancel_install)


def shutdown() -> None:
    """Before the add-on unregisters: stop a running installation and clear what it showed."""
    global job, last_result
    if bpy.app.timers.is_registered(finish_later):
        bpy.app.timers.unregister(finish_later)
    running = job
    if running is not None and not running.done:
        running.stop()  # pip stopped, its staging folder removed
        if running.timer is not None:  # its modal operator goes with the class; clear what it showed
            running.end_modal(bpy.context)
    job = last_result = None

"""Work off Blender's main thread: a registry method's worker (:class:`Job`) and the modal side of any job.

The worker never touches bpy: it runs ``unrender.methods.run_method`` on
inputs converted beforehand, turns each preview into plain numpy data with
``make_payload`` (so the main thread only copies arrays into Blender), and
stops when :meth:`Job.cancel` is called. The main thread calls :meth:`Job.poll`
from a modal timer (or :meth:`Job.run` blocks, for scripts).

:class:`ModalJob` is that modal timer, for the method operators and the
dependency installer alike: the window-manager progress, the status text,
Esc, and the end of the run.
"""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass
class JobState:
    """What the main thread sees at one poll."""

    step: int
    total: int
    loss: float
    payload: Any  # the newest preview payload not yet handed out, or None
    done: bool
    error: BaseException | None
    result: Any  # the method's Result once done (None on error)


class Job:
    """Run ``method_id`` (an id, or the ``Method`` itself) on ``inputs`` with ``params``; previews go through
    ``make_payload`` in the worker."""

    def __init__(self, method_id, inputs: dict, params: dict, make_payload: Callable[[Any], Any] | None = None,
                 on_step: Callable[[int, int, float], None] | None = None):
        """``on_step(step, total, loss)``: called in the worker at every step (e.g. a tqdm bar in background mode)."""
        self.method_id, self.inputs, self.params = method_id, inputs, params
        self.make_payload = make_payload or (lambda preview: None)
        self.on_step = on_step
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._step, self._total, self._loss = 0, 0, float("nan")
        self._payload: Any = None
        self._done = False
        self._error: BaseException | None = None
        self._result: Any = None
        self.started = 0.0

    # worker side -------------------------------------------------------------
    def _progress(self, step: int, total: int, loss: float, preview: Any = None) -> bool:
        payload = None
        if preview is not None:
            try:
                payload = self.make_payload(preview)
            except Exception as exc:  # a broken preview must not kill the fit; report it at the end
                self._preview_error = exc
        with self._lock:
            self._step, self._total, self._loss = int(step), int(total), float(loss)
            if payload is not None:
                self._payload = payload
        if self.on_step is not None:
            self.on_step(int(step), int(total), float(loss))
        return not self._cancel.is_set()

    def _work(self) -> None:
        from unrender.methods import run_method

        try:
            result = run_method(self.method_id, self.inputs, self.params, self._progress)
        except BaseException as exc:  # reported on the main thread
            with self._lock:
                self._error, self._done = exc, True
            return
        with self._lock:
            self._result, self._done = result, True

    # main-thread side --------------------------------------------------------
    def start(self) -> "Job":
        """Start the worker thread."""
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._work, name=f"unrender {getattr(self.method_id, 'id', self.method_id)}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> JobState:
        """Run in the calling thread (blocking) -> the final state."""
        self.started = time.perf_counter()
        self._work()
        return self.poll()

    def poll(self) -> JobState:
        """The current state; hands out the newest preview payload once."""
        with self._lock:
            state = JobState(self._step, self._total, self._loss, self._payload, self._done, self._error, self._result)
            self._payload = None
        return state

    def cancel(self) -> None:
        """Ask the worker to stop at its next step."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; ``True`` once it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


# ----------------------------------------------------------------------------- the modal side
@dataclass
class Tick:
    """What a :class:`ModalJob` reports at one timer tick."""

    done: bool
    fraction: float | None  # of the work done, for the window-manager progress (``None``: leave it)
    status: str | None  # the status-bar line (``None``: leave it)


class ModalJob(abc.ABC):
    """Work in a worker thread shown by a modal operator: event timer, progress, status text, Esc and the end.

    A subclass says how far the work is (:meth:`update`), how to stop it
    (:meth:`stop_work`), how it ended (:meth:`outcome`) and what happens when
    Blender ends the modal operator itself (:meth:`abandon`). The operator
    calls :meth:`start_modal` from ``invoke`` and returns :meth:`modal` from
    ``modal``. Esc (or :meth:`cancel`) asks the worker to stop; the job ends
    at the tick that finds it stopped, with :meth:`outcome` saying so.
    """

    interval = 0.1  # seconds between timer ticks

    def __init__(self):
        self.timer = None  # the operator's event timer while it runs
        self.window_manager = None
        self.cancel_requested = False

    # -- what a job says ---------------------------------------------------------
    @abc.abstractmethod
    def update(self, context) -> Tick:
        """On the main thread at every tick: take in the worker's news -> how far it is."""

    @abc.abstractmethod
    def stop_work(self) -> None:
        """Ask the worker to stop (returns at once)."""

    @abc.abstractmethod
    def cancelling_status(self) -> str:
        """The status-bar line while the worker stops."""

    @abc.abstractmethod
    def outcome(self, reports) -> set[str]:
        """Once done: keep or undo the work and ``reports.report`` it -> the operator's return set."""

    @abc.abstractmethod
    def abandon(self, context) -> None:
        """Blender ended the modal operator (its window closed, a file loaded, the add-on disabled)."""

    # -- the modal operator's side ------------------------------------------------
    def start_modal(self, operator, context, status: str | None = None) -> set[str]:
        """From ``invoke``: the timer, the progress bar and ``operator`` as modal handler -> ``{"RUNNING_MODAL"}``."""
        wm = self.window_manager = context.window_manager
        self.timer = wm.event_timer_add(self.interval, window=context.window)
        wm.progress_begin(0, 1000)
        wm.modal_handler_add(operator)
        if status:
            set_status(context, f"{status} (Esc cancels)")
        return {"RUNNING_MODAL"}

    def cancel(self, context) -> None:
        """Esc or a Cancel button: ask the worker to stop."""
        if not self.cancel_requested:
            self.cancel_requested = True
            self.stop_work()
            set_status(context, self.cancelling_status())

    def modal(self, operator, context, event) -> set[str]:
        """The operator's ``modal``: Esc cancels, a timer tick updates, other events pass through."""
        if event.type == "ESC" and event.value == "PRESS" and not self.cancel_requested:
            self.cancel(context)
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        tick = self.update(context)
        if tick.fraction is not None:
            context.window_manager.progress_update(int(1000 * tick.fraction))
        if tick.status and not self.cancel_requested:
            set_status(context, f"{tick.status} (Esc cancels)")
        redraw(context)
        if not tick.done:
            return {"RUNNING_MODAL"}
        self.end_modal(context)
        result = self.outcome(operator)
        redraw(context)
        return result

    def end_modal(self, context) -> None:
        """Remove the timer (if its window still has it) and the progress bar, clear the status text."""
        wm = self.window_manager
        try:
            if wm is not None:
                if self.timer is not None:
                    wm.event_timer_remove(self.timer)
                wm.progress_end()
            set_status(context, None)
        except (AttributeError, ReferenceError):  # the window manager went away (new file loaded)
            pass
        self.timer = self.window_manager = None


def set_status(context, text: str | None) -> None:
    """The status-bar text of every open workspace (an installer runs from the preferences window)."""
    seen = set()
    for window in context.window_manager.windows:
        ws = window.workspace
        if ws is not None and ws.name not in seen:
            seen.add(ws.name)
            ws.status_text_set(text)


def redraw(context) -> None:
    """Redraw the areas that show a job: the 3D Viewports and the preferences."""
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {"PREFERENCES", "VIEW_3D"}:
                area.tag_redraw()

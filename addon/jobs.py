"""A registry method running in a worker thread, watched from Blender's main thread.

The worker never touches bpy: it runs ``unrender.methods.run_method`` on
inputs converted beforehand, turns each preview into plain numpy data with
``make_payload`` (so the main thread only copies arrays into Blender), and
stops when :meth:`Job.cancel` is called. The main thread calls :meth:`Job.poll`
from a modal timer (or :meth:`Job.run` blocks, for scripts).
"""

from __future__ import annotations

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
    """Run ``method_id`` on ``inputs`` with ``params``; previews go through ``make_payload`` in the worker."""

    def __init__(self, method_id: str, inputs: dict, params: dict, make_payload: Callable[[Any], Any] | None = None,
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
        self._thread = threading.Thread(target=self._work, name=f"unrender {self.method_id}", daemon=True)
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

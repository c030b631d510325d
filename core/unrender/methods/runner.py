"""Running a method: resolve parameters, check inputs, seed, time; and the loop tracker methods use."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch

from ..threads import using_threads
from .base import Method, ProgressFn, Result, keep_going
from .inputs import coerce_input
from .registry import get_method

__all__ = ["resolve_params", "check_inputs", "run_method", "Tracker"]


def resolve_params(method, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with ``params``, each converted and range-checked.

    Unknown names raise ``ValueError`` listing the method's parameters.
    """
    m = get_method(method)
    params = dict(params or {})
    known = {p.name: p for p in m.all_params()}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown parameter of {m.id}; expected one of {sorted(known)}")
    out = {name: p.coerce(params.get(name, p.default)) for name, p in known.items()}
    if out["device"] == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: expected an available device, found 'cuda' but torch sees no CUDA GPU")
    return out


def check_inputs(method, inputs: dict[str, Any], device="cpu") -> dict[str, Any]:
    """Check ``inputs`` against the method's :class:`Input` specs; returns them on ``device``."""
    m = get_method(method)
    inputs = dict(inputs or {})
    specs = {i.name: i for i in m.inputs}
    unknown = sorted(set(inputs) - set(specs))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown input of {m.id}; expected one of {sorted(specs)}")
    out = {}
    for name, spec in specs.items():
        value = inputs.get(name)
        if value is None:
            if spec.required:
                raise ValueError(f"{name}: missing input of {m.id} (expected a {' or '.join(spec.kinds)})")
            continue
        out[name] = coerce_input(spec, value, device)
    return out


def run_method(
    method: Method | str,
    inputs: dict[str, Any],
    params: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> Result:
    """Run ``method`` (an id or a ``Method``) on ``inputs`` with ``params``.

    Parameters are resolved (defaults, types, ranges) and inputs checked before
    anything runs; the global torch generator is seeded with ``params["seed"]``
    so the same seed gives the same result, and torch runs on ``params["threads"]``
    CPU threads (0: :func:`~unrender.threads.auto_threads`) until the run ends. ``progress(step, total, loss,
    preview=None) -> bool`` is called as the job advances; ``False`` cancels.
    """
    m = get_method(method)
    resolved = resolve_params(m, params)
    checked = check_inputs(m, inputs, resolved["device"])
    torch.manual_seed(resolved["seed"])
    with using_threads(resolved["threads"]):
        t0 = time.perf_counter()
        result = m.run(checked, resolved, progress or keep_going)
        result.seconds = time.perf_counter() - t0
    result.params = resolved
    missing = [o.name for o in m.outputs if o.name not in result.outputs]
    if missing:
        raise RuntimeError(f"method {m.id} returned no output {missing[0]!r}")
    return result


class Tracker:
    """Bookkeeping of an optimisation loop: loss history, progress calls, snapshots, the best step, cancelling.

    ``tracker.update(step, loss, make_preview, keep)`` records the loss of step
    ``step`` (0-based), calls ``progress(step + 1, total, loss, preview)``
    and returns whether to continue. ``make_preview()`` builds the current
    geometry (detached, CPU); it is only called every ``preview_every`` steps,
    on the last step and on the ``snapshots`` evenly spaced steps kept for a
    picture of the optimisation.

    The best step is the one of lowest loss since the last :meth:`new_stage`
    (losses of different stages, e.g. resolutions, are not compared):
    ``best_step`` (its index in the history), ``best_loss`` and ``best_state``,
    what ``keep()`` returned at that step (the method's state that gave the
    loss, detached). A cancelled method returns the outputs of ``best_state``.
    When the progress callback has an ``on_best(step, loss)`` method (as the
    command line's has), it is told each new best step that ``keep`` kept (1-based, as progress
    counts), so that it can say what a cancel would keep.
    """

    def __init__(self, progress: ProgressFn, total: int, *, snapshots: int = 30, preview_every: int = 1):
        self.progress, self.total = progress, max(int(total), 1)
        self.preview_every = max(int(preview_every), 1)
        n = min(snapshots, self.total)
        self.snapshot_steps = {round(i * (self.total - 1) / max(n - 1, 1)) for i in range(n)} if n > 0 else set()
        self.history: list[float] = []
        self.snapshots: list[tuple[int, Any]] = []
        self.cancelled = False
        self.best_step: int | None = None
        self.best_loss = math.inf
        self.best_state: Any = None
        self._on_best = getattr(progress, "on_best", None)
        self.stage_starts: list[int] = []  # history index where each new_stage began

    def new_stage(self) -> None:
        """The losses from the next step on are not comparable with the earlier ones: the best
        step is chosen among them."""
        self.best_step, self.best_loss, self.best_state = None, math.inf, None
        self.stage_starts.append(len(self.history))

    def update(self, step: int, loss: float, make_preview: Callable[[], Any] | None = None,
               keep: Callable[[], Any] | None = None) -> bool:
        loss = float(loss)
        self.history.append(loss)
        if self.best_step is None or loss < self.best_loss:
            self.best_step, self.best_loss = len(self.history) - 1, loss
            self.best_state = keep() if keep is not None else None
            if self._on_best is not None and keep is not None:
                self._on_best(self.best_step + 1, loss)
        last = step >= self.total - 1
        want = make_preview is not None and (step % self.preview_every == 0 or last or step in self.snapshot_steps)
        preview = make_preview() if want else None
        if preview is not None and step in self.snapshot_steps:
            self.snapshots.append((step, preview))
        go = self.progress(step + 1, self.total, loss, preview)
        if go is False:
            self.cancelled = True
            if preview is not None and (not self.snapshots or self.snapshots[-1][0] != step):
                self.snapshots.append((step, preview))  # the picture ends where the job stopped
            return False
        return True

    def kept(self, current: Any) -> Any:
        """What a method returns: ``best_state`` when cancelled (and kept), else ``current``."""
        return self.best_state if self.cancelled and self.best_state is not None else current

    def result(self, outputs: dict[str, Any], metrics: dict[str, float] | None = None, **extra) -> Result:
        """The :class:`Result`; when cancelled, ``saved_step`` is the best step (``outputs``
        should then come from :meth:`kept`). Unless ``extra`` has its own ``stages``, the steps
        where :meth:`new_stage` began stages are ``extra["stages"]`` (marked on the loss curve)."""
        return Result(
            outputs=outputs,
            metrics=dict(metrics or {}),
            history=list(self.history),
            snapshots=list(self.snapshots),
            cancelled=self.cancelled,
            saved_step=self.best_step if self.cancelled and self.best_state is not None else None,
            extra=extra if "stages" in extra or not self.stage_starts else
            {"stages": [{"step": s, "label": "new stage (loss not comparable)"} for s in self.stage_starts], **extra},
        )

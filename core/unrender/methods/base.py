"""The method contract: typed inputs, parameters with ranges, ``run(inputs, params, progress)``.

A method is one job the command line and the Blender add-on offer (fit voxels,
deform an icosphere, estimate a camera pose, ...). It declares

* ``id`` (the CLI sub-command, e.g. ``"deform-mesh"``), ``label`` and ``description``;
* ``inputs``: :class:`Input` specs, each accepting one or more kinds of the
  table :mod:`unrender.kinds` (:data:`INPUT_KINDS`: ``"mesh"`` -> ``Meshes``,
  ``"points"`` -> ``PointClouds``, ``"voxels"`` -> ``Voxels``, ``"image"`` ->
  ``(H, W, C)`` float tensor in [0, 1], ``"cameras"`` -> a camera object,
  ``"keypoints"`` -> ``(J, 2|3)`` tensor, and any kind registered later);
* ``params``: :class:`Param` specs with defaults, ranges and help text (every
  method also gets the common ``seed``, ``device`` and ``threads``, see :data:`COMMON_PARAMS`);
* ``outputs``: :class:`Output` specs naming what :class:`Result` holds;
* ``run(inputs, params, progress) -> Result``.

``progress(step, total, loss, preview=None) -> bool`` is called as the job
advances; ``preview`` (when given) is the current geometry, detached, of the
kind of the first output. Returning ``False`` asks the job to stop: it returns
the best step so far with ``Result.cancelled = True`` and ``Result.saved_step``.
A progress object may also have ``on_best(step, loss)``, told each new best
step (see :class:`~unrender.methods.Tracker`).

Call methods through :func:`unrender.methods.run_method`, which resolves and
checks parameters and inputs, seeds the random generators and times the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

# live views of the kinds table: every kind is an input kind, the ones that can be saved output kinds
from ..kinds import INPUT_KINDS, OUTPUT_KINDS

__all__ = [
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "Input",
    "Output",
    "Param",
    "Result",
    "Method",
    "ProgressFn",
    "COMMON_PARAMS",
    "keep_going",
]


ProgressFn = Callable[..., bool]


def keep_going(step: int, total: int, loss: float, preview: Any = None) -> bool:
    """The default progress callback: never cancels."""
    return True


@dataclass(frozen=True)
class Input:
    """One input of a method.

    ``kinds``: the kinds it accepts, preferred first (e.g. ``("mesh", "points")``:
    a mesh, or a point cloud when the target has no faces).
    """

    name: str
    kinds: tuple[str, ...]
    help: str
    required: bool = True
    label: str | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Input.name: expected a Python identifier, found {self.name!r}")
        bad = [k for k in self.kinds if k not in INPUT_KINDS]
        if not self.kinds or bad:
            raise ValueError(f"Input {self.name!r}: expected kinds among {tuple(INPUT_KINDS)}, found {self.kinds}")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Output:
    """One output of a method: ``Result.outputs[name]`` holds an object of ``kind``."""

    name: str
    kind: str
    help: str

    def __post_init__(self):
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"Output {self.name!r}: expected kind among {tuple(OUTPUT_KINDS)}, found {self.kind!r}")


_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Param:
    """One parameter: a typed default, an optional range or set of choices, help text.

    ``type`` is taken from the default (``bool``, ``int``, ``float`` or ``str``);
    ``minimum``/``maximum`` bound numbers (inclusive); ``choices`` lists the
    allowed strings. The add-on turns a ``Param`` into a Blender property and the
    CLI into ``--name-with-dashes``.
    """

    name: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    label: str | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Param.name: expected a Python identifier, found {self.name!r}")
        if type(self.default) not in _TYPES:
            raise ValueError(f"Param {self.name!r}: expected a bool, int, float or str default, found {self.default!r}")
        if self.choices is not None and (self.type is not str or self.default not in self.choices):
            raise ValueError(f"Param {self.name!r}: expected a str default among choices {self.choices}")
        self.coerce(self.default)  # the default itself must be valid

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def range_text(self) -> str:
        """``"in [a, b]"``, ``">= a"``, ``"one of x, y"`` or ``""``."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        lo, hi = self.minimum, self.maximum
        fmt = (lambda v: str(int(v))) if self.type is int else (lambda v: f"{v:g}")
        if lo is not None and hi is not None:
            return f"in [{fmt(lo)}, {fmt(hi)}]"
        if lo is not None:
            return f">= {fmt(lo)}"
        if hi is not None:
            return f"<= {fmt(hi)}"
        return ""

    def coerce(self, value):
        """Convert ``value`` (Python value or CLI string) to the parameter's type and check it.

        Raises ``ValueError`` naming the parameter, what was expected and what was found.
        """
        t = self.type
        want = f"{t.__name__} {self.range_text()}".strip()
        if isinstance(value, str) and t is not str:
            text = value.strip().lower()
            try:
                if t is bool:
                    if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError
                    value = text in ("1", "true", "yes", "on")
                elif t is int:
                    value = int(text)
                else:
                    value = float(text)
            except ValueError:
                raise ValueError(f"{self.name}: expected {want}, found {value!r}") from None
        if t is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{self.name}: expected a bool, found {value!r}")
            return value
        if t is str:
            if not isinstance(value, str):
                raise ValueError(f"{self.name}: expected {want}, found {value!r}")
            if self.choices is not None and value not in self.choices:
                raise ValueError(f"{self.name}: expected {want}, found {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or hasattr(value, "shape"):
            raise ValueError(f"{self.name}: expected {want}, found {value!r}")
        if t is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{self.name}: expected {want}, found {value!r}")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{self.name}: expected a finite {want}, found {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ValueError(f"{self.name}: expected {want}, found {value!r}")
        return value


COMMON_PARAMS = (
    Param("seed", 0, "random seed: same seed, same result", minimum=0, maximum=2**31 - 1),
    Param("device", "cpu", "torch device to run on", choices=("cpu", "cuda")),
    Param("threads", 0, "CPU threads torch uses during the run (0: auto, the cores other processes leave free)",
          minimum=0, maximum=1024),
)


@dataclass
class Result:
    """What a method returns.

    Attributes:
        outputs: ``name -> object`` for each declared :class:`Output`
            (``Meshes``, ``PointClouds``, ``Voxels``, cameras, images), on the CPU.
        metrics: ``name -> float`` quality figures (e.g. ``"f1@0.02"``, ``"iou"``).
        history: the loss at every step done.
        snapshots: ``[(step, geometry)]``, a few states during the fit for a
            picture of the optimisation (same kind as the first output).
        cancelled: the progress callback stopped the job early.
        saved_step: when cancelled, the index in ``history`` of the step whose
            state ``outputs`` hold (the best so far, see :class:`Tracker`);
            None when they hold the state after the last step.
        seconds, params: filled in by :func:`run_method`.
        extra: anything else worth saving in the JSON summary (JSON-serialisable).
        warnings: one-line notes for the user (e.g. a fit that is unsure of
            itself); the CLI prints them and ``summary.json`` lists them.
    """

    outputs: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, Any]] = field(default_factory=list)
    cancelled: bool = False
    saved_step: int | None = None
    seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Optimisation steps: ``extra["steps"]`` when the method counts them itself (its history then samples
        the run, e.g. in percent of a time budget), else one per history entry."""
        return int(self.extra.get("steps", len(self.history)))


class Method:
    """Base class of every method; subclass, fill the class attributes and write :meth:`run`.

    Register a subclass with :func:`unrender.methods.register` (built in: any
    module in ``unrender/methods`` is imported when the registry is first used)
    or through the ``unrender.methods`` entry-point group (third parties).
    """

    id: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[tuple[Input, ...]] = ()
    params: ClassVar[tuple[Param, ...]] = ()
    outputs: ClassVar[tuple[Output, ...]] = ()

    def run(self, inputs: dict[str, Any], params: dict[str, Any], progress: ProgressFn) -> Result:
        """Do the job. ``inputs`` and ``params`` are already checked and complete
        (``params`` includes ``seed`` and ``device``; inputs are on that device)."""
        raise NotImplementedError(f"method {type(self).__name__} does not implement run()")

    def example_inputs(self, seed: int = 0) -> dict[str, Any]:
        """A generated example to run on (``unrender <id> --example``, the demo, the tests)."""
        raise NotImplementedError(f"method {self.id!r} has no generated example")

    def pictures(self, inputs: dict[str, Any], result: Result) -> dict[str, Any]:
        """Pictures of the run: ``name -> (H, W, C)`` image or ``(N, H, W, C)`` frames.

        The default (see :mod:`unrender.methods.pictures`) shows the first
        geometric input next to the result, and the snapshots as frames.
        """
        from .pictures import default_pictures

        return default_pictures(self, inputs, result)

    # ------------------------------------------------------------------ helpers
    @classmethod
    def all_params(cls) -> tuple[Param, ...]:
        """The method's own parameters followed by :data:`COMMON_PARAMS`."""
        own = {p.name for p in cls.params}
        return tuple(cls.params) + tuple(p for p in COMMON_PARAMS if p.name not in own)

    @classmethod
    def param(cls, name: str) -> Param:
        for p in cls.all_params():
            if p.name == name:
                return p
        raise ValueError(f"{name}: not a parameter of {cls.id}; expected one of {[p.name for p in cls.all_params()]}")

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in cls.all_params()}

    def __repr__(self) -> str:
        return f"<method {self.id!r}: {self.label}>"

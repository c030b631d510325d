"""The configuration of a training run: the model's fields, the data, the budget and the run's settings."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything a training run depends on (JSON-able: ``asdict`` / :meth:`from_dict`).

    Model: ``kind`` ("vox" | "points" | "mesh"), ``encoder`` ("fast" | "resnet18") and ``model``, any
    further ``ModelConfig`` fields (e.g. ``{"latent": 128, "voxel_decoder": "mlp"}``).
    Data and output: ``data`` (a dataset folder written by :func:`unrender.data.write_dataset`),
    ``output`` (the run's folder), ``points`` (surface points per training item; None: 2048, or
    all the dataset stores when fewer).
    Optimisation: ``batch_size`` (the GLOBAL batch; split evenly over the ranks of a distributed run),
    ``lr`` (Adam), ``schedule`` ("constant", or "cosine": the lr of step k is
    ``lr (1 + cos(pi k / steps)) / 2``, needing ``steps``). Budget: ``steps`` and / or ``minutes``; the run stops at the first reached.
    ``val_every``: validate every so many steps (and at the end) on ``val_items`` evenly spaced items
    of the val split. ``seed``: same seed, same run. ``workers``: DataLoader workers per rank.
    ``threads``: torch CPU threads per rank (0: the free cores). ``device``: "cpu" or "cuda"; ``dtype``: the
    model's floats, "float32" or "float64" (for checks of numerics: rounding that Adam's first steps
    would blow up to ~lr where a gradient is near 0 stays ~1e-12).
    """

    kind: str = "vox"
    data: str = ""
    output: str = ""
    encoder: str = "fast"
    model: dict = field(default_factory=dict)
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "constant"
    steps: int | None = None
    minutes: float | None = None
    val_every: int = 100
    val_items: int = 256
    points: int | None = None
    seed: int = 0
    workers: int = 0
    threads: int = 0
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        from ..models import KINDS

        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {list(KINDS)}, found {self.kind!r}")
        if not isinstance(self.model, dict):
            raise ValueError(f"model: expected a dict of ModelConfig fields, found {type(self.model).__name__}")
        for name in ("kind", "encoder"):
            if name in self.model:
                raise ValueError(f"model: give {name!r} as TrainConfig.{name}, not inside model")
        for name in ("batch_size", "val_every", "val_items"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, found {v!r}")
        if self.points is not None and (isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 1):
            raise ValueError(f"points: expected an int >= 1 or None, found {self.points!r}")
        for name in ("seed", "workers", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name}: expected an int >= 0, found {v!r}")
        if self.steps is None and self.minutes is None:
            raise ValueError("steps: expected a budget, steps or minutes (or both), found neither")
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1):
            raise ValueError(f"steps: expected an int >= 1 or None, found {self.steps!r}")
        if self.minutes is not None and not (isinstance(self.minutes, (int, float)) and math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"minutes: expected a positive number or None, found {self.minutes!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: expected a positive number, found {self.lr!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule: expected 'constant' or 'cosine', found {self.schedule!r}")
        if self.schedule == "cosine" and self.steps is None:
            raise ValueError("schedule: 'cosine' decays over the steps budget; give steps")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', found {self.dtype!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', found {self.device!r}")

    def model_config(self):
        """The run's ``unrender.models.ModelConfig``."""
        from ..models import ModelConfig

        return ModelConfig(kind=self.kind, encoder=self.encoder, **self.model)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from :meth:`to_json`'s content; unknown keys are a ``ValueError`` naming them."""
        if not isinstance(d, dict):
            raise ValueError(f"config: expected a JSON object, found {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config: unknown fields {unknown}")
        return cls(**d)

    @property
    def output_path(self) -> Path:
        return Path(self.output)

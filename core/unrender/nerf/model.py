"""The NeRF model: a density field over the scene box and a colour head on its features and the view direction.

``NeRFModel(config)`` maps world points ``(N, 3)`` inside ``[-bound, bound]^3`` and
unit view directions ``(N, 3)`` to densities ``(N,)`` (per world unit, >= 0) and
colours ``(N, 3)`` in ``[0, 1]``. The position field is any :class:`unrender.fields.Field`
chosen by ``config.field``:

* ``"mlp"``: Mildenhall's ReLU MLP on a harmonic encoding of the position;
* ``"grid"``: a :class:`~unrender.fields.VoxelGridField` (values read trilinearly from a table of rows);
* ``"hash"``: a :class:`~unrender.fields.HashGridField` (instant-ngp).

A step reads few rows of the grid and hash tables: :func:`unrender.nerf.nerf_optimizers` trains them
with :class:`unrender.nerf.RowAdam` (only the rows read, from their sparse gradients), the rest with Adam.

Its first channel is the raw log density (``exp(raw + density_bias)``, instant-ngp's activation: a
few steps move the density by orders of magnitude), the rest
are features decoded with the harmonic encoding of the direction by a small MLP
(sigmoid colour). A model is rebuilt from its :class:`NeRFConfig` alone, so a
checkpoint is the config as JSON and the state dict (:func:`save_nerf`, :func:`load_nerf`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from .._validate import check_positive_int, check_tensor
from ..fields import HarmonicEmbedding, HashGridField, MLPField, VoxelGridField
from ..fields import mlp

__all__ = ["FIELDS", "NeRFConfig", "NeRFModel", "save_nerf", "load_nerf"]

FIELDS = ("mlp", "grid", "hash")


@dataclass
class NeRFConfig:
    """Everything that shapes a :class:`NeRFModel` (JSON-serialisable).

    bound: half the side of the scene box ``[-bound, bound]^3`` (world units).
    features: feature channels passed from the position field to the colour head.
    position_harmonics / direction_harmonics: encoding frequencies (``"mlp"``
    position; every field's direction). hidden / layers: the ``"mlp"`` field's
    network. grid_resolution: the ``"grid"`` field's. hash_*: the ``"hash"`` field's.
    color_hidden / color_layers: the colour head. Defaults (a 64^3 grid of 1 + 8 channels) measured on a
    40-view 64x64 coloured sphere: 21.6 dB held out after 50 s of CPU training against 14.6 dB for
    96^3 x 16 (dense grids this large make each step slow: few steps fit in the budget). On the example
    scene (``example_views(40, 8, 128)``, one thread of a loaded 2-core CPU, view-independent): 27.5 dB
    held out after 100 s, 30.1 dB after 200 s, 30.4 dB after 300 s (2128 steps); in a busier run 23.3 dB
    after 150 s (493 steps); growing the grid 64 -> 96 -> 128 at 20 % / 50 % of that budget:
    19.6 dB (fewer, slower steps).
    view_dependent: False drops the direction
    from the colour head (a matte object seen from few views: the head cannot overfit directions).
    """

    field: str = "hash"
    bound: float = 1.0
    features: int = 8
    position_harmonics: int = 10
    direction_harmonics: int = 4
    hidden: int = 128
    layers: int = 4
    grid_resolution: int = 64
    hash_levels: int = 12
    hash_table_size: int = 2**17
    hash_base_resolution: int = 16
    hash_growth_factor: float = 1.45
    color_hidden: int = 64
    color_layers: int = 1
    density_bias: float = -1.0
    view_dependent: bool = True

    def __post_init__(self):
        if self.field not in FIELDS:
            raise ValueError(f"field: expected one of {FIELDS}, found {self.field!r}")
        if not float(self.bound) > 0:
            raise ValueError(f"bound: expected a positive half side of the scene box, found {self.bound}")
        for name in ("features", "hidden", "grid_resolution", "hash_levels", "hash_table_size", "color_hidden"):
            check_positive_int(name, getattr(self, name))
        for name in ("position_harmonics", "direction_harmonics", "layers", "color_layers"):
            check_positive_int(name, getattr(self, name), minimum=0)


class NeRFModel(nn.Module):
    """Density and view-dependent colour at world points (see the module docstring)."""

    def __init__(self, config: NeRFConfig | None = None, **overrides):
        super().__init__()
        config = NeRFConfig(**overrides) if config is None else config
        if not isinstance(config, NeRFConfig):
            raise ValueError(f"config: expected a NeRFConfig, found {type(config).__name__}")
        self.config = config
        c, out = config, 1 + config.features
        if c.field == "mlp":
            self.field = MLPField(3, out, c.hidden, c.layers, encoding=HarmonicEmbedding(c.position_harmonics))
        elif c.field == "grid":
            self.field = VoxelGridField(3, out, c.grid_resolution, sparse=True)
            with torch.no_grad():
                self.field.table.normal_(0.0, 0.1)
        else:
            self.field = HashGridField(3, out, c.hash_levels, c.hash_table_size, 2, c.hash_base_resolution,
                                       c.hash_growth_factor, sparse=True)
        self.direction_encoding = HarmonicEmbedding(c.direction_harmonics)
        width = c.features + (self.direction_encoding.get_output_dim(3) if c.view_dependent else 0)
        self.color_head = mlp(width, 3, c.color_hidden, c.color_layers)

    @property
    def bound(self) -> float:
        return float(self.config.bound)

    def density_and_features(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``points (N, 3)`` world -> ``density (N,)`` (zero outside the box) and ``features (N, features)``."""
        check_tensor("points", points, [None, 3], floating=True)
        raw = self.field(points / self.bound)
        sigma = torch.exp((raw[:, 0] + self.config.density_bias).clamp(max=15.0))
        sigma = torch.where((points.abs() <= self.bound).all(-1), sigma, torch.zeros_like(sigma))
        return sigma, raw[:, 1:]

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """``points (N, 3)`` world -> ``(N,)`` density."""
        return self.density_and_features(points)[0]

    def color(self, features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        """``features (N, features)``, unit ``directions (N, 3)`` -> ``rgb (N, 3)`` in ``[0, 1]``."""
        check_tensor("directions", directions, [features.shape[0], 3], floating=True)
        if features.shape[0] == 0:
            return features.new_zeros((0, 3))
        if self.config.view_dependent:
            features = torch.cat([features, self.direction_encoding(directions)], -1)
        return torch.sigmoid(self.color_head(features))

    def forward(self, points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``points (N, 3)`` world, ``directions (N, 3)`` unit -> ``(density (N,), rgb (N, 3))``."""
        sigma, features = self.density_and_features(points)
        return sigma, self.color(features, directions)


def save_nerf(path, model: NeRFModel | dict) -> tuple[Path, Path]:
    """Write ``<path>.json`` (the config) and ``<path>.pt`` (the state dict, tensors only).

    ``model``: a :class:`NeRFModel` or a dict of them (e.g. ``{"coarse": ..., "fine": ...}``).
    Returns the two paths."""
    models = model if isinstance(model, dict) else {"model": model}
    for k, m in models.items():
        if not isinstance(m, NeRFModel):
            raise ValueError(f"model[{k!r}]: expected a NeRFModel, found {type(m).__name__}")
    path = Path(path)
    cfg, weights = path.with_suffix(".json"), path.with_suffix(".pt")
    cfg.write_text(json.dumps({k: asdict(m.config) for k, m in models.items()}, indent=1))
    torch.save({k: {n: t.detach().cpu() for n, t in m.state_dict().items()} for k, m in models.items()}, weights)
    return cfg, weights


def load_nerf(path) -> NeRFModel | dict:
    """Read what :func:`save_nerf` wrote (``torch.load(weights_only=True)``): one model, or the dict of them."""
    path = Path(path)
    cfg, weights = path.with_suffix(".json"), path.with_suffix(".pt")
    for p in (cfg, weights):
        if not p.is_file():
            raise ValueError(f"path: expected the checkpoint file {p}, found none")
    configs = json.loads(cfg.read_text())
    states = torch.load(weights, map_location="cpu", weights_only=True)
    known = {f.name for f in fields(NeRFConfig)}
    models = {}
    for k, c in configs.items():
        unknown = set(c) - known
        if unknown:
            raise ValueError(f"{cfg}: unknown config keys {sorted(unknown)} for model {k!r}")
        models[k] = NeRFModel(NeRFConfig(**c))
        models[k].load_state_dict(states[k])
    return models["model"] if list(models) == ["model"] else models

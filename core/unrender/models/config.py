"""The configuration of a single-view model: a JSON-able dataclass, stored inside every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

__all__ = ["KINDS", "ENCODERS", "NORMS", "VOXEL_DECODERS", "ModelConfig"]

KINDS = ("vox", "points", "mesh")
ENCODERS = ("fast", "resnet18")
NORMS = ("group", "batch")
VOXEL_DECODERS = ("conv", "mlp")


def _choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, found {value!r}")


def _int(name: str, value, minimum: int, maximum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or (maximum is not None and value > maximum):
        top = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name}: expected an int >= {minimum}{top}, found {value!r}")


def _real(name: str, value, *, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, found {value!r}")


@dataclass
class ModelConfig:
    """What :func:`~unrender.models.build_model` builds.

    Attributes:
        kind: ``"vox"`` (occupancy logits), ``"points"`` (a point cloud) or ``"mesh"`` (a deformed icosphere).
        encoder: ``"fast"`` (:class:`FastEncoder`) or ``"resnet18"`` (:class:`ResNet18Encoder`).
        latent: size of the image code.
        norm: ``"group"`` (GroupNorm: per-sample statistics, so results do not depend on how a
            batch is split across DDP ranks) or ``"batch"``.
        image_size: input side in pixels (a multiple of 16).
        resolution: voxel grid side (vox); the conv decoder needs ``4 * 2**k``.
        voxel_decoder: ``"conv"`` (3D transposed convolutions) or ``"mlp"``.
        n_points: points predicted (points).
        hidden: width of the MLP decoders of points and meshes.
        ico_level, ico_radius: the starting sphere of the mesh model.
        mesh_samples: points sampled from the predicted mesh for the chamfer term (mesh).
        edge_weight, laplacian_weight, normal_weight: mesh regulariser weights (chamfer has weight 1).
        pos_weight: weight of occupied cells in the voxel BCE; ``None`` balances occupied and
            empty cells per sample (``losses.voxel_bce``'s default, about 4 here). A weight ``w``
            moves the 0.5 cut of the predicted probability to a true probability of ``1 / (1 + w)``;
            IoU (like F1) is best cut near ``F1* / 2``, about 0.4 for good predictions (Lipton et al.
            2014), hence 1.5: the balanced weight (cut near 0.2) fattens every uncertain boundary.
        level: vox: the occupancy probability where the surface is cut (the mesh, and the cells counted
            occupied). ``unrender train`` sets it at the end of a run to the level with the best F1@0.05 on
            the val split (:func:`unrender.train.calibrate_level`): thin parts (legs, poles) are a cell
            wide, and the network keeps their probability under 0.5, so 0.5 loses them.
        bounds: predictions live in ``[-bounds, bounds]^3``.
    """

    kind: str = "mesh"
    encoder: str = "fast"
    latent: int = 256
    norm: str = "group"
    image_size: int = 64
    resolution: int = 32
    voxel_decoder: str = "conv"
    n_points: int = 1024
    hidden: int = 512
    ico_level: int = 3
    ico_radius: float = 0.3
    mesh_samples: int = 2048
    edge_weight: float = 0.2
    laplacian_weight: float = 0.1
    normal_weight: float = 0.01
    pos_weight: float | None = 1.5
    level: float = 0.5
    bounds: float = 0.5

    def __post_init__(self) -> None:
        _choice("kind", self.kind, KINDS)
        _choice("encoder", self.encoder, ENCODERS)
        _choice("norm", self.norm, NORMS)
        _choice("voxel_decoder", self.voxel_decoder, VOXEL_DECODERS)
        _int("latent", self.latent, 1)
        _int("image_size", self.image_size, 16, 1024)
        if self.image_size % 16:
            raise ValueError(f"image_size: expected a multiple of 16, found {self.image_size}")
        _int("resolution", self.resolution, 4, 128)
        if self.voxel_decoder == "conv" and (self.resolution & (self.resolution - 1) or self.resolution < 8):
            raise ValueError(f"resolution: expected 4 * 2**k (8, 16, 32, 64, 128) for the conv decoder, found {self.resolution}")
        _int("n_points", self.n_points, 1)
        _int("hidden", self.hidden, 1)
        _int("ico_level", self.ico_level, 0, 6)
        _int("mesh_samples", self.mesh_samples, 1)
        _real("bounds", self.bounds, positive=True)
        _real("ico_radius", self.ico_radius, positive=True)
        if self.ico_radius >= self.bounds:
            raise ValueError(f"ico_radius: expected < bounds ({self.bounds}), found {self.ico_radius}")
        for name in ("edge_weight", "laplacian_weight", "normal_weight"):
            _real(name, getattr(self, name), positive=False)
        if self.pos_weight is not None:
            _real("pos_weight", self.pos_weight, positive=True)
        _real("level", self.level, positive=True)
        if self.level >= 1:
            raise ValueError(f"level: expected a probability in (0, 1), found {self.level}")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """A config from a dict; unknown keys are a ``ValueError`` naming them."""
        if not isinstance(values, dict):
            raise ValueError(f"config: expected a dict, found {type(values).__name__}")
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"config: unknown keys {unknown}")
        return cls(**values)

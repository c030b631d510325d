"""The single-view model: an image encoder and one decoder, with its loss and its prediction to meshes."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_tensor
from ..geometry import enclosing_surface, marching_cubes, sample_points_from_meshes
from ..losses import chamfer_distance, mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency, voxel_bce
from ..structures import Meshes, PointClouds, Voxels
from .config import ModelConfig
from .decoders import MeshDecoder, PointDecoder, VoxelConvDecoder, VoxelMLPDecoder
from .encoders import FastEncoder, ResNet18Encoder

__all__ = ["Prediction", "SingleViewModel", "build_model", "POINTS_SURFACE_RESOLUTION"]

# Grid of the closed surface around a predicted point cloud: about one cell per point spacing
# of 1024 points on an object of radius 0.5, so neighbouring points touch and the shell seals.
POINTS_SURFACE_RESOLUTION = 32


class Prediction:
    """What :meth:`SingleViewModel.predict` gives: ``meshes`` for every kind, plus the
    ``voxels`` (occupancy probabilities) of a vox model or the ``points`` of a points model.

    A points model's meshes (closed surfaces around its clouds, about 20x its forward pass) are built on
    first use, so a caller that only reads ``points`` (evaluation, training pictures) never pays for them.
    """

    def __init__(self, meshes: Meshes | Callable[[], Meshes], voxels: Voxels | None = None,
                 points: PointClouds | None = None) -> None:
        self._meshes = meshes
        self.voxels = voxels
        self.points = points

    @property
    def meshes(self) -> Meshes:
        if callable(self._meshes):
            self._meshes = self._meshes()
        return self._meshes


def _points_surfaces(clouds: torch.Tensor) -> Meshes:
    """The closed surface around each cloud of ``clouds (B, N, 3)``; an empty mesh where a cloud encloses nothing."""
    verts, faces = [], []
    for points in clouds:
        try:
            v, f = enclosing_surface(PointClouds([points]), POINTS_SURFACE_RESOLUTION)
        except ValueError:  # a flat or collapsed cloud encloses no volume
            v, f = points.new_zeros(0, 3), torch.zeros(0, 3, dtype=torch.int64, device=points.device)
        verts.append(v)
        faces.append(f)
    return Meshes(verts, faces)


def _encoder(config: ModelConfig) -> nn.Module:
    if config.encoder == "resnet18":
        return ResNet18Encoder(config.latent, config.norm)
    return FastEncoder(config.latent, config.norm, image_size=config.image_size)


def _decoder(config: ModelConfig) -> nn.Module:
    if config.kind == "vox":
        if config.voxel_decoder == "mlp":
            return VoxelMLPDecoder(config.latent, config.resolution)
        return VoxelConvDecoder(config.latent, config.resolution, norm=config.norm)
    if config.kind == "points":
        return PointDecoder(config.latent, config.n_points, config.hidden)
    return MeshDecoder(config.latent, config.ico_level, config.ico_radius, config.bounds, config.hidden)


class SingleViewModel(nn.Module):
    """One picture in, one object out (viewer-centred: the object in the camera's view axes,
    centred on its origin, inside ``[-bounds, bounds]^3``).

    ``forward(images (B, 4, S, S)) -> `` vox: ``(B, R, R, R)`` logits (Voxels order ``[z, y, x]``);
    points: ``(B, N, 3)``; mesh: verts ``(B, V, 3)`` over the fixed ``decoder.faces``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config: expected a ModelConfig, found {type(config).__name__}")
        self.config = config
        self.encoder = _encoder(config)
        self.decoder = _decoder(config)

    @property
    def kind(self) -> str:
        return self.config.kind

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        S = self.config.image_size
        check_tensor("images", images, [None, 4, S, S], floating=True)
        return self.decoder(self.encoder(images))

    def meshes(self, verts: torch.Tensor) -> Meshes:
        """A mesh model's output ``verts (B, V, 3)`` as a ``Meshes`` batch over the sphere's faces."""
        faces = self.decoder.faces
        return Meshes(verts, faces.expand(verts.shape[0], *faces.shape))

    def loss(self, output: torch.Tensor, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of ``output = self(batch["image"])`` against the batch's truth.

        vox: ``voxel_bce(logits, batch["voxels"], pos_weight)``; points: chamfer to ``batch["points"]``;
        mesh: chamfer between ``mesh_samples`` points of the predicted meshes and ``batch["points"]``
        plus the weighted edge, Laplacian (uniform) and normal-consistency regularisers.
        Returns ``(loss, {term: float})``; the dict has every term and ``"loss"``.
        """
        cfg = self.config
        key = "voxels" if cfg.kind == "vox" else "points"
        if not isinstance(batch, dict) or key not in batch:
            found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"batch: expected a dict with {key!r} for a {cfg.kind} model, found {found}")
        if cfg.kind == "vox":
            loss = voxel_bce(output, batch["voxels"], pos_weight=cfg.pos_weight)
            return loss, {"loss": float(loss.detach()), "bce": float(loss.detach())}
        target = batch["points"].to(output.dtype)
        if cfg.kind == "points":
            loss = chamfer_distance(output, target)[0]
            return loss, {"loss": float(loss.detach()), "chamfer": float(loss.detach())}
        meshes = self.meshes(output)
        samples = sample_points_from_meshes(meshes, cfg.mesh_samples)
        terms = {
            "chamfer": chamfer_distance(samples, target)[0],
            "edge": mesh_edge_loss(meshes),
            "laplacian": mesh_laplacian_smoothing(meshes, method="uniform"),
            "normal": mesh_normal_consistency(meshes),
        }
        loss = terms["chamfer"] + cfg.edge_weight * terms["edge"] + cfg.laplacian_weight * terms["laplacian"]
        loss = loss + cfg.normal_weight * terms["normal"]
        return loss, {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        """Meshes (and voxels or points) for ``images (B, 4, S, S)``, in eval mode, without gradients.

        vox: marching cubes of the probabilities at ``config.level``, the grid padded by one empty cell so the
        surface closes at the border; points: ``geometry.enclosing_surface`` of each cloud;
        mesh: the deformed sphere. An empty prediction gives an empty mesh in its place.
        """
        was_training = self.training
        self.eval()
        try:
            output = self(images)
        finally:
            self.train(was_training)
        b, B = self.config.bounds, output.shape[0]
        if self.kind == "mesh":
            return Prediction(self.meshes(output))
        if self.kind == "points":
            return Prediction(lambda: _points_surfaces(output), points=PointClouds(output))
        probs = torch.sigmoid(output)
        box = torch.tensor([[-b] * 3, [b] * 3], dtype=probs.dtype, device=probs.device)
        cell = 2 * b / self.config.resolution
        padded_box = box + torch.tensor([[-cell], [cell]], dtype=probs.dtype, device=probs.device)
        meshes = marching_cubes(F.pad(probs, (1, 1, 1, 1, 1, 1)), self.config.level, padded_box.expand(B, 2, 3))
        return Prediction(meshes, voxels=Voxels(probs, box))


def build_model(config: ModelConfig | dict | None = None, **overrides) -> SingleViewModel:
    """A randomly initialised :class:`SingleViewModel` from a config (or a dict of its fields, or keywords)."""
    if config is None:
        config = ModelConfig.from_dict(overrides)
    elif isinstance(config, dict):
        config = ModelConfig.from_dict({**config, **overrides})
    elif overrides:
        config = ModelConfig.from_dict({**config.to_dict(), **overrides})
    return SingleViewModel(config)

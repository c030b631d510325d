"""Decoders from a ``(B, latent)`` code to voxels, points or a mesh, in the view frame, in ``[-bounds, bounds]^3``."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..geometry import icosphere_verts_faces
from .layers import mlp, norm_layer

__all__ = ["VoxelMLPDecoder", "VoxelConvDecoder", "PointDecoder", "MeshDecoder"]

# Starting bias of the occupancy logits: sigmoid(-2) = 0.12, about the share of occupied cells.
_OCCUPANCY_PRIOR_LOGIT = -2.0


class VoxelMLPDecoder(nn.Module):
    """An MLP ``latent -> hidden -> hidden -> resolution**3`` occupancy logits.

    ``forward(code (B, latent)) -> (B, R, R, R)`` logits in Voxels order ``[z, y, x]``.
    At resolution 32 and hidden 256 it has about 8.5 M parameters (the last layer is
    ``hidden * R**3``), so it is an option for comparison, not a shipped model.
    """

    def __init__(self, latent: int = 256, resolution: int = 32, hidden: int = 256) -> None:
        super().__init__()
        self.resolution = resolution
        self.net = mlp([latent, hidden, hidden, resolution**3])
        nn.init.constant_(self.net[-1].bias, _OCCUPANCY_PRIOR_LOGIT)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        R = self.resolution
        return self.net(code).view(-1, R, R, R)


class VoxelConvDecoder(nn.Module):
    """A linear map to a ``4^3 x channels`` grid, then stride-2 3D transposed convolutions
    (4x4x4 kernels, channels halved each time, norm + ReLU between them), the last one straight
    to one logit per cell at ``resolution^3`` (a feature grid at full resolution and a conv after
    it made a training step about four times slower on the CPU).

    ``forward(code (B, latent)) -> (B, R, R, R)`` logits in Voxels order ``[z, y, x]``.
    About 1.2 M parameters at latent 256, resolution 32, 64 channels.
    """

    def __init__(self, latent: int = 256, resolution: int = 32, channels: int = 64, norm: str = "group") -> None:
        super().__init__()
        ups = int(round(math.log2(resolution / 4)))
        if ups < 1 or 4 * 2**ups != resolution:
            raise ValueError(f"resolution: expected 4 * 2**k with k >= 1, found {resolution}")
        self.channels = channels
        self.fc = nn.Linear(latent, channels * 64)
        layers: list[nn.Module] = [norm_layer(norm, channels, 3), nn.ReLU(inplace=True)]
        c = channels
        for _ in range(ups - 1):
            c_out = max(c // 2, 8)
            layers += [nn.ConvTranspose3d(c, c_out, 4, 2, 1, bias=False), norm_layer(norm, c_out, 3), nn.ReLU(inplace=True)]
            c = c_out
        layers.append(nn.ConvTranspose3d(c, 1, 4, 2, 1))
        self.net = nn.Sequential(*layers)
        nn.init.constant_(self.net[-1].bias, _OCCUPANCY_PRIOR_LOGIT)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        x = self.fc(code).view(-1, self.channels, 4, 4, 4)
        return self.net(x)[:, 0]


class PointDecoder(nn.Module):
    """An MLP ``latent -> hidden -> hidden -> 3 N`` (a PSGN-style fully connected head).

    ``forward(code (B, latent)) -> (B, N, 3)`` points. About 2 M parameters at N 1024, hidden 512.
    """

    def __init__(self, latent: int = 256, n_points: int = 1024, hidden: int = 512) -> None:
        super().__init__()
        self.n_points = n_points
        self.net = mlp([latent, hidden, hidden, 3 * n_points])

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).view(-1, self.n_points, 3)


class MeshDecoder(nn.Module):
    """Vertex offsets of an icosphere from an MLP ``latent -> hidden -> hidden -> 3 V``.

    ``verts = icosphere(level) * radius + offsets``, written as
    ``bounds * tanh(atanh(sphere / bounds) + mlp(code))`` so every coordinate stays inside
    ``(-bounds, bounds)``; the last layer starts at zero, so an untrained decoder gives the sphere.
    ``forward(code (B, latent)) -> verts (B, V, 3)``; ``faces (F, 3)`` int64 is a buffer.
    Level 3 (642 vertices, 1280 faces), hidden 512: about 1.4 M parameters.
    """

    def __init__(self, latent: int = 256, level: int = 3, radius: float = 0.3, bounds: float = 0.5, hidden: int = 512) -> None:
        super().__init__()
        if not 0 < radius < bounds:
            raise ValueError(f"radius: expected 0 < radius < bounds ({bounds}), found {radius}")
        verts, faces = icosphere_verts_faces(level)
        self.bounds = float(bounds)
        self.register_buffer("sphere", verts * radius, persistent=False)
        self.register_buffer("faces", faces, persistent=False)
        self.net = mlp([latent, hidden, hidden, 3 * verts.shape[0]])
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        base = torch.atanh(self.sphere / self.bounds)
        delta = self.net(code).view(code.shape[0], -1, 3)
        return self.bounds * torch.tanh(base + delta)

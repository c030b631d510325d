"""The interface every neural field shares: ``(..., in_dim)`` points to ``(..., out_dim)`` values."""

from __future__ import annotations

import torch
from torch import nn

from .._validate import check_positive_int, check_tensor

__all__ = ["Field", "mlp"]


class Field(nn.Module):
    """A field over ``[-1, 1]^in_dim`` with ``out_dim`` channels.

    Subclasses implement ``evaluate(points: (N, in_dim)) -> (N, out_dim)``;
    ``forward`` checks the input and keeps its leading dimensions, so NeRF and
    SDF code can take any field: ``field(points (..., in_dim)) -> (..., out_dim)``.
    Values are raw (no output activation): the caller applies its own.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim = check_positive_int("in_dim", in_dim)
        self.out_dim = check_positive_int("out_dim", out_dim)

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate(points (N, in_dim)) -> (N, out_dim)")

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        check_tensor("points", points, ["...", self.in_dim], floating=True)
        out = self.evaluate(points.reshape(-1, self.in_dim))
        return out.reshape(*points.shape[:-1], self.out_dim)


def mlp(in_dim: int, out_dim: int, hidden: int, layers: int, activation=nn.ReLU) -> nn.Sequential:
    """``layers`` hidden linear layers of width ``hidden`` with ``activation``, then a linear output layer."""
    check_positive_int("hidden", hidden)
    check_positive_int("layers", layers, minimum=0)
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), activation()]
        width = hidden
    mods.append(nn.Linear(width, out_dim))
    return nn.Sequential(*mods)

"""Coordinate networks: an MLP (optionally on an encoding of its input) and SIREN."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import check_positive_int, parse_real
from .base import Field, mlp

__all__ = ["MLPField", "SirenField"]


class MLPField(Field):
    """A ReLU MLP on the points, or on ``encoding(points)`` when an encoding is given.

    ``encoding``: any module with ``get_output_dim(in_dim)`` (``HarmonicEmbedding``,
    ``HashGridEncoding``); ``layers`` hidden layers of width ``hidden``.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128, layers: int = 4, encoding: nn.Module | None = None):
        super().__init__(in_dim, out_dim)
        if encoding is not None and not hasattr(encoding, "get_output_dim"):
            raise ValueError(f"encoding: expected a module with get_output_dim(in_dim), found {type(encoding).__name__}")
        self.encoding = encoding
        width = in_dim if encoding is None else encoding.get_output_dim(in_dim)
        self.net = mlp(width, out_dim, hidden, layers)

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(points if self.encoding is None else self.encoding(points))


class _Sine(nn.Module):
    def __init__(self, linear: nn.Linear, omega_0: float):
        super().__init__()
        self.linear, self.omega_0 = linear, omega_0

    def forward(self, x):
        return torch.sin(self.omega_0 * self.linear(x))


class SirenField(Field):
    """SIREN (Sitzmann et al. 2020): ``sin(omega_0 (W x + b))`` layers and a linear output.

    Sitzmann's initialisation: the first layer's weights uniform in
    ``[-1/in_dim, 1/in_dim]``, the others in ``[-sqrt(6/n)/omega_0, sqrt(6/n)/omega_0]``
    (``n``: the layer's fan-in), biases as ``nn.Linear``'s default;
    ``first_omega_0`` scales the first layer, ``hidden_omega_0`` the others.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: int = 128,
        layers: int = 4,
        first_omega_0: float = 30.0,
        hidden_omega_0: float = 30.0,
    ):
        super().__init__(in_dim, out_dim)
        check_positive_int("hidden", hidden)
        check_positive_int("layers", layers)
        first_omega_0 = parse_real("first_omega_0", first_omega_0)
        hidden_omega_0 = parse_real("hidden_omega_0", hidden_omega_0)
        mods = []
        width = in_dim
        with torch.no_grad():
            for i in range(layers):
                lin = nn.Linear(width, hidden)
                bound = 1.0 / width if i == 0 else math.sqrt(6.0 / width) / hidden_omega_0
                lin.weight.uniform_(-bound, bound)
                mods.append(_Sine(lin, first_omega_0 if i == 0 else hidden_omega_0))
                width = hidden
            out = nn.Linear(width, out_dim)
            bound = math.sqrt(6.0 / width) / hidden_omega_0
            out.weight.uniform_(-bound, bound)
        self.net = nn.Sequential(*mods, out)

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(points)

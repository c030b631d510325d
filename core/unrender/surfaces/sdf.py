"""A signed distance field network: SDF + feature vector, geometric initialisation, normals by autograd or by
central differences."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_positive_int, check_tensor, parse_real
from ..fields import Field, HarmonicEmbedding, HashGridEncoding

__all__ = ["MultiGridEncoding", "SDFField", "sdf_and_gradient"]


class MultiGridEncoding(nn.Module):
    """Dense feature grids at several resolutions over ``[-1, 1]^3``, read trilinearly (``grid_sample``) and
    concatenated: ``(..., 3) -> (..., len(resolutions) * features)``.

    The hash grid without hashing, for a scene small enough that every level fits: one ``grid_sample`` a level
    is several times faster on the CPU than the hash grid's gathers. Grids start uniform in ``[-1e-4, 1e-4]``.
    Points outside the box read the border.
    """

    def __init__(self, resolutions=(16, 32, 64, 128), features: int = 2):
        super().__init__()
        check_positive_int("features", features)
        self.resolutions = tuple(check_positive_int("resolutions", int(r), minimum=2) for r in resolutions)
        self.features = features
        self.grids = nn.ParameterList(nn.Parameter(torch.empty(1, features, r, r, r).uniform_(-1e-4, 1e-4))
                                      for r in self.resolutions)

    def get_output_dim(self, input_dims: int = 3) -> int:
        return len(self.resolutions) * self.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (..., 3)`` in ``[-1, 1]`` -> ``(..., len(resolutions) * features)``."""
        lead = x.shape[:-1]
        where = x.reshape(1, -1, 1, 1, 3)
        out = [F.grid_sample(g, where.to(g.dtype), mode="bilinear", padding_mode="border", align_corners=True)
               .reshape(self.features, -1) for g in self.grids]
        return torch.cat(out, 0).t().reshape(*lead, -1)


class SDFField(Field):
    """An MLP whose first output is a signed distance (negative inside) and the rest a feature vector.

    ``field(points (..., 3)) -> (..., 1 + feature_dim)``. The MLP reads the raw
    point concatenated with its ``encoding`` (``"harmonic"``: ``HarmonicEmbedding(n_frequencies)``,
    ``"hash"``: ``HashGridEncoding`` (the instant-NSR / NeuS2 choice), ``"grid"``: :class:`MultiGridEncoding`
    (dense grids, the fastest on the CPU), or ``None``). ``encoding_options`` go to the encoding.
    Softplus (beta 100) activations, as IDR / NeuS.

    Geometric initialisation: the sphere of ``radius`` about the origin. SAL / IGR
    (Atzmon & Lipman 2020) reach it in expectation over random weights; at the
    small widths a CPU affords (64) one draw is off by about 0.1, so the sphere
    is written out: ``sdf(x) = |x| - radius + mlp(x)`` with the MLP's SDF output
    starting at exactly zero (its hidden layers as SAL's ``N(0, 2 / width)``),
    so the field starts as that sphere's SDF with unit gradient and the MLP
    learns the difference.
    """

    def __init__(self, hidden: int = 64, layers: int = 2, feature_dim: int = 16, encoding: str | None = "hash",
                 radius: float = 0.5, n_frequencies: int = 6, **encoding_options):
        super().__init__(3, 1 + check_positive_int("feature_dim", feature_dim, minimum=0))
        check_positive_int("hidden", hidden)
        check_positive_int("layers", layers, minimum=0)
        self.radius = parse_real("radius", radius)
        if encoding == "hash":
            self.encoding = HashGridEncoding(3, **{"levels": 8, "table_size": 2**15, "base_resolution": 8,
                                                   "growth_factor": 1.5, **encoding_options})
        elif encoding == "grid":
            self.encoding = MultiGridEncoding(**encoding_options)
        elif encoding == "harmonic":
            self.encoding = HarmonicEmbedding(n_frequencies, append_input=False)
        elif encoding is None:
            self.encoding = None
        else:
            raise ValueError(f"encoding: expected 'hash', 'grid', 'harmonic' or None, found {encoding!r}")
        enc_dim = 0 if self.encoding is None else self.encoding.get_output_dim(3)
        self.feature_dim = feature_dim
        dims = [3 + enc_dim] + [hidden] * layers
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.out = nn.Linear(dims[-1], 1 + feature_dim)
        self.activation = nn.Softplus(beta=100)
        with torch.no_grad():
            for i, lin in enumerate(self.linears):
                nn.init.normal_(lin.weight, 0.0, math.sqrt(2.0 / lin.out_features))
                nn.init.zeros_(lin.bias)
                if i == 0:
                    lin.weight[:, 3:] = 0.0
            nn.init.normal_(self.out.weight, 0.0, 1e-4)
            nn.init.zeros_(self.out.bias)
            self.out.weight[0] = 0.0
            if layers == 0 and self.encoding is not None:  # the SDF is the encoding's sum: gradients reach it at once
                self.out.weight[0, 3:] = 1.0

    def evaluate(self, points: torch.Tensor) -> torch.Tensor:
        h = points if self.encoding is None else torch.cat([points, self.encoding(points)], -1)
        for lin in self.linears:
            h = self.activation(lin(h))
        out = self.out(h)
        sphere = points.norm(dim=-1, keepdim=True) - self.radius
        return torch.cat([out[:, :1] + sphere, out[:, 1:]], -1)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """``points (..., 3)`` -> ``(...)`` signed distances."""
        return self(points)[..., 0]


def sdf_and_gradient(field: SDFField, points: torch.Tensor, create_graph: bool = True, delta: float | None = None):
    """``points (..., 3)`` -> ``(out (..., 1 + feature_dim), gradient (..., 3))``: the field's values and the
    gradient of its SDF channel (the unnormalised normal) by autograd; ``create_graph`` keeps it
    differentiable (eikonal terms). Works under ``torch.no_grad()`` too.

    With ``delta``, the gradient is central differences of step ``delta`` instead (Neuralangelo): six more
    evaluations but no double backward, which grid encodings (``grid_sample``, gathers) make slow or lack;
    it stays differentiable with respect to the field's parameters."""
    check_tensor("points", points, ["...", 3], floating=True)
    if delta is not None:
        delta = parse_real("delta", delta)
        offsets = torch.eye(3, dtype=points.dtype, device=points.device) * delta
        offsets = torch.cat([offsets, -offsets])  # (6, 3)
        shifted = points.unsqueeze(-2) + offsets  # (..., 6, 3)
        out = field(torch.cat([points.unsqueeze(-2), shifted], -2))  # (..., 7, 1 + F)
        sdf = out[..., 1:, 0]
        grad = (sdf[..., :3] - sdf[..., 3:]) / (2 * delta)
        return out[..., 0, :], grad
    grad_enabled = torch.is_grad_enabled()
    with torch.enable_grad():
        x = points.detach().requires_grad_(True) if not points.requires_grad else points
        out = field(x)
        (grad,) = torch.autograd.grad(out[..., 0].sum(), x, create_graph=create_graph and grad_enabled)
    return (out, grad) if grad_enabled else (out.detach(), grad.detach())

"""Building blocks shared by the encoders and decoders."""

from __future__ import annotations

from torch import nn

__all__ = ["norm_layer", "mlp"]


def norm_layer(norm: str, channels: int, dim: int = 2) -> nn.Module:
    """GroupNorm (``"group"``: up to 32 groups of at least 4 channels) or BatchNorm of ``dim`` (2 or 3) spatial dims."""
    if norm == "group":
        return nn.GroupNorm(max(1, min(32, channels // 4)), channels)
    if norm == "batch":
        return nn.BatchNorm2d(channels) if dim == 2 else nn.BatchNorm3d(channels)
    raise ValueError(f"norm: expected 'group' or 'batch', found {norm!r}")


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers of ``sizes[0] -> ... -> sizes[-1]`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)

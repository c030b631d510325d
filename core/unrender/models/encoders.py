"""Image encoders: ``(B, 4, H, W)`` network input (RGB over white + alpha) -> ``(B, latent)`` code."""

from __future__ import annotations

import torch
from torch import nn

from .layers import norm_layer

__all__ = ["ResNet18Encoder", "FastEncoder"]


def _conv_norm_relu(cin: int, cout: int, stride: int, norm: str) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), norm_layer(norm, cout), nn.ReLU(inplace=True))


class _BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 convs and a shortcut (1x1 conv when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = norm_layer(norm, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = norm_layer(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm_layer(norm, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Encoder(nn.Module):
    """ResNet-18 (He et al. 2016; torchvision's layout: 7x7 stem, max pool, BasicBlock [2, 2, 2, 2] with
    64, 128, 256, 512 channels, global average pool), randomly initialised, then a linear map to ``latent``.

    ``forward(images (B, in_channels, H, W)) -> (B, latent)``. About 11.4 M parameters at latent 256.
    """

    def __init__(self, latent: int = 256, norm: str = "group", in_channels: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False),
            norm_layer(norm, 64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        layers, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(_BasicBlock(cin, cout, stride, norm), _BasicBlock(cout, cout, 1, norm)))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, latent)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(images))
        return self.fc(x.mean(dim=(2, 3)))


class FastEncoder(nn.Module):
    """A small conv net: four stride-2 3x3 convs (32, 64, 128, 256 channels; one more 3x3 conv at 1/8
    scale), a 1x1 conv to 64 channels at 1/16 scale, flattened (the layout of the object in the picture
    is kept, unlike a global pool) and a linear map to ``latent``.

    ``forward(images (B, in_channels, S, S)) -> (B, latent)``, ``S = image_size`` (a multiple of 16).
    About 0.85 M parameters at 64 px and latent 256.
    """

    def __init__(self, latent: int = 256, norm: str = "group", in_channels: int = 4, image_size: int = 64) -> None:
        super().__init__()
        if image_size % 16:
            raise ValueError(f"image_size: expected a multiple of 16, found {image_size}")
        self.image_size = image_size
        self.features = nn.Sequential(
            _conv_norm_relu(in_channels, 32, 2, norm),
            _conv_norm_relu(32, 64, 2, norm),
            _conv_norm_relu(64, 128, 2, norm),
            _conv_norm_relu(128, 128, 1, norm),
            _conv_norm_relu(128, 256, 2, norm),
            nn.Conv2d(256, 64, 1),
            nn.ReLU(inplace=True),
        )
        side = image_size // 16
        self.fc = nn.Linear(64 * side * side, latent)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"images: expected {self.image_size}x{self.image_size} pixels, found {tuple(images.shape[-2:])}")
        return self.fc(self.features(images).flatten(1))

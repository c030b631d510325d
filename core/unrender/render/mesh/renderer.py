"""Mesh renderer: a rasteriser followed by a shader."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["MeshRenderer", "MeshRendererWithFragments"]

# Keyword arguments only the shader understands (the rasteriser does not get them).
_SHADER_ONLY = ("lights", "materials", "blend_params", "textures", "znear", "zfar")


def _rasterizer_kwargs(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k not in _SHADER_ONLY}


class MeshRenderer(nn.Module):
    """``images = MeshRenderer(rasterizer, shader)(meshes, textures=..., cameras=..., lights=...)``.

    Args:
        rasterizer: a module mapping world-space ``Meshes`` to fragments
            (``MeshRasterizer``), called with ``cameras``/``raster_settings``
            overrides.
        shader: a shader module (``HardPhongShader``, ...), called with the
            fragments, the meshes and every keyword argument.

    ``textures`` (``TexturesVertex``, ``TexturesUV`` or a ``(V, 3)`` colour
    tensor) travels beside the meshes, which carry no texture. Returns the
    shader's output, ``(N, H, W, 4)`` RGBA for the colour shaders.
    """

    def __init__(self, rasterizer, shader) -> None:
        super().__init__()
        self.rasterizer = rasterizer
        self.shader = shader

    def to(self, device):
        self.rasterizer.to(device)
        self.shader.to(device)
        return self

    def forward(self, meshes_world, textures=None, **kwargs) -> torch.Tensor:
        fragments = self.rasterizer(meshes_world, **_rasterizer_kwargs(kwargs))
        if textures is not None:
            kwargs["textures"] = textures
        return self.shader(fragments, meshes_world, **kwargs)


class MeshRendererWithFragments(MeshRenderer):
    """Like ``MeshRenderer`` but returns ``(images, fragments)`` (e.g. for depth)."""

    def forward(self, meshes_world, textures=None, **kwargs):
        fragments = self.rasterizer(meshes_world, **_rasterizer_kwargs(kwargs))
        if textures is not None:
            kwargs["textures"] = textures
        return self.shader(fragments, meshes_world, **kwargs), fragments

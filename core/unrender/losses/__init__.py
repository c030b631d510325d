"""Losses: chamfer distance, mesh regularisers, voxel BCE."""

from .chamfer import chamfer_distance
from .mesh import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
from .voxel import voxel_bce

__all__ = [
    "chamfer_distance",
    "mesh_edge_loss",
    "mesh_laplacian_smoothing",
    "mesh_normal_consistency",
    "voxel_bce",
]

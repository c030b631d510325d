"""Batched geometry containers: meshes, point clouds and voxel grids."""

from .meshes import Meshes, join_meshes_as_batch
from .pointclouds import PointClouds
from .utils import list_to_padded, packed_to_padded, padded_to_list, padded_to_packed
from .voxels import Voxels

__all__ = [
    "Meshes",
    "PointClouds",
    "Voxels",
    "join_meshes_as_batch",
    "list_to_padded",
    "padded_to_list",
    "packed_to_padded",
    "padded_to_packed",
]

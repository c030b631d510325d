"""Batched geometry containers: meshes, point clouds, voxel grids and volumes."""

from .meshes import Meshes, join_meshes_as_batch, join_meshes_as_scene
from .pointclouds import PointClouds, Pointclouds
from .utils import batch_indices, list_to_padded, normalize_to_unit_sphere, packed_to_padded, padded_to_list, padded_to_packed
from .volumes import Volumes
from .voxels import Voxels

__all__ = [
    "batch_indices",
    "normalize_to_unit_sphere",
    "Meshes",
    "PointClouds",
    "Pointclouds",
    "Volumes",
    "Voxels",
    "join_meshes_as_batch",
    "join_meshes_as_scene",
    "list_to_padded",
    "padded_to_list",
    "packed_to_padded",
    "padded_to_packed",
]

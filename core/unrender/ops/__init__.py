"""Geometry operators: nearest neighbours, mesh Laplacians, mesh connectivity."""

from .knn import DEFAULT_CHUNK_BYTES, KNN, check_chunk_bytes, knn_gather, knn_indices, knn_points, point_distances
from .laplacian import cot_laplacian, cot_weights, laplacian, norm_laplacian, vertex_areas
from .topology import MeshTopology, mesh_topology

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "check_chunk_bytes",
    "knn_indices",
    "point_distances",
    "cot_weights",
    "vertex_areas",
    "KNN",
    "knn_points",
    "knn_gather",
    "laplacian",
    "cot_laplacian",
    "norm_laplacian",
    "MeshTopology",
    "mesh_topology",
]

"""Geometry operators: nearest neighbours, mesh Laplacians, mesh connectivity."""

from .knn import KNN, knn_gather, knn_points
from .laplacian import cot_laplacian, laplacian, norm_laplacian
from .topology import MeshTopology, mesh_topology

__all__ = [
    "KNN",
    "knn_points",
    "knn_gather",
    "laplacian",
    "cot_laplacian",
    "norm_laplacian",
    "MeshTopology",
    "mesh_topology",
]

"""Neural fields: encodings (harmonic, hash grid), fields over ``[-1, 1]^D`` (MLP, SIREN, dense grid, hybrid,
tri-plane / ground plan, hash grid) sharing one interface, and fitting them to an image or to a mesh's occupancy."""

from .base import Field, mlp
from .encodings import HASH_PRIMES, HarmonicEmbedding, HashGridEncoding
from .fit import (
    FitResult,
    field_surface,
    fit_image,
    fit_occupancy,
    image_coordinates,
    occupancy_samples,
    procedural_image,
)
from .grids import DenseGridField, HashGridField, HybridField, TriPlaneField, VoxelGridField, sample_grid
from .mlp_fields import MLPField, SirenField

__all__ = [
    "Field",
    "mlp",
    "HASH_PRIMES",
    "HarmonicEmbedding",
    "HashGridEncoding",
    "MLPField",
    "SirenField",
    "sample_grid",
    "DenseGridField",
    "VoxelGridField",
    "HybridField",
    "TriPlaneField",
    "HashGridField",
    "FitResult",
    "procedural_image",
    "image_coordinates",
    "fit_image",
    "occupancy_samples",
    "fit_occupancy",
    "field_surface",
]

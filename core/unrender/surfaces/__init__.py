"""Neural surfaces: an SDF network with geometric initialisation, sphere tracing, SDF fitting to points with an
eikonal term (IGR), and NeuS volume rendering of an SDF trained on posed images."""

from .fit_points import fit_sdf_to_points, sdf_mesh
from .neus import NeuSModel, neus_alpha, neus_upsample, surface_model, train_surface
from .sdf import MultiGridEncoding, SDFField, sdf_and_gradient
from .sphere_tracing import render_sdf, sdf_normals, sphere_trace

__all__ = [
    "MultiGridEncoding",
    "SDFField",
    "sdf_and_gradient",
    "sphere_trace",
    "sdf_normals",
    "render_sdf",
    "fit_sdf_to_points",
    "sdf_mesh",
    "neus_alpha",
    "neus_upsample",
    "NeuSModel",
    "surface_model",
    "train_surface",
]

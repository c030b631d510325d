"""Geometry: primitives, generated target shapes, surface sampling, conversions between representations, remeshing, surface topology, rotations."""

from .cubify import cubify
from .enclose import enclosing_surface, points_occupancy
from .depth import depth_to_points, project_points, unproject_depth
from .marching_cubes import marching_cubes, marching_cubes_implicit
from .remesh import *  # noqa: F401,F403  (the operations listed in remesh.__all__)
from .remesh import __all__ as _remesh_names
from .primitives import (
    cube,
    ico_sphere,
    icosphere,
    icosphere_verts_faces,
    parametric_surface,
    sample_sphere,
    sphere_sdf,
    subdivide,
    torus,
    torus_sdf,
    uv_sphere,
)
from .rotations import *  # noqa: F401,F403  (the conversions listed in rotations.__all__)
from .rotations import __all__ as _rotation_names
from .sampling import SurfaceSamples, sample_points_from_meshes, sample_surface
from .surface_topology import SurfaceTopology, connected_components, surface_topology, weld_vertices
from .shapes import TARGET_SHAPES, bumpy_ellipsoid, radial_mesh, rounded_cube, superquadric, target_shape
from .voxelize import closed_surface, mesh_to_voxels, points_inside_mesh, winding_number

__all__ = [
    "cube",
    "icosphere",
    "ico_sphere",
    "icosphere_verts_faces",
    "parametric_surface",
    "sample_sphere",
    "sphere_sdf",
    "subdivide",
    "torus",
    "torus_sdf",
    "uv_sphere",
    "TARGET_SHAPES",
    "bumpy_ellipsoid",
    "radial_mesh",
    "rounded_cube",
    "superquadric",
    "target_shape",
    "SurfaceSamples",
    "sample_surface",
    "sample_points_from_meshes",
    "marching_cubes",
    "marching_cubes_implicit",
    "cubify",
    "enclosing_surface",
    "points_occupancy",
    *_remesh_names,
    "SurfaceTopology",
    "connected_components",
    "surface_topology",
    "weld_vertices",
    "closed_surface",
    "mesh_to_voxels",
    "points_inside_mesh",
    "winding_number",
    "depth_to_points",
    "unproject_depth",
    "project_points",
    *_rotation_names,
]

"""Reconstruction from posed views on voxel grids: silhouette carving and density-grid fitting.

Functions of tensors above ``render`` (they project with cameras and render with
``render.volume``), below ``methods``:

* ``views_sampling``: where world points land in the views (``project_to_views``),
  images sampled there (``sample_views``), and the check that every camera sees
  the reconstruction box (``check_cameras_see_bounds``).
* ``hull``: the visual hull (``carve_visual_hull``: voxels kept where they project
  inside every mask that sees them), vertex colours from the views (``colors_from_views``:
  the most frontal unoccluded view) and ``visual_hull_mesh``.
* ``grid_fit``: a density + colour ``Volumes`` fitted to posed images by ``VolumeRenderer``
  (``fit_density_grid``, coarse to fine with total variation), ``render_volume_views``,
  ``total_variation``, ``volume_mesh`` (marching cubes with colours from the colour grid).
"""

from .grid_fit import (GridFit, depth_range, fill_cavities, fit_density_grid, grid_volumes, render_volume_views, total_variation,
                       volume_mesh)
from .hull import carve_visual_hull, colors_from_views, visual_hull_mesh
from .views_sampling import check_cameras_see_bounds, project_to_views, sample_views

__all__ = ["GridFit", "depth_range", "fill_cavities", "fit_density_grid", "grid_volumes", "render_volume_views", "total_variation", "volume_mesh",
           "carve_visual_hull", "colors_from_views", "visual_hull_mesh",
           "check_cameras_see_bounds", "project_to_views", "sample_views"]

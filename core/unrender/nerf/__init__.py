"""NeRF: a density + colour model on an MLP, dense-grid or hash-grid field; packed fixed-step sampling through an
occupancy grid or NeRF's coarse / fine sampling (rays: ``unrender.render.pixel_rays``, ``ray_box_bounds``); training on posed views; marching-cubes meshes with colours.

* ``model``: ``NeRFConfig``, ``NeRFModel``, ``save_nerf`` / ``load_nerf`` (config JSON + state dict).
* ``occupancy``: ``OccupancyGrid``, ``march_rays`` (packed samples).
* ``composite``: ``dense_weights``, ``packed_weights``, ``segment_sum``.
* ``optim``: ``RowAdam`` (Adam on the rows of a table that were read).
* ``render``: ``render_rays_packed``, ``render_rays_hierarchical``, ``render_views`` (chunked).
* ``train``: ``NeRF``, ``nerf_optimizers``, ``train_nerf``, ``training_rays``.
* ``mesh``: ``nerf_mesh``.
"""

from .composite import dense_weights, packed_weights, segment_sum
from .mesh import nerf_mesh
from .model import FIELDS, NeRFConfig, NeRFModel, load_nerf, save_nerf
from .occupancy import OccupancyGrid, PackedSamples, march_rays
from .optim import RowAdam
from .render import render_rays_hierarchical, render_rays_packed, render_views
from .train import SAMPLERS, NeRF, nerf_optimizers, train_nerf, training_rays

__all__ = ["dense_weights", "packed_weights", "segment_sum", "nerf_mesh", "FIELDS", "NeRFConfig", "NeRFModel",
           "load_nerf", "save_nerf", "OccupancyGrid", "PackedSamples", "march_rays", "RowAdam",
           "render_rays_hierarchical", "render_rays_packed", "render_views", "SAMPLERS", "NeRF", "nerf_optimizers", "train_nerf",
           "training_rays"]

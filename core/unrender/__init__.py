"""unrender: turn pictures back into 3D.

The core package depends on torch and numpy (plus Pillow, imageio and tqdm for
files and progress); it never imports Blender. Sub-packages:

* ``unrender.structures``: ``Meshes``, ``PointClouds`` (also ``Pointclouds``, PyTorch3D's spelling), ``Voxels``
* ``unrender.io``: OBJ (+MTL, textures), PLY, images and GIFs
* ``unrender.geometry``: primitives, surface sampling, conversions, rotations
* ``unrender.ops``: nearest neighbours, laplacians
* ``unrender.cameras``: PyTorch3D-convention cameras, exact Blender / OpenCV / PyTorch3D converters
* ``unrender.render``: differentiable mesh and point rendering, shaders, turntables
* ``unrender.screen``: image sizes and pixel centres in NDC (PyTorch3D's conventions)
* ``unrender.image``: pictures to masks
* ``unrender.losses`` and ``unrender.metrics``
* ``unrender.fields``: neural fields (harmonic and hash-grid encodings, MLP, SIREN, grid, tri-plane, hash-grid fields)
* ``unrender.body``: linear blend skinning and the SMPL body model (files through ``unrender.io``)
* ``unrender.data``: procedural datasets for single-image 3D (categories of primitive-part objects, rendered views,
  dataset folders and a torch ``Dataset``)
* ``unrender.models``: single-view models (image encoders; voxel, point and mesh decoders; checkpoints)
* ``unrender.train``: training (one process or torchrun) and evaluation of the single-view models
"""

from .structures import Meshes, PointClouds, Pointclouds, Voxels

__version__ = "0.1.0"

__all__ = ["Meshes", "PointClouds", "Pointclouds", "Voxels", "__version__"]

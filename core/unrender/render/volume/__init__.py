"""Volume rendering (PyTorch3D's ``pytorch3d.renderer.implicit`` names and numerics).

* ``rays``: ``RayBundle``, ``ray_bundle_to_ray_points``.
* ``raysampling``: ``MultinomialRaysampler``, ``NDCMultinomialRaysampler`` (every
  pixel, or random subsets by a mask), ``MonteCarloRaysampler``; uniform or
  stratified depths.
* ``sample_pdf``: importance re-sampling from coarse weights.
* ``raymarching``: ``EmissionAbsorptionRaymarcher``, ``AbsorptionOnlyRaymarcher``,
  with ``expected_depth`` and ``ray_opacity``.
* ``renderer``: ``ImplicitRenderer``, ``VolumeSampler``, ``VolumeRenderer`` (on
  :class:`unrender.structures.Volumes`).
"""

from .rays import *  # noqa: F401,F403
from .rays import __all__ as _rays
from .raymarching import *  # noqa: F401,F403
from .raymarching import __all__ as _raymarching
from .raysampling import *  # noqa: F401,F403
from .raysampling import __all__ as _raysampling
from .renderer import *  # noqa: F401,F403
from .renderer import __all__ as _renderer
from .sample_pdf import sample_pdf

__all__ = [*_rays, *_raymarching, *_raysampling, *_renderer, "sample_pdf"]

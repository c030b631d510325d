"""``estimate-pose``: recover the camera that sees a mesh as a reference silhouette.

Given a mesh and a reference picture (a silhouette mask, the alpha channel of
an RGBA render, or an RGB picture on a plain background), find the camera pose
``(R, T)`` (PyTorch3D convention, ``X_view = X_world R + T``) whose rendered
silhouette matches the picture.

The initial camera may be of any class of :mod:`unrender.cameras`; the
estimate is of the same class (see :class:`_Lens`: perspective intrinsics
are kept, an orthographic camera's scale is fitted in place of the depth).

Renders: :class:`~unrender.render.ContourSilhouetteRenderer`, an
anti-aliased silhouette whose edge pixels take their coverage from the signed
distance to the projected contour edges. Unlike a SoftRas soft silhouette it
is unbiased (the tutorials' sigma ``1e-4`` makes the silhouette ~0.5 pixel
fatter, which biased the distance by ~1 %) and every pixel of a 2-pixel band
around the outline carries a gradient, so the loss is smooth in the pose.

1. **Mask.** The picture becomes a coverage mask in [0, 1] (``background``),
   area-resampled so that its longer side is ``image_size`` (and a half and a
   quarter of that for the coarse stages).
2. **Pose parameters.** The mesh is centred on its bounding-box centre ``c``
   and scaled by its radius ``r``; a pose is ``theta = (w, u, v, s)``: the
   rotation ``R = R_start exp(w)`` (``w`` an axis-angle: the object turns about
   its own centre), the image-plane position ``(u, v) = (X/Z, Y/Z)`` of the
   object centre and ``s = log(Z)`` its log depth.
3. **Candidates and restarts.** ``candidates`` starting rotations are spread
   around the initial camera (within ``spread`` degrees; the initial rotation
   itself is always one) or, without a camera, a global search over the whole
   rotation group (:func:`screen_views`): ``views`` directions on a Fibonacci
   sphere (:func:`sphere_of_views`, 256: ~13 degrees apart), each rendered
   once (hard, at half of ``image_size``) and compared with the picture turned
   by each of ``rolls`` angles (36: every 10 degrees) in a frame centred on
   the silhouette's centroid and scaled by its area; rolling the camera about
   its axis turns the picture, so one render serves every roll. The
   :data:`SCREEN_KEEP` best distinct poses are placed (below) and the
   ``restarts`` best by hard IoU that are at least :data:`DISTINCT_DEG`
   apart go on (:func:`distinct_best`). Each gets its depth and image
   position from the mask's area and centroid; with a camera the ``restarts``
   best by silhouette IoU (the given camera always among them) are chosen
   likewise. The restarts are optimised **together in one batch** at half of
   ``image_size`` for ``coarse_steps`` Adam steps on a residual blurred by 3
   pixels.
4. **Refinement.** The :data:`FINALISTS` best distinct poses of the coarse
   stage get at most ``steps`` Adam steps at ``image_size`` (batched; residual
   blurred by 0.5 pixel), then each a Levenberg-Marquardt polish
   (:func:`_polish`: Jacobian by central differences of batched renders),
   which converges in a few iterations along the directions where the outline
   barely changes and Adam crawls. The finalist with the lowest final loss at
   ``image_size`` wins: a pose that looked best at half size is checked
   against a distant rival at full detail.

**Ambiguity.** The distinct poses are reported, best first, with their hard
IoU and the ``image_size`` it was measured at (``extra["alternatives"]``: the
refined finalists at ``image_size``, the other coarse ends at half of it). A
refined pose at least :data:`DISTINCT_DEG` from the winner within
:data:`AMBIGUOUS_IOU` of its IoU means the silhouette hardly tells them
apart (a symmetric object, or a view along a symmetry): a warning names it and
``extra["ambiguous"]`` is ``True``.

Adam runs on the mean squared difference ``blur(render) - blur(mask)`` (both
blurred by the same Gaussian: the optimum stays at the true pose, the basin
widens), each pose parameter scaled to the image motion it causes (NDC units)
so that one ``lr`` suits all; ``lr`` (x 1.3 in the coarse stage, x 0.5 in the
refinement) cosine-decays to 5 % over each stage. Poses of a batch are
independent. Loss history: the best loss of the batch at each step (while the
finalists are polished one after another: the best loss so far).
Metrics: ``iou`` (hard IoU, silhouette > 0.5 against mask > 0.5, of the final
pose at ``image_size``), ``coarse_iou`` (at half size, of the restart that
won), ``restart`` (its index among the restarts, 0 to ``restarts - 1``) and
``candidate`` (its index among the candidates; 0 is the given camera).

**Confidence.** A final IoU below :data:`CONFIDENT_IOU` (0.95) adds a warning
to the result (printed by the CLI, listed in ``summary.json``) and sets
``extra["confident"]`` to ``False``. Correct fits of Blender renders and of
the generated example end at IoU >= 0.97 at ``image_size`` 128 (see
``scripts/quality_estimate_pose.py``); a wrong view or a mesh that does not
match the picture ends lower.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ..cameras import FoVOrthographicCameras, FoVPerspectiveCameras, OrthographicCameras, PerspectiveCameras
from ..geometry.rotations import random_rotations, rotation_error_deg, so3_exp_map
from ..image import image_to_mask, resize_mask
from ..render import ContourSilhouetteRenderer, MeshRasterizer, RasterizationSettings
from ..screen import pixel_centers_ndc
from ..structures import Meshes
from ..structures.utils import normalize_to_unit_sphere
from .base import Input, Method, Output, Param, Result
from .registry import register
from .runner import Tracker

__all__ = [
    "EstimatePose",
    "make_example",
    "example_mesh",
    "sphere_of_views",
    "screen_views",
    "distinct_best",
    "CONFIDENT_IOU",
]

BLUR_PX = (3.0, 0.5)  # blur of the residual in the coarse (half size) and fine (image_size) stages, in their pixels
LR_STAGE = (1.3, 0.5)  # lr multiplier of the coarse and fine stages
POLISH_ITERS = 6  # Levenberg-Marquardt iterations at image_size after Adam (see _polish)
TOL_PX = 0.05  # a stage stops once the pose moved less than this many pixels over 4 steps
DISTINCT_DEG = 20.0  # restarts (and reported alternatives) are poses at least this far apart
SCREEN_KEEP = 48  # without a camera: the best screened views (distinct) that are placed and ranked by hard IoU
FINALISTS = 2  # the best distinct coarse poses refined at image_size; the lowest final loss wins
AMBIGUOUS_IOU = 0.005  # a refined pose DISTINCT_DEG away within this IoU of the winner: an ambiguous silhouette
CONFIDENT_IOU = 0.95  # a final silhouette IoU below this: the pose is reported as unsure (a warning)
ORTHO_DEPTH = 1000.0  # depth (in object radii) at which the fit renders an object seen by an orthographic camera


# ------------------------------------------------------------------ masks
def _moments(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``masks (N, H, W)`` -> area fraction ``(N,)``, centroid NDC ``x (N,)``, ``y (N,)``."""
    N, H, W = masks.shape
    x, y = pixel_centers_ndc(H, W, masks.dtype, masks.device)
    a = masks.sum((1, 2)).clamp(min=1e-6)
    cx = (masks.sum(1) * x).sum(1) / a
    cy = (masks.sum(2) * y).sum(1) / a
    return a / (H * W), cx, cy


def _iou(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Hard IoU of ``pred (N, H, W)`` and ``ref (H, W)``, both thresholded at 0.5 -> ``(N,)``."""
    p, r = pred > 0.5, (ref > 0.5)[None]
    inter = (p & r).sum((1, 2)).float()
    union = (p | r).sum((1, 2)).float().clamp(min=1.0)
    return inter / union


# ------------------------------------------------------------------ the fit
class _Lens:
    """The projection of the fit and the camera it returns, of the initial camera's class.

    A pose of the normalised mesh (centred, radius 1) is ``(R, T)`` with
    ``T = (u z, v z, z)``. Every class is read through its NDC intrinsics
    ``(fx, fy, px, py)``, with ``tan_half = 1 / fy`` and ``aspect = fy / fx``:

    * perspective (FoV or pinhole): the object's centre is at depth ``z`` and
      ``ndc = (X / (Z tan_half aspect) + px, Y / (Z tan_half) + py)``; the
      returned camera keeps the initial camera's intrinsics (FoV cameras: a
      near / far range around the object, as without a camera);
    * orthographic (FoV or plain): the object stays at the initial camera's
      depth and ``z`` sets the scale instead, ``ndc = (X / (z tan_half aspect)
      + px, Y / (z tan_half) + py)``; ``tan_half`` is the ``fov`` parameter's.
      At the object's centre a silhouette then moves and grows with
      ``(u, v, log z)`` as it does for a perspective camera, so one fit serves
      both; the returned camera has the fitted scale. The fit renders the
      object far along the view axis (:data:`ORTHO_DEPTH` radii) so that
      the contour renderer's facing test sees parallel rays.

    Without a camera: an ``FoVPerspectiveCameras`` of ``fov_deg``.
    """

    def __init__(self, camera, fov_deg: float, radius: float, T_in: torch.Tensor | None):
        """``fov_deg``: the ``fov`` parameter; ``radius``: the mesh's; ``T_in (3,)``: the normalised
        mesh's centre in the initial camera's view space."""
        self.camera, self.radius = camera, radius
        self.perspective = camera is None or camera.is_perspective()
        self.pp = (0.0, 0.0)
        if camera is None or isinstance(camera, FoVPerspectiveCameras):
            if camera is not None:
                fov_deg = float(camera.fov[0]) if camera.degrees else math.degrees(float(camera.fov[0]))
            self.tan_half = math.tan(math.radians(fov_deg) / 2)
            self.aspect = 1.0 if camera is None else float(camera.aspect_ratio[0])
            self.fov_deg = fov_deg
            self.start_z = None if T_in is None else float(T_in[2])
            return
        fx, fy, px, py = (float(x) for x in camera.ndc_intrinsics()[0])
        self.aspect, self.pp = fy / fx, (px, py)
        if self.perspective:  # fy: NDC per unit of X / Z
            self.tan_half = 1.0 / fy
            self.fov_deg = math.degrees(2 * math.atan(self.tan_half))
            self.start_z = float(T_in[2])
        else:  # fy: NDC per world unit; the object keeps its depth, z is the scale
            self.tan_half = math.tan(math.radians(fov_deg) / 2)
            self.fov_deg = None
            self.start_z = 1.0 / (fy * radius * self.tan_half)
            self.depth = float(T_in[2])

    def fit_cameras(self, R: torch.Tensor, T: torch.Tensor):
        """The cameras ``(N)`` that see the normalised mesh at poses ``R (N, 3, 3)``, ``T (N, 3)`` (differentiable)."""
        if self.camera is None or isinstance(self.camera, FoVPerspectiveCameras):
            z = T[:, 2].detach().min().item()
            return FoVPerspectiveCameras(R=R, T=T, fov=self.fov_deg, aspect_ratio=self.aspect,
                                         znear=max(z - 1.5, 0.05 * z), zfar=T[:, 2].detach().max().item() + 100.0,
                                         device=R.device)
        pp = torch.tensor([self.pp], dtype=R.dtype, device=R.device).expand(R.shape[0], 2)
        if self.perspective:
            fl = torch.tensor([[1.0 / (self.tan_half * self.aspect), 1.0 / self.tan_half]], dtype=R.dtype, device=R.device)
            return PerspectiveCameras(focal_length=fl.expand(R.shape[0], 2), principal_point=pp, R=R, T=T, device=R.device)
        fy = 1.0 / (T[:, 2] * self.tan_half)
        T_far = torch.cat([T[:, :2], torch.full_like(T[:, 2:], ORTHO_DEPTH)], 1)
        return OrthographicCameras(focal_length=torch.stack([fy / self.aspect, fy], 1), principal_point=pp, R=R,
                                   T=T_far, device=R.device)

    def world_camera(self, R: torch.Tensor, T: torch.Tensor, centre: torch.Tensor, depth_range: tuple[float, float]):
        """The returned camera (on the CPU) of the pose ``R (1, 3, 3)``, ``T (1, 3)`` of the normalised
        mesh, whose centre is ``centre (3,)`` in the world; ``depth_range``: ``(znear, zfar)`` of an FoV
        perspective camera."""
        z = float(T[0, 2])
        if not self.perspective:  # the object's centre stays at the initial camera's depth
            T = torch.cat([T[:, :2], torch.full_like(T[:, 2:], self.depth)], 1)
        Tw = (T * self.radius - centre @ R).cpu()
        R, cam = R.cpu(), self.camera
        if cam is None or isinstance(cam, FoVPerspectiveCameras):
            return FoVPerspectiveCameras(R=R, T=Tw, fov=self.fov_deg, aspect_ratio=self.aspect,
                                         znear=depth_range[0], zfar=depth_range[1])
        from ..io.cameras import camera_fields

        fields = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in camera_fields(cam).items()}
        fields["R"] = R
        fields["T"] = Tw
        if self.perspective:
            return type(cam)(**fields)
        fy = 1.0 / (z * self.tan_half * self.radius)  # NDC per world unit
        fx = fy / self.aspect
        if isinstance(cam, OrthographicCameras):
            s = 1.0
            if not cam.in_ndc():
                H, W = (float(x) for x in cam.get_image_size()[0])
                s = min(H, W) / 2  # pixels per NDC unit
            fields["focal_length"] = torch.tensor([[fx * s, fy * s]])
            return type(cam)(**fields)
        sx, sy = (float(x) for x in fields["scale_xyz"][0, :2])  # FoVOrthographicCameras: a view box
        (px, py), wx, wy = self.pp, 2 * sx / fx, 2 * sy / fy
        fields.update(max_x=wx * (1 - px) / 2, min_x=-wx * (1 + px) / 2, max_y=wy * (1 - py) / 2,
                      min_y=-wy * (1 + py) / 2)
        return type(cam)(**fields)


class _Fit:
    """Renders of the normalised mesh (centred, radius 1) from poses ``(w, u, v, s)`` through a :class:`_Lens`."""

    def __init__(self, verts: torch.Tensor, faces: torch.Tensor, lens: _Lens):
        self.verts, self.faces, self.lens = verts, faces, lens
        self.tan_half, self.aspect = lens.tan_half, lens.aspect
        self.px, self.py = lens.pp
        self._meshes: dict[int, Meshes] = {}
        self._contour: dict[tuple[int, int], ContourSilhouetteRenderer] = {}

    def meshes(self, n: int) -> Meshes:
        if n not in self._meshes:
            self._meshes[n] = Meshes([self.verts] * n, [self.faces] * n)
        return self._meshes[n]

    @staticmethod
    def rt(R0: torch.Tensor, w, u, v, s) -> tuple[torch.Tensor, torch.Tensor]:
        """Pose parameters -> ``(R (N, 3, 3), T (N, 3))`` of the normalised mesh."""
        R = R0 @ so3_exp_map(w)
        z = torch.exp(s)
        return R, torch.stack([u * z, v * z, z], -1)

    def cameras(self, R, T):
        return self.lens.fit_cameras(R, T)

    def render(self, R, T, hw) -> torch.Tensor:
        """Anti-aliased silhouettes ``(N, h, w)`` from the contour edges (see
        :class:`~unrender.render.ContourSilhouetteRenderer`); differentiable in ``R``, ``T``."""
        key = tuple(hw)
        if key not in self._contour:
            self._contour[key] = ContourSilhouetteRenderer(self.verts, self.faces, key)
        r = self._contour[key]
        return r(self.cameras(R, T), self.meshes(R.shape[0]))

    def render_hard(self, R, T, hw, chunk: int = 256) -> torch.Tensor:
        """Hard (one face per pixel) silhouettes ``(N, h, w)``, not differentiable: ~4x cheaper than
        :meth:`render`, for screening many candidate poses (in chunks of ``chunk`` poses)."""
        rs = RasterizationSettings(image_size=tuple(hw), faces_per_pixel=1, bin_size=0)
        out = []
        with torch.no_grad():
            for i in range(0, R.shape[0], chunk):
                Rc, Tc = R[i : i + chunk], T[i : i + chunk]
                frags = MeshRasterizer(self.cameras(Rc, Tc), rs)(self.meshes(Rc.shape[0]))
                out.append((frags.pix_to_face[..., 0] >= 0).float())
        return torch.cat(out)


def _place(fit: _Fit, R0, w, u, v, s, ref, hw, *, hard: bool = False):
    """Fit depth and image position of each pose to the area and centroid of ``ref (h, w)``;
    returns new ``(u, v, s)`` and the hard IoU ``(N,)`` after the move. ``hard``: screen with
    :meth:`_Fit.render_hard` (cheaper, for many poses)."""
    render = fit.render_hard if hard else fit.render
    a_ref, cx_ref, cy_ref = _moments(ref[None])
    for _ in range(2):
        with torch.no_grad():
            sil = render(*fit.rt(R0, w, u, v, s), hw)
        a, cx, cy = _moments(sil)
        empty = a < 1e-4
        ratio = (a / a_ref).clamp(0.05, 20.0)
        s = torch.where(empty, s, s + 0.5 * torch.log(ratio))
        z_scale = torch.where(empty, torch.ones_like(ratio), ratio.sqrt())
        # ndc_x = u / (tan_half * aspect) + px at the centre: shift by the centroid gap, after the depth change
        u = torch.where(empty, u, u / z_scale + (cx_ref - fit.px - (cx - fit.px) / z_scale) * fit.tan_half * fit.aspect)
        v = torch.where(empty, v, v / z_scale + (cy_ref - fit.py - (cy - fit.py) / z_scale) * fit.tan_half)
    with torch.no_grad():
        iou = _iou(render(*fit.rt(R0, w, u, v, s), hw), ref)
    return u, v, s, iou


def sphere_of_views(views: int, rolls: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Rotations ``(views * rolls, 3, 3)`` covering every viewing direction and roll: a Fibonacci
    sphere of ``views`` directions (the camera's forward axis, ``R[:, 2]`` in world coordinates), each
    with ``rolls`` turns about it, evenly spaced. Neighbouring directions are about
    ``sqrt(4 pi / views)`` radians apart (64: 25 degrees)."""
    i = torch.arange(views, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / views
    phi = i * math.pi * (3 - math.sqrt(5))
    rho = (1 - z * z).clamp_min(0).sqrt()
    fwd = torch.stack([rho * torch.cos(phi), rho * torch.sin(phi), z], 1)  # (V, 3)
    helper = torch.where((fwd[:, 2:].abs() < 0.9), torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                         torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    a = torch.linalg.cross(helper, fwd, dim=1)
    a = a / a.norm(dim=1, keepdim=True)
    b = torch.linalg.cross(fwd, a, dim=1)  # (a, b, fwd) right-handed
    ang = torch.arange(rolls, dtype=torch.float64) * (2 * math.pi / rolls)
    c, s_ = torch.cos(ang)[None, :, None], torch.sin(ang)[None, :, None]
    x = c * a[:, None] + s_ * b[:, None]  # (V, K, 3)
    y = -s_ * a[:, None] + c * b[:, None]
    R = torch.stack([x, y, fwd[:, None].expand_as(x)], -1)  # columns: the view axes in world coordinates
    return R.reshape(-1, 3, 3).to(dtype=dtype, device=device)


def _canonical(masks: torch.Tensor, angles: torch.Tensor | None, size: int) -> torch.Tensor:
    """Masks ``(N, H, W)`` resampled about their centroid, scaled by the root of their area, on a
    ``size`` x ``size`` grid -> ``(N, size, size)``, or ``(N, A, size, size)`` turned by each of
    ``angles (A,)`` (radians, counter-clockwise in NDC): a frame in which silhouettes that differ
    by a move, a zoom or a turn in the picture plane coincide."""
    N, H, W = masks.shape
    a, cx, cy = _moments(masks)
    s = min(H, W)
    half = 1.6 * (a * (H * W) / (s * s) * 4).sqrt()  # NDC half-width of the grid: ~1.6 x the root of the area
    t = torch.linspace(-1, 1, size, dtype=masks.dtype, device=masks.device)
    py, px = torch.meshgrid(-t, -t, indexing="ij")  # grid rows top to bottom (NDC y falls), columns left (+x) to right
    p = torch.stack([px, py], -1)  # (size, size, 2) canonical NDC offsets
    if angles is None:
        angles = torch.zeros(1, dtype=masks.dtype, device=masks.device)
    c, sn = torch.cos(angles), torch.sin(angles)
    q = torch.stack([c[:, None, None] * p[..., 0] - sn[:, None, None] * p[..., 1],
                     sn[:, None, None] * p[..., 0] + c[:, None, None] * p[..., 1]], -1)  # (A, size, size, 2)
    ndc = torch.stack([cx, cy], -1)[:, None, None, None] + half[:, None, None, None, None] * q[None]  # (N, A, ...)
    grid = torch.stack([-ndc[..., 0] * s / W, -ndc[..., 1] * s / H], -1)  # grid_sample: +x right, +y down
    A = angles.shape[0]
    out = F.grid_sample(masks[:, None].expand(N, A, H, W).reshape(N * A, 1, H, W), grid.reshape(N * A, size, size, 2),
                        mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(N, A, size, size)


def screen_views(fit: "_Fit", R: torch.Tensor, ref: torch.Tensor, rolls: int, depth: float,
                 size: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every view of ``R (V, 3, 3)`` at every roll against ``ref (h, w)`` with one hard render
    per view -> rotations ``(V * rolls, 3, 3)`` and scores ``(V * rolls,)`` (soft IoU, higher is better).

    Rolling the camera about its forward axis turns the picture about the principal point, so a
    view is rendered once (the object ahead at ``depth``) and compared with the reference turned by
    each of ``rolls`` angles, both in the centroid-and-area frame of :func:`_canonical` (which
    also absorbs the object's position and depth)."""
    V = R.shape[0]
    hw = tuple(ref.shape)
    zero = torch.zeros(V, device=R.device)
    with torch.no_grad():
        sil = fit.render_hard(*fit.rt(R, torch.zeros(V, 3, device=R.device), zero, zero,
                                      torch.full((V,), math.log(depth), device=R.device)), hw)
        ang = torch.arange(rolls, dtype=ref.dtype, device=ref.device) * (2 * math.pi / rolls)
        views = _canonical(sil, None, size)[:, 0].flatten(1)  # (V, P)
        refs = _canonical(ref[None], ang, size)[0].flatten(1)  # (K, P)
        inter = views @ refs.T  # (V, K)
        union = views.sum(1)[:, None] + refs.sum(1)[None] - inter
        score = inter / union.clamp_min(1e-6)
    c, sn = torch.cos(ang), torch.sin(ang)
    o, i = torch.zeros_like(c), torch.ones_like(c)
    Rz = torch.stack([torch.stack([c, sn, o], -1), torch.stack([-sn, c, o], -1), torch.stack([o, o, i], -1)], 1)
    # X R Rz: the view coordinates turned by the angle, so the picture turns with the reference
    Rk = R[:, None] @ Rz.to(R.dtype)[None]  # (V, K, 3, 3)
    return Rk.reshape(-1, 3, 3), score.reshape(-1)


def distinct_best(R: torch.Tensor, score: torch.Tensor, n: int, min_deg: float) -> torch.Tensor:
    """Indices ``(<= n,)`` of the best poses by ``score (N,)`` whose rotations ``R (N, 3, 3)`` are
    pairwise more than ``min_deg`` apart (greedy, best first)."""
    order = torch.argsort(score, descending=True, stable=True)
    chosen: list[int] = []
    cos_min = math.cos(math.radians(min_deg))
    for i in order.tolist():
        if len(chosen) == n:
            break
        if chosen:
            rel = R[chosen].transpose(1, 2) @ R[i]  # (k, 3, 3)
            cos = ((rel.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2)
            if bool((cos > cos_min).any()):
                continue
        chosen.append(i)
    return torch.tensor(chosen, dtype=torch.long, device=score.device)


def _spread_rotations(n: int, spread_deg: float, g: torch.Generator, dtype, device) -> torch.Tensor:
    """``n`` axis-angles ``(n, 3)`` (the first zero) spread within ``spread_deg``: out-of-plane
    tilts on a golden-angle spiral of growing size plus a random roll of up to half the spread."""
    out = torch.zeros(n, 3, dtype=dtype)
    spread = math.radians(spread_deg)
    golden = math.pi * (3 - math.sqrt(5))
    for i in range(1, n):
        r = spread * math.sqrt(i / max(n - 1, 1))
        phi = i * golden
        roll = (torch.rand((), generator=g).item() * 2 - 1) * spread / 2
        out[i] = torch.tensor([r * math.cos(phi), r * math.sin(phi), roll])
    return out.to(device)


def _alternatives(fit: _Fit, R0: torch.Tensor, theta: torch.Tensor, ious: torch.Tensor, camera_of,
                  size: int) -> list[dict]:
    """The distinct poses ``theta (N, 6)`` (``DISTINCT_DEG`` apart), best first by ``ious (N,)``
    (hard IoU at ``size`` pixels, the longer side) for ``summary.json``: ``[{"iou", "image_size", "R",
    "T"}]`` (the world camera's ``R``, ``T``). Near-equal IoUs of distant poses mean an ambiguous (e.g.
    symmetric) silhouette."""
    R = fit.rt(R0, theta[:, :3], theta[:, 3], theta[:, 4], theta[:, 5])[0]
    out = []
    for i in distinct_best(R.detach(), ious, R.shape[0], DISTINCT_DEG).tolist():
        cam = camera_of(R0[i : i + 1], theta[i : i + 1].detach())
        out.append({"iou": round(float(ious[i]), 4), "image_size": int(size), "R": cam.R[0].tolist(),
                    "T": cam.T[0].tolist()})
    return out


def _apart(a: dict, b: dict) -> bool:
    """Whether the rotations ``"R"`` (nested lists) of two alternatives are more than ``DISTINCT_DEG`` apart."""
    return float(rotation_error_deg(torch.tensor(a["R"]), torch.tensor(b["R"]))) > DISTINCT_DEG


def blur(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of ``x (N, H, W)`` by ``sigma_px`` pixels (edges replicated)."""
    if sigma_px <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma_px)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma_px**2))
    k = k / k.sum()
    y = x[:, None]
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
    return y[:, 0]


def _loss(sil: torch.Tensor, ref_b: torch.Tensor, blur_px: float) -> torch.Tensor:
    """Mean squared difference ``(N,)`` of the blurred silhouettes ``sil (N, h, w)`` and the
    (equally blurred) reference ``ref_b (h, w)``."""
    return ((blur(sil, blur_px) - ref_b[None]) ** 2).mean((1, 2))


def _param_scale(fit: "_Fit", theta: torch.Tensor) -> torch.Tensor:
    """``(N, 6)``: the change of each pose parameter that moves the silhouette by one NDC unit."""
    rho = 1.0 / (torch.exp(theta[:, 5]) * fit.tan_half)  # the unit sphere's radius in NDC
    one = torch.ones_like(rho)
    return torch.stack([1 / rho, 1 / rho, 1 / rho, one * fit.tan_half * fit.aspect, one * fit.tan_half, 1 / rho], 1)


def _descend(fit: _Fit, R0: torch.Tensor, theta: torch.Tensor, ref: torch.Tensor, *, blur_px: float, steps: int,
             lr: float, tol: float, on_step) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Adam on the poses ``theta (N, 6) = (w, u, v, s)`` (batched, independent) against ``ref (h, w)``.

    The loss is :func:`_loss` with a Gaussian blur of ``blur_px`` pixels on
    both sides (the optimum stays put, the basin widens). Each parameter is
    scaled to the image motion it causes (normalised device units: the unit
    sphere's radius in NDC for the rotation and log depth, ``tan_half`` for
    the image position), so that ``lr`` is a motion in NDC per step for all
    of them; the learning rate decays by cosine to 5 % of ``lr``. A stage
    stops early once every pose moved less than ``tol`` (NDC) over the last 4
    steps. ``on_step(loss (N,), theta (N, 6)) -> bool`` is called once per step
    with the current best; ``False`` stops.
    Returns the best pose by loss of each restart ``(N, 6)``, its loss ``(N,)``, its
    silhouette ``(N, h, w)`` and whether to go on.
    """
    hw = tuple(ref.shape)
    ref_b = blur(ref[None], blur_px)[0]
    scale = _param_scale(fit, theta)
    theta0 = theta.detach()
    x = torch.zeros_like(theta0, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr, betas=(0.9, 0.99))
    N = theta0.shape[0]
    best = theta0.clone()
    best_loss = torch.full((N,), float("inf"), device=theta0.device)
    best_sil = None
    hist: list[torch.Tensor] = []
    go = True
    for i in range(steps):
        th = theta0 + x * scale
        sil = fit.render(*fit.rt(R0, th[:, :3], th[:, 3], th[:, 4], th[:, 5]), hw)
        loss = _loss(sil, ref_b, blur_px)
        with torch.no_grad():
            better = loss < best_loss
            best = torch.where(better[:, None], th, best)
            best_loss = torch.where(better, loss, best_loss)
            best_sil = sil.detach() if best_sil is None else torch.where(better[:, None, None], sil, best_sil)
        go = on_step(best_loss, best)
        if not go or i == steps - 1:
            break
        opt.zero_grad()
        loss.sum().backward()
        for group in opt.param_groups:
            group["lr"] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * i / max(steps - 1, 1))))
        opt.step()
        hist.append(x.detach().clone())
        if len(hist) > 4:
            hist.pop(0)
            if float((hist[-1] - hist[0]).abs().amax()) < tol:
                break
    return best, best_loss, best_sil, go


def _polish(fit: "_Fit", R0: torch.Tensor, theta: torch.Tensor, ref: torch.Tensor, *, blur_px: float, iters: int,
            on_step) -> tuple[torch.Tensor, bool]:
    """Levenberg-Marquardt on one pose ``theta (1, 6)`` against ``ref (h, w)``.

    The residual is ``blur(render) - blur(ref)`` over all pixels; its Jacobian
    comes from central differences (12 renders of a third of a pixel's motion,
    batched, no autograd), which is accurate because the contour silhouettes
    are smooth in the pose. Near the optimum it converges in a few iterations
    where Adam crawls along the flat directions of a silhouette (rotations that
    barely change the outline). Returns the best pose and whether to go on.
    """
    hw = tuple(ref.shape)
    ref_b = blur(ref[None], blur_px)[0].flatten()
    px = 2.0 / min(hw)
    lam = 1e-3
    go = True

    def residuals(th: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            sil = fit.render(*fit.rt(R0.expand(th.shape[0], 3, 3), th[:, :3], th[:, 3], th[:, 4], th[:, 5]), hw)
            return blur(sil, blur_px).flatten(1) - ref_b[None]

    r = residuals(theta)[0]
    loss = float((r * r).mean())
    for _ in range(iters):
        h = _param_scale(fit, theta)[0] * (px / 3)  # (6,)
        probes = theta.repeat(12, 1)
        idx = torch.arange(6, device=theta.device)
        probes[idx, idx] += h
        probes[idx + 6, idx] -= h
        rp = residuals(probes)
        J = ((rp[:6] - rp[6:]) / (2 * h[:, None])).T  # (P, 6)
        JtJ, Jtr = J.T @ J, J.T @ r
        D = torch.diag(JtJ.diagonal().clamp_min(1e-12))
        improved = False
        for _ in range(4):  # raise the damping until the step lowers the loss
            delta = torch.linalg.solve(JtJ + lam * D, -Jtr)
            cand = theta + delta[None]
            rc = residuals(cand)[0]
            lc = float((rc * rc).mean())
            if lc < loss:
                theta, r, loss, lam, improved = cand, rc, lc, max(lam / 3, 1e-6), True
                break
            lam *= 8
        go = on_step(torch.tensor([loss]), theta)
        if not go or not improved or float((delta / _param_scale(fit, theta)[0]).abs().max()) < 0.01 * px:
            break
    return theta, go


@register
class EstimatePose(Method):
    """Recover the camera pose of a reference silhouette by optimising soft silhouette renders."""

    id = "estimate-pose"
    label = "Estimate pose"
    description = (
        "Find the camera that sees the mesh as in the picture: optimise the camera pose so that an "
        "anti-aliased silhouette render matches the picture's silhouette, from several spread-out starting "
        "views (batched), then refine the best. Returns the camera, its final silhouette and the IoU."
    )
    inputs = (
        Input("mesh", ("mesh",), "the object (world coordinates; the camera is found relative to it)"),
        Input(
            "image",
            ("image",),
            "the reference picture: a silhouette mask, an RGBA render (alpha is used) or RGB on a plain background",
        ),
        Input(
            "camera",
            ("cameras",),
            "optional initial guess: one camera of any unrender.cameras class (its intrinsics are kept, "
            "but an orthographic camera's scale is fitted); without it the starting views cover the whole sphere",
            required=False,
        ),
    )
    params = (
        Param("fov", 40.0, "vertical field of view in degrees when no camera is given", minimum=1.0, maximum=170.0,
              label="Field of view"),
        Param("image_size", 128, "the picture is resized so that its longer side has this many pixels", minimum=16,
              maximum=1024),
        Param("restarts", 6, "starting views optimised together (one batched render per step) in the coarse phase",
              minimum=1, maximum=64),
        Param("candidates", 8, "with a camera: starting views around it screened (small renders) to choose the restarts from",
              minimum=1, maximum=1024),
        Param("views", 256, "without a camera: viewing directions screened (a Fibonacci sphere; 256 are ~13 degrees "
              "apart), one render each, compared at every roll", minimum=4, maximum=1024),
        Param("rolls", 36, "without a camera: turns about each viewing direction screened (as turns of the picture, "
              "36: every 10 degrees)", minimum=1, maximum=360),
        Param("coarse_steps", 40, "Adam steps of the restarts (batched) at half of image_size", minimum=0, maximum=100),
        Param("steps", 30, "most Adam steps of the finalists at image_size (a stage stops early once the pose settles) "
              "before the Levenberg-Marquardt polish", minimum=2, maximum=1000),
        Param("spread", 35.0, "degrees the starting views spread around the given camera", minimum=0.0,
              maximum=180.0),
        Param(
            "background",
            "auto",
            "how the picture becomes a silhouette: 'auto' (alpha if the picture has transparency, else pixels "
            "unlike the border colour), 'alpha', 'luminance' (white object on black) or the background colour "
            "'#rrggbb' (e.g. the world colour of a Blender render)",
        ),
        Param("threshold", 0.1, "colour difference from the background that counts as object", minimum=0.001,
              maximum=1.0),
        Param("lr", 0.03, "Adam step size, as a motion of the silhouette in normalised image units "
              "(2 = the picture's shorter side): x 1.3 in the coarse stage, x 0.5 at image_size, cosine-decayed "
              "to 5 % over each stage",
              minimum=1e-4, maximum=1.0),
    )
    outputs = (
        Output("camera", "cameras", "the estimated camera, world to view: one camera of the initial "
               "camera's class (FoVPerspectiveCameras (R, T, fov) without one)"),
        Output("silhouette", "image", "the final soft silhouette render (h, w, 1), longer side image_size"),
    )

    # -------------------------------------------------------------- run
    def run(self, inputs: dict[str, Any], params: dict[str, Any], progress) -> Result:
        device = torch.device(params["device"])
        mesh: Meshes = inputs["mesh"]
        image: torch.Tensor = inputs["image"]
        camera = inputs.get("camera")
        g = torch.Generator().manual_seed(params["seed"])

        mask_full = image_to_mask(image, params["background"], params["threshold"]).float()
        cover = float((mask_full > 0.5).float().mean())
        if cover * mask_full.numel() < 4:
            raise ValueError(
                f"image: expected a silhouette (some object pixels), found an empty mask with background="
                f"{params['background']!r}; check the background colour or use an RGBA / mask image"
            )
        if cover > 0.98:
            raise ValueError("image: expected a silhouette with background pixels, found the object covering "
                             "the whole picture; check the background parameter")

        nverts, faces, centre, radius = _normalised_surface(mesh, device)

        if camera is not None:
            if not isinstance(camera, (FoVPerspectiveCameras, PerspectiveCameras, FoVOrthographicCameras,
                                       OrthographicCameras)):
                raise ValueError(f"camera: expected one of the cameras of unrender.cameras, found {type(camera).__name__}")
            if len(camera) != 1:
                raise ValueError(f"camera: expected one camera, found a batch of {len(camera)}")
            cam = camera.to(device)
            R_in = cam.R[0].float()
            T_in = (centre @ R_in + cam.T[0].float()) / radius  # the normalised mesh's centre in view space
            if cam.is_perspective() and float(T_in[2]) <= 0:
                raise ValueError("camera: expected the mesh in front of the camera (positive view depth of its "
                                 f"centre), found depth {float(T_in[2]) * radius:.4g}")
            znear, zfar = (float(cam.znear[0]), float(cam.zfar[0])) if hasattr(cam, "znear") else (None, None)
        else:
            R_in, T_in, cam = None, None, None
            znear = zfar = None
        lens = _Lens(cam, params["fov"], radius, T_in)
        tan_half, fov_deg = lens.tan_half, lens.fov_deg
        fit = _Fit(nverts, faces, lens)

        size = params["image_size"]
        mask_dev = mask_full.to(device)
        sizes = (max(16, size // 4), max(16, size // 2), size)
        refs = [resize_mask(mask_dev, n) for n in sizes]

        def make_camera(R, T):
            """Pose of the normalised mesh ``(R (1, 3, 3), T (1, 3))`` -> the world camera."""
            R, T = R.detach(), T.detach()
            depth = float(T[:, 2].min()) * radius
            zn = znear if znear is not None else max(0.01 * depth, depth - 2 * radius) * 0.5
            zf = zfar if zfar is not None else (float(T[:, 2].max()) * radius + 2 * radius) * 2
            return lens.world_camera(R, T, centre, (zn, zf))

        def camera_of(R0, theta):
            return make_camera(*fit.rt(R0, theta[:, :3], theta[:, 3], theta[:, 4], theta[:, 5]))

        # ---------------------------------------------------------- candidates -> restarts
        n_cand = max(params["candidates"], params["restarts"])
        if R_in is not None:
            R0 = R_in.expand(n_cand, 3, 3).contiguous()
            w = _spread_rotations(n_cand, params["spread"], g, torch.float32, device)
            z0 = lens.start_z
            u = torch.full((n_cand,), float(T_in[0]) / z0, device=device)
            v = torch.full((n_cand,), float(T_in[1]) / z0, device=device)
        else:
            # the whole sphere of views x rolls, with a random turn of the grid (seeded)
            turn = random_rotations(1, generator=g, dtype=torch.float32)[0]
            z0 = 1.0 / (0.6 * tan_half)  # the unit sphere spans ~60 % of the picture's height
            Rv, score = screen_views(fit, (turn @ sphere_of_views(params["views"], 1)).to(device), refs[1],
                                     params["rolls"], z0)
            R0 = Rv[distinct_best(Rv, score, SCREEN_KEEP, DISTINCT_DEG / 2)]
            n_cand = R0.shape[0]
            w = torch.zeros(n_cand, 3, device=device)
            u = torch.zeros(n_cand, device=device)
            v = torch.zeros(n_cand, device=device)
        s = torch.full((n_cand,), math.log(z0), device=device)
        ref_place = refs[0] if R_in is not None else refs[1]
        u, v, s, iou0 = _place(fit, R0, w, u, v, s, ref_place, tuple(ref_place.shape), hard=R_in is None)
        if R_in is not None:  # the given camera always starts
            order = torch.argsort(iou0, descending=True, stable=True)
            keep = torch.cat([order[order == 0], order[order != 0]])[: params["restarts"]]
        else:  # the best views that are distinct poses
            keep = distinct_best(R0 @ so3_exp_map(w), iou0, params["restarts"], DISTINCT_DEG)
        R0 = R0[keep]
        theta = torch.cat([w[keep], u[keep, None], v[keep, None], s[keep, None]], 1)

        total = params["coarse_steps"] + params["steps"] + FINALISTS * POLISH_ITERS
        tracker = Tracker(progress, total, snapshots=24, preview_every=1)
        step = 0

        def on_step(R0s):
            def call(loss: torch.Tensor, th: torch.Tensor) -> bool:
                nonlocal step
                k = int(torch.argmin(loss))
                go = tracker.update(step, float(loss[k]), lambda: camera_of(R0s[k : k + 1], th[k : k + 1]),
                                    keep=lambda: (R0s[k : k + 1], th[k : k + 1].detach().clone()))
                step += 1
                return go
            return call

        lr = params["lr"]
        # ---------------------------------------------------------- coarse: restarts batched
        theta, loss, sil, go = _descend(fit, R0, theta, refs[1], blur_px=BLUR_PX[0],
                                        steps=max(params["coarse_steps"], 1), lr=lr * LR_STAGE[0], tol=0.0, on_step=on_step(R0)) if params["coarse_steps"] else (
            theta, None, None, True)
        if sil is None:
            with torch.no_grad():
                sil = fit.render(*fit.rt(R0, theta[:, :3], theta[:, 3], theta[:, 4], theta[:, 5]),
                                 tuple(refs[1].shape))
            loss = _loss(sil, blur(refs[1][None], BLUR_PX[0])[0], BLUR_PX[0])
        ious, theta_coarse = _iou(sil, refs[1]), theta
        Rc = fit.rt(R0, theta[:, :3], theta[:, 3], theta[:, 4], theta[:, 5])[0].detach()
        fin = distinct_best(Rc, -loss, FINALISTS, DISTINCT_DEG)  # the best by coarse loss first
        k = int(fin[0])
        R0b, theta_c = R0[k : k + 1], theta[k : k + 1]
        R0f, thf = R0[fin], theta[fin]

        # ---------------------------------------------------------- refine the finalists at image_size
        if go:
            tracker.new_stage()  # losses at image_size are not compared with the coarse ones
            px = 2.0 / min(refs[2].shape)
            thf, _, _, go = _descend(fit, R0f, thf, refs[2], blur_px=BLUR_PX[1], steps=params["steps"],
                                     lr=lr * LR_STAGE[1], tol=TOL_PX * px, on_step=on_step(R0f))
        done = [float("inf"), R0b, theta_c]  # the best polished finalist so far: loss, R0, theta

        def polish_step(R0s, last: list):
            """Progress of one finalist's polish: its loss while it beats the polished ones before, else theirs."""
            def call(loss: torch.Tensor, th: torch.Tensor) -> bool:
                nonlocal step
                last[:] = [float(loss[0]), R0s, th.detach().clone()]
                lead = list(last) if last[0] <= done[0] else list(done)
                go = tracker.update(step, lead[0], lambda: camera_of(lead[1], lead[2]), keep=lambda: (lead[1], lead[2]))
                step += 1
                return go
            return call

        polished = []
        for i in range(thf.shape[0]):
            th_i, last = thf[i : i + 1], [float("inf"), None, None]
            if go and POLISH_ITERS:
                th_i, go = _polish(fit, R0f[i : i + 1], th_i, refs[2], blur_px=BLUR_PX[1], iters=POLISH_ITERS,
                                   on_step=polish_step(R0f[i : i + 1], last))
                if last[0] < done[0]:
                    done[:] = last
            polished.append(th_i)
        thf = torch.cat(polished)
        with torch.no_grad():
            Rf, Tf = fit.rt(R0f, thf[:, :3], thf[:, 3], thf[:, 4], thf[:, 5])
            sil_f = fit.render(Rf, Tf, tuple(refs[2].shape))
            loss_f = _loss(sil_f, blur(refs[2][None], BLUR_PX[1])[0], BLUR_PX[1])
            iou_f = _iou(sil_f, refs[2])
        j = int(torch.argmin(loss_f))
        # the winner by final loss at image_size (or, when cancelled, the best step kept)
        R0b, theta = tracker.kept((R0f[j : j + 1], thf[j : j + 1]))
        if not tracker.cancelled:
            k = int(fin[j])
        coarse_iou = float(ious[k])
        # the refined finalists (IoU at image_size) and the other distinct poses of the coarse stage (at half)
        alternatives = _alternatives(fit, R0f, thf, iou_f, camera_of, max(refs[2].shape))
        alternatives += [a for a in _alternatives(fit, R0, theta_coarse, ious, camera_of, max(refs[1].shape))
                         if all(_apart(a, b) for b in alternatives)]
        alternatives.sort(key=lambda a: -a["iou"])  # best first (stable: a refined pose before an equal coarse one)
        with torch.no_grad():
            R, T = fit.rt(R0b, theta[:, :3], theta[:, 3], theta[:, 4], theta[:, 5])
            sil = fit.render(R, T, tuple(refs[2].shape))
            final_iou = float(_iou(sil, refs[2])[0])
        won = {"R": R[0].tolist()}
        rivals = [a for a in alternatives if a["image_size"] == max(refs[2].shape) and _apart(a, won)
                  and a["iou"] >= final_iou - AMBIGUOUS_IOU]
        camera_out = make_camera(R, T)
        if not tracker.snapshots or tracker.snapshots[-1][0] != step - 1:
            tracker.snapshots.append((max(step - 1, 0), camera_out))
        result = tracker.result(
            {"camera": camera_out, "silhouette": sil[0, :, :, None].cpu()},
            {"iou": final_iou, "coarse_iou": coarse_iou, "restart": k, "candidate": int(keep[k])},
            distance=float(T[0].norm()) * radius,
            fov=fov_deg,
            steps=step,
        )
        result.cancelled = tracker.cancelled
        result.extra["alternatives"] = alternatives
        result.extra["confident"] = final_iou >= CONFIDENT_IOU
        result.extra["ambiguous"] = bool(rivals)
        for a in rivals:
            turn = float(rotation_error_deg(R[0].cpu(), torch.tensor(a["R"])))
            result.warnings.append(
                f"ambiguous silhouette: a pose {turn:.0f} degrees away fits about as well (IoU {a['iou']:.3f} against "
                f"{final_iou:.3f}); it is listed in summary.json's alternatives")
        if not result.extra["confident"]:
            result.warnings.append(
                f"unsure pose: the final silhouette IoU {final_iou:.3f} is below {CONFIDENT_IOU}; the mesh may not "
                "match the picture, or the view was not found (try more candidates / restarts or a starting camera)")
        return result

    # -------------------------------------------------------------- examples and pictures
    def example_inputs(self, seed: int = 0) -> dict[str, Any]:
        """The mesh of :func:`example_mesh`, its mask from a seeded random pose, and an initial
        camera off by up to 30 degrees (see :func:`make_example`, which also returns the truth)."""
        return make_example(seed)[0]

    def pictures(self, inputs: dict[str, Any], result: Result) -> dict[str, Any]:
        """``before_after``: ``(H, W, 3)`` the reference mask (grey) with the initial silhouette's
        outline in red and the final one's in green, with a legend below; ``progress``: ``(N, H, W, 3)`` frames of the
        render at each snapshot over the reference (reference red, render green, overlap yellow)."""
        mask = image_to_mask(inputs["image"].cpu(), result.params.get("background", "auto"),
                             result.params.get("threshold", 0.1)).float()
        mask = resize_mask(mask, 256)
        hw = tuple(mask.shape)
        mesh = inputs["mesh"].cpu()
        (unit,), centres, radii = normalize_to_unit_sphere([mesh.verts_packed().double()], "bbox", "mesh")
        unit_mesh = Meshes([unit.float()], [mesh.faces_packed()])

        def sil(cam) -> torch.Tensor:
            if cam is None:
                return torch.zeros(hw)
            if cam.is_perspective():  # drawn at unit scale: the rasteriser's depths work at any scale
                return _hard_silhouette(unit_mesh, _scaled_camera(cam.cpu(), centres[0], float(radii[0])), hw)
            return _hard_silhouette(mesh, cam, hw)

        def outline(m: torch.Tensor) -> torch.Tensor:
            b = m > 0.5
            pad = F.pad(b[None, None].float(), (1, 1, 1, 1), mode="replicate")
            er = -F.max_pool2d(-pad, 3, stride=1)[0, 0] > 0.5
            return b & ~er

        base = (0.15 + 0.45 * mask)[..., None].expand(*hw, 3).clone()
        init = inputs.get("camera")
        if init is None and result.snapshots:
            init = result.snapshots[0][1]
        out_init, out_final = outline(sil(init)), outline(sil(result.outputs["camera"]))
        before_after = base.clone()
        before_after[out_init] = torch.tensor([1.0, 0.2, 0.2])
        before_after[out_final] = torch.tensor([0.2, 1.0, 0.2])
        frames = []
        for _, cam in result.snapshots:
            s = sil(cam)
            frames.append(torch.stack([0.8 * mask, 0.8 * s, 0.1 * torch.ones_like(s)], -1))
        from ..plots import legend

        start = "given camera" if inputs.get("camera") is not None else "search start"
        before_after = legend(before_after.clamp(0, 1), [
            ((0.6, 0.6, 0.6), "target mask (input)"),
            ((1.0, 0.2, 0.2), f"start outline ({start})"),
            ((0.2, 1.0, 0.2), f"found outline (IoU {result.metrics.get('iou', float('nan')):.3f})"),
        ])
        pics = {"before_after": before_after}
        if frames:
            pics["progress"] = torch.stack(frames).clamp(0, 1)
        return pics


def _normalised_surface(mesh: Meshes, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """The mesh centred and scaled into the unit sphere (float64 arithmetic, so that any float32
    scale works) -> ``verts (V, 3)`` float32, ``faces (F, 3)``, ``centre (3,)`` float32, ``radius``.

    Raises ``ValueError`` naming ``mesh`` when no face has an area (collinear or duplicate
    vertices): there is no silhouette to fit."""
    faces = mesh.faces_packed().to(device)
    (unit,), centres, radii = normalize_to_unit_sphere([mesh.verts_packed().to(device, torch.float64)], "bbox", "mesh")
    corners = unit[faces]
    twice_area = torch.linalg.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=1).norm(dim=1)
    if float(radii[0]) <= 0 or not float(twice_area.sum()) > 1e-10:
        raise ValueError(f"mesh: expected a surface (faces of non-zero area), found {faces.shape[0]} face(s), all "
                         "of zero area (collinear or duplicate vertices): there is no silhouette to fit")
    return unit.float(), faces, centres[0].float(), float(radii[0])


def _scaled_camera(camera, centre: torch.Tensor, radius: float):
    """The perspective ``camera`` that sees ``(x - centre) / radius`` as ``camera`` sees ``x``
    (``centre (3,)`` float64): ``X R + T = radius ((x - centre) / radius R + (centre R + T) / radius)``."""
    from ..io.cameras import camera_fields

    fields = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in camera_fields(camera).items()}
    R = camera.R.detach().cpu().double()
    fields["T"] = ((camera.T.detach().cpu().double() + centre @ R) / radius).float()
    for k in ("znear", "zfar"):
        if k in fields:
            fields[k] = (torch.as_tensor(fields[k], dtype=torch.float64) / radius).float()
    return type(camera)(**fields)


def _hard_silhouette(mesh: Meshes, camera, hw) -> torch.Tensor:
    """Hard (K = 1) silhouette ``(H, W)`` of ``mesh`` seen by ``camera``."""
    rs = RasterizationSettings(image_size=hw, faces_per_pixel=1)
    with torch.no_grad():
        frags = MeshRasterizer(camera.to(mesh.verts_packed().device), rs)(mesh)
    return (frags.pix_to_face[0, ..., 0] >= 0).float()


# ------------------------------------------------------------------ the generated example
def example_mesh(level: int = 3) -> Meshes:
    """An asymmetric three-armed blob (no rotational or mirror symmetry): a small ellipsoid body
    with three arms of different lengths and widths along non-coplanar directions, plus a dent;
    radius 1, centred. Its silhouette changes clearly with every rotation, as a real prop's does.
    ``level`` is the icosphere level (3: 642 vertices, 1280 faces)."""
    from ..geometry.shapes import radial_mesh

    feats = torch.tensor(
        [  # direction x, y, z, relative amplitude, angular width (1 - cos)
            [1.0, 0.25, 0.1, 1.10, 0.07],
            [-0.35, 1.0, 0.25, 0.65, 0.09],
            [-0.2, -0.45, 1.0, 0.40, 0.12],
            [-0.6, -0.7, -0.5, -0.20, 0.10],
        ],
        dtype=torch.float64,
    )
    dirs = feats[:, :3] / feats[:, :3].norm(dim=1, keepdim=True)
    axes = torch.tensor([1.0, 0.8, 0.65], dtype=torch.float64)

    def radius(d):
        base = (d / axes).pow(2).sum(1).rsqrt()
        bump = (feats[:, 3] * torch.exp(-(1 - d @ dirs.T) / feats[:, 4])).sum(1)
        return base * (1 + bump)

    return radial_mesh(radius, level)


def make_example(seed: int = 0, *, image_size: int = 128, max_error_deg: float = 30.0, fov: float = 40.0):
    """A seeded pose-estimation problem -> ``(inputs, truth)``.

    ``inputs``: ``mesh`` (:func:`example_mesh`), ``image`` ``(S, S, 1)`` with
    ``S = 2 * image_size``: the silhouette from the true camera (hard render at
    ``2 S``, 2x2 averaged), ``camera``: the initial guess, the true rotation
    turned about the object's centre by a random angle in ``[0.5, 1] *
    max_error_deg`` about a random axis, at a depth off by up to 10 % and
    shifted sideways by up to 5 % of the distance.
    ``truth``: ``{"camera": FoVPerspectiveCameras, "R": (3, 3), "T": (3,), "distance": float,
    "initial_error_deg": float}``; the object's centre is the world origin, so the
    camera-object distance is ``|T|``.
    """
    g = torch.Generator().manual_seed(int(seed))
    mesh = example_mesh()
    R_true = random_rotations(1, generator=g)[0]
    dist = 2.6 + 0.8 * torch.rand((), generator=g).item()
    off = (torch.rand(2, generator=g) * 2 - 1) * 0.06 * dist
    T_true = torch.tensor([float(off[0]), float(off[1]), dist])
    cam_true = FoVPerspectiveCameras(R=R_true[None], T=T_true[None], fov=fov)
    S = image_size * 2
    sil = _hard_silhouette(mesh, cam_true, (2 * S, 2 * S))
    image = F.avg_pool2d(sil[None, None], 2)[0, 0][..., None]  # (S, S, 1)

    axis = torch.randn(3, generator=g)
    axis = axis / axis.norm()
    angle = math.radians(max_error_deg) * (0.5 + 0.5 * torch.rand((), generator=g).item())
    # turn the object about its centre: R_init = R_true exp(angle axis) keeps T's meaning
    R_init = R_true @ so3_exp_map((axis * angle)[None])[0]
    scale = 1 + (torch.rand((), generator=g).item() * 2 - 1) * 0.10
    shift = (torch.rand(2, generator=g) * 2 - 1) * 0.05 * dist
    T_init = torch.tensor([float(T_true[0] + shift[0]), float(T_true[1] + shift[1]), dist * scale])
    cam_init = FoVPerspectiveCameras(R=R_init[None], T=T_init[None], fov=fov)
    truth = {
        "camera": cam_true,
        "R": R_true,
        "T": T_true,
        "distance": float(T_true.norm()),
        "initial_error_deg": float(rotation_error_deg(R_true, R_init)),
    }
    return {"mesh": mesh, "image": image, "camera": cam_init}, truth

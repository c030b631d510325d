"""Exact conversion between Blender cameras and unrender cameras, on plain numbers.

Core never imports ``bpy``: a Blender camera is described by a
:class:`BlenderCamera` (the fields Blender's renderer reads), which
:meth:`BlenderCamera.from_bpy` fills by reading attributes of a camera object
and a scene (duck-typed; the add-on or a headless script passes real bpy
objects).

Blender's rules, as implemented by ``BKE_camera_params_compute_viewplane`` and
Cycles (checked against ``bpy_extras.object_utils.world_to_camera_view`` and
Cycles renders in ``tests/test_cameras_blender.py``):

* The camera looks down its local ``-Z`` with ``+Y`` up and ``+X`` right.
  Blender removes the object's scale: the 3x3 part of ``matrix_world`` has its
  columns normalised (``Matrix.normalized()``). A PyTorch3D view
  (``+X`` left, ``+Z`` forward) is that frame turned 180 degrees about ``Y``:
  ``R = A^-T diag(-1, 1, -1)``, ``T = -location @ R`` (``A`` the normalised
  3x3; ``A^-T = A`` for a rotation).
* Render size ``W = resolution_x * resolution_percentage // 100`` and likewise
  ``H`` (integer division, as Blender).
* Pixel aspect ``(ax, ay)`` stretches pixels: ``ycor = ay / ax``. It is
  supported exactly: the camera gets ``fx != fy``.
* Sensor fit: ``AUTO`` fits the horizontal side when ``ax * W >= ay * H`` and
  the vertical one otherwise, using ``sensor_width`` as the sensor size in both
  cases; ``HORIZONTAL`` uses ``sensor_width``, ``VERTICAL`` ``sensor_height``.
  The fitted size in pixels is ``viewfac = W`` (horizontal) or
  ``ycor * H`` (vertical).
* One pixel spans ``pix = (sensor / lens) / viewfac`` at unit depth
  (perspective) or ``pix = ortho_scale / viewfac`` (orthographic: the ortho
  scale spans the fitted side).
* ``shift_x`` / ``shift_y`` move the view plane by ``shift * viewfac`` pixels,
  i.e. in units of the fitted side.

So with ``s = min(H, W) / 2`` (half the shorter side = 1 NDC unit) the NDC
camera is ``fx = 1 / (s pix)``, ``fy = 1 / (s ycor pix)``,
``px = shift_x viewfac / s``, ``py = -shift_y viewfac / (s ycor)``:
``PerspectiveCameras`` or ``OrthographicCameras`` in NDC with ``image_size``
``(H, W)``. Clipping (``clip_start``/``clip_end``) is not part of those
cameras; it stays on the :class:`BlenderCamera`. Panoramic cameras are not
supported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np
import torch

from ..screen import parse_image_sizes
from .cameras import (
    CamerasBase,
    FoVOrthographicCameras,
    FoVPerspectiveCameras,
    OrthographicCameras,
    PerspectiveCameras,
)

__all__ = ["BlenderCamera", "cameras_from_blender", "blender_from_cameras", "fov_cameras_from_blender"]

_TYPES = ("PERSP", "ORTHO")
_FITS = ("AUTO", "HORIZONTAL", "VERTICAL")
_VIEW_FROM_BLENDER = np.diag([-1.0, 1.0, -1.0])  # Blender camera axes -> PyTorch3D view axes


def _identity() -> list[list[float]]:
    return np.eye(4).tolist()


@dataclass
class BlenderCamera:
    """The numbers Blender renders a camera from (defaults: a new Blender camera and scene).

    Attributes mirror ``bpy`` names: ``matrix_world`` (4x4, object to world,
    column-vector convention as ``Object.matrix_world``), camera data fields
    ``type``, ``lens`` (mm), ``sensor_width``, ``sensor_height`` (mm),
    ``sensor_fit``, ``shift_x``, ``shift_y``, ``ortho_scale``, ``clip_start``,
    ``clip_end``, and render settings ``resolution_x``, ``resolution_y``,
    ``resolution_percentage``, ``pixel_aspect_x``, ``pixel_aspect_y``.
    """

    matrix_world: Any = field(default_factory=_identity)
    type: str = "PERSP"
    lens: float = 50.0
    sensor_width: float = 36.0
    sensor_height: float = 24.0
    sensor_fit: str = "AUTO"
    shift_x: float = 0.0
    shift_y: float = 0.0
    ortho_scale: float = 6.0
    clip_start: float = 0.1
    clip_end: float = 1000.0
    resolution_x: int = 1920
    resolution_y: int = 1080
    resolution_percentage: int = 100
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0

    @classmethod
    def from_bpy(cls, camera_object, scene) -> "BlenderCamera":
        """Read a camera object and a scene (duck-typed: no ``bpy`` import).

        ``camera_object.matrix_world`` must be current (after
        ``view_layer.update()`` when the transform was just changed).
        """
        d, r = camera_object.data, scene.render
        return cls(
            matrix_world=[[float(v) for v in row] for row in camera_object.matrix_world],
            type=str(d.type), lens=float(d.lens), sensor_width=float(d.sensor_width),
            sensor_height=float(d.sensor_height), sensor_fit=str(d.sensor_fit), shift_x=float(d.shift_x),
            shift_y=float(d.shift_y), ortho_scale=float(d.ortho_scale), clip_start=float(d.clip_start),
            clip_end=float(d.clip_end), resolution_x=int(r.resolution_x), resolution_y=int(r.resolution_y),
            resolution_percentage=int(r.resolution_percentage), pixel_aspect_x=float(r.pixel_aspect_x),
            pixel_aspect_y=float(r.pixel_aspect_y),
        )

    def apply_to_bpy(self, camera_object, scene) -> None:
        """Write these numbers into a camera object and a scene (duck-typed)."""
        d, r = camera_object.data, scene.render
        rows = [[float(v) for v in row] for row in np.asarray(self.matrix_world, dtype=np.float64)]
        # a plain nested list would be read column-major by bpy; build the object's own matrix type
        # (mathutils.Matrix, whose constructor takes rows) without importing it
        camera_object.matrix_world = type(camera_object.matrix_world)(rows)
        for name in ("type", "lens", "sensor_width", "sensor_height", "sensor_fit", "shift_x", "shift_y",
                     "ortho_scale", "clip_start", "clip_end"):
            setattr(d, name, getattr(self, name))
        for name in ("resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x", "pixel_aspect_y"):
            setattr(r, name, getattr(self, name))

    @property
    def render_size(self) -> tuple[int, int]:
        """``(H, W)`` of the rendered image (resolution times percentage, floored)."""
        self._check_resolution()
        pct = int(self.resolution_percentage)
        return int(self.resolution_y) * pct // 100, int(self.resolution_x) * pct // 100

    # ----------------------------------------------------------------- checks
    def _check_resolution(self) -> None:
        for name in ("resolution_x", "resolution_y", "resolution_percentage"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, found {v!r}")
        pct = int(self.resolution_percentage)
        for name in ("resolution_x", "resolution_y"):
            if int(getattr(self, name)) * pct // 100 < 1:
                raise ValueError(f"{name}: expected at least one pixel at {pct}%, found {getattr(self, name)}")

    def validate(self) -> np.ndarray:
        """Check every field; return ``matrix_world`` as a ``(4, 4)`` float64 array."""
        if self.type not in _TYPES:
            raise ValueError(f"type: expected 'PERSP' or 'ORTHO' (panoramic cameras are not supported), found {self.type!r}")
        if self.sensor_fit not in _FITS:
            raise ValueError(f"sensor_fit: expected one of {_FITS}, found {self.sensor_fit!r}")
        for name in ("lens", "sensor_width", "sensor_height", "ortho_scale", "clip_start", "clip_end",
                     "pixel_aspect_x", "pixel_aspect_y"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name}: expected a finite number > 0, found {v!r}")
        for name in ("shift_x", "shift_y"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
                raise ValueError(f"{name}: expected a finite number, found {v!r}")
        if self.clip_end <= self.clip_start:
            raise ValueError(f"clip_end: expected clip_end > clip_start ({self.clip_start}), found {self.clip_end}")
        self._check_resolution()
        m = self.matrix_world
        if isinstance(m, torch.Tensor):
            m = m.detach().cpu().double().numpy()
        try:
            m = np.array([[float(v) for v in row] for row in m], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"matrix_world: expected a 4x4 matrix of numbers, found {self.matrix_world!r}") from None
        if m.shape != (4, 4) or not np.isfinite(m).all():
            raise ValueError(f"matrix_world: expected a finite 4x4 matrix, found shape {m.shape}")
        if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise ValueError(f"matrix_world: expected the last row (0, 0, 0, 1), found {m[3].tolist()}")
        norms = np.linalg.norm(m[:3, :3], axis=0)
        if (norms < 1e-12).any() or abs(np.linalg.det(m[:3, :3] / norms)) < 1e-9:
            raise ValueError("matrix_world: expected an invertible camera transform, found a singular 3x3 part")
        return m


def _viewplane(cam: BlenderCamera, W: int, H: int) -> tuple[float, float, float]:
    """``(viewfac, ycor, pix)``: fitted side in pixels, pixel aspect ``ay / ax``, pixel size (unit depth / world)."""
    ax, ay = float(cam.pixel_aspect_x), float(cam.pixel_aspect_y)
    ycor = ay / ax
    fit = cam.sensor_fit
    if fit == "AUTO":
        fit = "HORIZONTAL" if ax * W >= ay * H else "VERTICAL"
    viewfac = W if fit == "HORIZONTAL" else ycor * H
    sensor = float(cam.sensor_height) if cam.sensor_fit == "VERTICAL" else float(cam.sensor_width)
    size = sensor / float(cam.lens) if cam.type == "PERSP" else float(cam.ortho_scale)
    return viewfac, ycor, size / viewfac


def _blender_to_rt(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0)  # Blender drops the object scale
    R = np.linalg.inv(a).T @ _VIEW_FROM_BLENDER
    T = -m[:3, 3] @ R
    return R, T


def cameras_from_blender(camera: BlenderCamera | Sequence[BlenderCamera] | None = None, *,
                         dtype: torch.dtype = torch.float64, device=None, **fields_):
    """Blender camera(s) -> ``(cameras, (H, W))``.

    Args:
        camera: a :class:`BlenderCamera`, a sequence of them (one render size
            for all), or ``None`` / a 4x4 ``matrix_world`` to build one from
            keyword ``fields_`` (``lens=..., resolution_x=...``, the
            :class:`BlenderCamera` field names).
        dtype: floating dtype of the cameras (float64 keeps round trips exact).
    Returns:
        ``PerspectiveCameras`` or ``OrthographicCameras`` (NDC, ``image_size``
        set) of batch ``N``, and the render size ``(H, W)``.
    """
    is_cam = isinstance(camera, BlenderCamera)
    is_seq = isinstance(camera, (list, tuple)) and bool(camera) and all(isinstance(c, BlenderCamera) for c in camera)
    if (is_cam or is_seq) and fields_:
        raise ValueError(f"{next(iter(fields_))}: pass either a BlenderCamera or keyword fields, found both")
    if is_cam:
        cams = [camera]
    elif is_seq:
        cams = list(camera)
    elif camera is None or isinstance(camera, (list, tuple, np.ndarray, torch.Tensor)) or hasattr(camera, "to_4x4"):
        names = {f.name for f in fields(BlenderCamera)}
        unknown = sorted(set(fields_) - names)
        if unknown:
            raise ValueError(f"{unknown[0]}: expected a BlenderCamera field ({', '.join(sorted(names))}), found an unknown name")
        if camera is not None:  # cameras_from_blender(matrix_world, lens=..., ...)
            if "matrix_world" in fields_:
                raise ValueError("matrix_world: given both positionally and as a keyword")
            fields_ = dict(fields_, matrix_world=camera)
        cams = [BlenderCamera(**fields_)]
    else:
        raise ValueError(f"camera: expected a BlenderCamera, a sequence of them or a 4x4 matrix_world, found {camera!r}")
    kinds = {c.type for c in cams}
    if len(kinds) > 1:
        raise ValueError(f"camera: expected one camera type in a batch, found {sorted(kinds)}")
    sizes = {c.render_size for c in cams}
    if len(sizes) > 1:
        raise ValueError(f"camera: expected one render size for the batch, found {sorted(sizes)}")
    H, W = sizes.pop()
    s = min(H, W) / 2.0
    focal, pp, Rs, Ts = [], [], [], []
    for c in cams:
        m = c.validate()
        viewfac, ycor, pix = _viewplane(c, W, H)
        focal.append((1.0 / (s * pix), 1.0 / (s * ycor * pix)))
        pp.append((float(c.shift_x) * viewfac / s, -float(c.shift_y) * viewfac / (s * ycor)))
        R, T = _blender_to_rt(m)
        Rs.append(R)
        Ts.append(T)
    kw = dict(dtype=dtype, device=device)
    cls = PerspectiveCameras if cams[0].type == "PERSP" else OrthographicCameras
    cameras = cls(focal_length=torch.tensor(focal, **kw), principal_point=torch.tensor(pp, **kw),
                  R=torch.tensor(np.stack(Rs), **kw), T=torch.tensor(np.stack(Ts), **kw),
                  in_ndc=True, image_size=(H, W))
    return cameras, (H, W)


def fov_cameras_from_blender(camera: BlenderCamera, *, dtype: torch.dtype = torch.float32, device=None):
    """One perspective Blender camera -> ``(FoVPerspectiveCameras, (H, W))`` that renders the same image.

    The field of view spans the shorter side of the render (the FoV cameras'
    convention) and ``znear``/``zfar`` are the clip distances. Raises
    ``ValueError`` naming the field a FoV camera cannot express: an
    orthographic ``type``, a lens ``shift_x``/``shift_y`` or non-square pixels
    (``pixel_aspect_x`` != ``pixel_aspect_y``); use :func:`cameras_from_blender`
    for those.
    """
    if not isinstance(camera, BlenderCamera):
        raise ValueError(f"camera: expected a BlenderCamera, found {type(camera).__name__}")
    camera.validate()
    if camera.type != "PERSP":
        raise ValueError(f"type: expected a perspective camera ('PERSP'), found {camera.type!r}")
    for name in ("shift_x", "shift_y"):
        if float(getattr(camera, name)) != 0.0:
            raise ValueError(f"{name}: expected 0 (a FoV camera has no lens shift), found {getattr(camera, name)}")
    if float(camera.pixel_aspect_x) != float(camera.pixel_aspect_y):
        raise ValueError(f"pixel_aspect_x: expected square pixels (pixel_aspect_y = {camera.pixel_aspect_y}), "
                         f"found {camera.pixel_aspect_x}")
    persp, (H, W) = cameras_from_blender(camera, dtype=torch.float64)
    f = float(persp.focal_length[0, 0])  # NDC focal length: the shorter side spans [-1, 1]
    cameras = FoVPerspectiveCameras(
        znear=float(camera.clip_start), zfar=float(camera.clip_end), fov=math.degrees(2.0 * math.atan(1.0 / f)),
        R=persp.R.to(dtype), T=persp.T.to(dtype), device=device,
    )
    return cameras, (H, W)


def blender_from_cameras(cameras: CamerasBase, image_size=None, *, sensor_fit: str = "AUTO",
                         sensor_width: float = 36.0, sensor_height: float = 24.0, clip_start: float | None = None,
                         clip_end: float | None = None, resolution_percentage: int = 100) -> BlenderCamera:
    """One unrender camera -> the :class:`BlenderCamera` that renders the same image.

    Args:
        cameras: a batch of one camera (index a batch with ``cameras[i]``); any
            of the four classes.
        image_size: ``(H, W)``; defaults to the camera's ``image_size``.
        sensor_fit, sensor_width, sensor_height: the sensor to express the
            lens in (any choice gives the same image).
        clip_start, clip_end: default to the camera's ``znear``/``zfar`` for
            FoV cameras (when ``znear > 0``), else Blender's 0.1 / 1000.
        resolution_percentage: the percentage to store; ``resolution_x/y``
            are chosen so that the render size is ``(H, W)``.
    Returns:
        A ``BlenderCamera``. Non-square NDC pixels (``fx != fy``) become a pixel
        aspect (both aspects kept >= 1, as Blender requires).
    """
    if not isinstance(cameras, CamerasBase):
        raise ValueError(f"cameras: expected unrender cameras, found {type(cameras).__name__}")
    if len(cameras) != 1:
        raise ValueError(f"cameras: expected a batch of one camera (use cameras[i]), found {len(cameras)}")
    if sensor_fit not in _FITS:
        raise ValueError(f"sensor_fit: expected one of {_FITS}, found {sensor_fit!r}")
    for name, v in (("sensor_width", sensor_width), ("sensor_height", sensor_height)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name}: expected a finite number > 0, found {v!r}")
    size = parse_image_sizes(image_size, cameras.device) if image_size is not None else cameras.get_image_size()
    if size is None:
        raise ValueError("image_size: expected (H, W) (the camera carries none), found None")
    if size.shape[0] != 1 and not bool((size == size[:1]).all()):
        raise ValueError(f"image_size: expected one (H, W), found {size.tolist()}")
    H, W = (int(v) for v in size[0].tolist())
    if isinstance(resolution_percentage, bool) or not isinstance(resolution_percentage, int) or resolution_percentage < 1:
        raise ValueError(f"resolution_percentage: expected an int >= 1, found {resolution_percentage!r}")

    fx, fy, px, py = (float(v) for v in cameras.ndc_intrinsics(size[:1]).detach().double()[0])
    R = cameras.R.detach().double().cpu().numpy()[0]
    T = cameras.T.detach().double().cpu().numpy()[0]
    # Blender normalises the axes of matrix_world, so only matrices with unit axes survive the trip.
    a = np.linalg.inv(R @ _VIEW_FROM_BLENDER).T
    if not np.allclose(np.linalg.norm(a, axis=0), 1.0, atol=1e-6):
        raise ValueError(
            "R: expected a rotation (Blender removes scale from a camera's matrix_world), found axes of lengths "
            f"{np.linalg.norm(a, axis=0).round(6).tolist()}"
        )
    m = np.eye(4)
    m[:3, :3] = a
    m[:3, 3] = -T @ np.linalg.inv(R)

    ycor = fx / fy
    if abs(ycor - 1.0) < 4 * torch.finfo(cameras.dtype).eps:  # square pixels up to the camera's rounding
        ycor = 1.0
    ax, ay = (1.0 / ycor, 1.0) if ycor <= 1.0 else (1.0, ycor)

    def res(n: int) -> int:
        r = -(-n * 100 // resolution_percentage)  # smallest r with r * pct // 100 >= n
        if r * resolution_percentage // 100 != n:
            raise ValueError(f"resolution_percentage: no whole resolution renders {n} pixels at {resolution_percentage}%")
        return r

    cam = BlenderCamera(
        matrix_world=m.tolist(), type="PERSP" if cameras.is_perspective() else "ORTHO", sensor_fit=sensor_fit,
        sensor_width=float(sensor_width), sensor_height=float(sensor_height), resolution_x=res(W),
        resolution_y=res(H), resolution_percentage=resolution_percentage, pixel_aspect_x=ax, pixel_aspect_y=ay,
    )
    # with lens = ortho_scale = 1, _viewplane's pixel size is sensor / viewfac (perspective)
    viewfac, ycor, unit_pix = _viewplane(replace(cam, lens=1.0, ortho_scale=1.0), W, H)
    s = min(H, W) / 2.0
    pix = 1.0 / (s * fx)  # pixel size at unit depth (perspective) or in world units (orthographic)
    if cam.type == "PERSP":
        cam.lens = unit_pix / pix
    else:
        cam.ortho_scale = pix * viewfac
    cam.shift_x = px * s / viewfac
    cam.shift_y = -py * s * ycor / viewfac

    if isinstance(cameras, (FoVPerspectiveCameras, FoVOrthographicCameras)):
        zn, zf = float(cameras.znear[0]), float(cameras.zfar[0])
        if zn > 0:
            cam.clip_start, cam.clip_end = zn, zf
    if clip_start is not None:
        cam.clip_start = float(clip_start)
    if clip_end is not None:
        cam.clip_end = float(clip_end)
    cam.validate()
    return cam

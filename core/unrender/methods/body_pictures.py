"""Pictures of body fits: the fitted body drawn from its camera with keypoints over it."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..cameras import PerspectiveCameras
from ..render.mesh.rasterizer import MeshRasterizer, RasterizationSettings
from ..plots import legend
from ..structures import Meshes

__all__ = ["keypoint_overlay", "keypoints_over"]

_GIVEN_COLOUR, _FITTED_COLOUR = (230, 60, 50), (60, 220, 90)


def _dots(draw, points, colour, r: int) -> None:
    for x, y in points:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)


def _given(keypoints: torch.Tensor, s: float) -> list[tuple[float, float]]:
    """The confident (> 0.1) points of ``keypoints (K, 3)``, scaled by ``s``."""
    return [(float(x) * s, float(y) * s) for x, y, c in keypoints.detach().cpu().double().tolist() if c > 0.1]


def keypoints_over(picture: torch.Tensor | None, image_size: tuple[int, int], keypoints: torch.Tensor,
                   fitted=None, *, max_size: int = 2048) -> torch.Tensor:
    """``(h, w, 3)`` float: the whole frame of ``image_size (W, H)`` pixels (the photo ``picture (H, W, C)``
    float in [0, 1], or plain grey when ``None``) with ``keypoints (K, 3)`` (pixels and confidence; red) and
    ``fitted (K, 2)`` pixels (green, when given) drawn over it, scaled uniformly to at most ``max_size``
    pixels on its longer side. Not cropped: it lines up with a camera of that image size."""
    W, H = (int(v) for v in image_size)
    s = min(1.0, max_size / max(W, H))
    w, h = max(int(round(W * s)), 1), max(int(round(H * s)), 1)
    if picture is None:
        pil = Image.new("RGB", (w, h), (90, 90, 90))
    else:
        px = picture.detach().cpu().float()
        px = px[..., :3] if px.shape[-1] >= 3 else px[..., :1].expand(*px.shape[:2], 3)
        pil = Image.fromarray((px.clamp(0, 1).numpy() * 255).round().astype(np.uint8)).resize((w, h), Image.LANCZOS)
    draw = ImageDraw.Draw(pil)
    r = max(2, int(round(max(w, h) / 200)))
    sx, sy = w / W, h / H
    _dots(draw, [(x * sx, y * sy) for x, y in _given(keypoints, 1.0)], _GIVEN_COLOUR, r)
    if fitted is not None:
        _dots(draw, [(float(x) * sx, float(y) * sy) for x, y in fitted], _FITTED_COLOUR, r)
    return torch.from_numpy(np.asarray(pil).astype(np.float32) / 255.0)


def keypoint_overlay(mesh: Meshes, body, keypoints: torch.Tensor, *, max_size: int = 512) -> torch.Tensor:
    """``(H, W, 3)`` the body ``mesh`` (OpenGL camera frame) as its camera ``body.focal`` /
    ``body.image_size`` sees it, shaded grey, with ``keypoints (K, 3)`` given (red) and the body's
    own keypoints (green, when the layout is known) drawn over it, scaled to at most ``max_size``."""
    W, H = body.image_size
    s = min(1.0, 2 * max_size / max(W, H))  # rendered finer than shown: the crop below is enlarged
    w, h = max(int(round(W * s)), 8), max(int(round(H * s)), 8)
    f = body.focal * s
    # OpenGL camera frame (X right, Y up, looking down -Z) -> PyTorch3D's view frame (X left, Y up, +Z ahead).
    v = mesh.verts_packed().double() * torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)
    cam = PerspectiveCameras(focal_length=((f, f),), principal_point=((w / 2.0, h / 2.0),), in_ndc=False,
                             image_size=((h, w),))
    view = Meshes([v.float()], [mesh.faces_packed()])
    frags = MeshRasterizer(cameras=cam, raster_settings=RasterizationSettings(image_size=(h, w)))(view)
    face = frags.pix_to_face[0, ..., 0]
    v0, v1, v2 = (v[mesh.faces_packed()[:, i]] for i in range(3))
    n = torch.cross(v1 - v0, v2 - v0, dim=1)
    n = n / n.norm(dim=1, keepdim=True).clamp_min(1e-12)
    centre = (v0 + v1 + v2) / 3
    shade = (n * -centre / centre.norm(dim=1, keepdim=True)).sum(1).abs()  # facing the camera: bright
    img = torch.full((h, w, 3), 0.12, dtype=torch.float64)
    hit = face >= 0
    g = 0.25 + 0.65 * shade[face[hit]]
    img[hit] = torch.stack([g, g, g * 1.05], -1).clamp(0, 1)
    pil = Image.fromarray((img.numpy() * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    r = max(2, int(round(max(w, h) / 200)))

    pts = _given(keypoints, s)
    _dots(draw, pts, _GIVEN_COLOUR, r)
    fitted = body.extra.get("fitted_keypoints")
    if fitted:
        _dots(draw, [(x * s, y * s) for x, y in fitted], _FITTED_COLOUR, r)
    # Crop to the body and the keypoints, with a margin: the image around them is empty.
    ys, xs = torch.nonzero(hit, as_tuple=True)
    x0 = min([float(xs.min()) if len(xs) else float(w)] + [p[0] for p in pts])
    x1 = max([float(xs.max()) if len(xs) else 0.0] + [p[0] for p in pts])
    y0 = min([float(ys.min()) if len(ys) else float(h)] + [p[1] for p in pts])
    y1 = max([float(ys.max()) if len(ys) else 0.0] + [p[1] for p in pts])
    m = 0.08 * max(x1 - x0, y1 - y0, 16.0)
    box = (int(max(x0 - m, 0)), int(max(y0 - m, 0)), int(min(x1 + m, w)), int(min(y1 + m, h)))
    crop = pil.crop(box)
    k = max_size / max(crop.size)
    crop = crop.resize((max(int(crop.size[0] * k), 1), max(int(crop.size[1] * k), 1)), Image.LANCZOS)
    out = torch.from_numpy(np.asarray(crop).astype(np.float32) / 255.0)
    return legend(out, [((0.9, 0.24, 0.2), "given keypoints"), ((0.24, 0.86, 0.35), "the fitted body's keypoints")])

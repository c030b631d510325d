"""``reconstruct-image``: one picture of an object to a mesh (plus a voxel grid and a point cloud) by a learned
single-view model (:mod:`unrender.models`: vox, points or mesh; the shipped checkpoints or one of your own).

The picture is an RGBA image (its alpha is the object's mask) or an RGB picture on a plain background (keyed by
:func:`unrender.image.image_to_mask`); grey pictures are taken as RGB. The object is framed as the models were
trained (:func:`unrender.image.frame_object`: a square crop around the mask, resized to the model's input) and
predicted in the camera's view axes (viewer-centred, see :mod:`unrender.models`).

**Where the result is.** Every output is in the *training frame*: the axes of the camera that took the picture
(PyTorch3D's view axes: ``+X`` left, ``+Y`` up, ``+Z`` away from the camera) with that camera at ``(0, 0, -2.2)``,
the distance the models were trained at, looking along ``+Z`` at the origin. The ``cameras`` output is that
camera (``R = I``, ``T = (0, 0, 2.2)``, the field of view of the ``cameras`` input, else the training 40
degrees). The prediction is moved so that it projects onto the picture's mask: its depth is set so that its
width (or height, along the mask's longer side) matches the mask's, and its centre lies on the ray through the
mask's centre. A picture framed like the training renders puts the object at the origin; a smaller object
lies farther away, an off-centre one off the axis. To put the result in a scene, map the training frame onto
the scene's camera (the add-on does this: the object appears in front of the active camera where the picture
shows it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import CAMERA_DISTANCE, CAMERA_FOV
from ..image import enlarge_nearest, fit_size, frame_object, image_to_mask, network_input
from ..structures import Meshes, PointClouds, Voxels
from .base import Input, Method, Output, Param, Result
from .registry import register

__all__ = ["ReconstructImage", "MODEL_KINDS", "picture_rgba", "training_camera", "place_in_view"]

MODEL_KINDS = ("vox", "points", "mesh")
MIN_SIDE = 16  # pictures with a shorter side are refused
_POINTS = 2048  # points sampled from the mesh when the model predicts no point cloud
_SHOWN = 192  # height of the tiles of the pictures


def picture_rgba(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """A picture ``(H, W)`` or ``(H, W, C)`` (C in 1, 2, 3, 4) -> ``(H, W, 4)`` RGBA with the object's mask as alpha.

    RGBA with any transparency keeps its alpha; RGB (and RGBA without transparency) is keyed against its border
    colour (:func:`~unrender.image.image_to_mask`); one channel is grey, two are grey and alpha. Raises
    ``ValueError`` naming ``name`` when the picture is smaller than 16 pixels on a side or its mask is empty.
    """
    if image.dim() == 2:
        image = image[..., None]
    if image.dim() != 3 or image.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"{name}: expected an (H, W, 1|2|3|4) picture, found shape {tuple(image.shape)}")
    H, W, C = image.shape
    if min(H, W) < MIN_SIDE:
        raise ValueError(f"{name}: expected a picture at least {MIN_SIDE} pixels on each side, found {W}x{H}")
    image = image.float().clamp(0, 1)
    if C in (1, 2):  # grey (+ alpha) -> RGB (+ alpha)
        image = torch.cat([image[..., :1].expand(H, W, 3), image[..., 1:]], -1)
    rgb = image[..., :3]
    if image.shape[-1] == 4 and bool((image[..., 3] < 0.99).any()):
        alpha = image[..., 3]
    else:
        alpha = image_to_mask(rgb)
    if not bool((alpha > 0.5).any()):
        raise ValueError(f"{name}: expected an object (an alpha channel with opaque pixels, or an object on a plain "
                         f"background), found an empty mask in the {W}x{H} picture")
    return torch.cat([rgb, alpha[..., None]], -1)


def training_camera(cameras=None):
    """The camera of the training frame: ``R = I``, ``T = (0, 0, 2.2)`` (at ``(0, 0, -2.2)`` looking along ``+Z``),
    with the intrinsics of ``cameras`` (one perspective camera) or a 40-degree ``FoVPerspectiveCameras``."""
    from ..cameras import FoVPerspectiveCameras

    T = torch.tensor([[0.0, 0.0, CAMERA_DISTANCE]])
    if cameras is None:
        return FoVPerspectiveCameras(znear=0.1, zfar=100.0, fov=CAMERA_FOV, R=torch.eye(3)[None], T=T)
    cam = cameras.clone()
    cam.R, cam.T = torch.eye(3, dtype=cam.R.dtype, device=cam.R.device)[None], T.to(cam.T)
    return cam


def place_in_view(points: torch.Tensor, mask: torch.Tensor, cameras, iterations: int = 8) -> torch.Tensor:
    """The translation ``(3,)`` that puts ``points (N, 3)`` (view axes) where the picture shows the object: their
    projected bounding box centred on ``mask (H, W)``'s and as long as it along the mask's longer side.

    ``cameras``: one perspective camera, whose intrinsics are used (not its pose). Starts from the depth where
    the points' extent, all at one depth, matches the mask; then a few fixed-point steps correct for perspective
    (near points look larger): the box's distance scales with the ratio of projected to wanted size, and its
    centre moves onto the mask's centre."""
    H, W = mask.shape
    rows = torch.nonzero((mask > 0.5).any(1)).flatten()
    cols = torch.nonzero((mask > 0.5).any(0)).flatten()
    s = min(H, W)
    # NDC (+X left, +Y up; the shorter side spans [-1, 1]) of the mask's box edges
    x0, x1 = (W - 2 * float(cols[-1]) - 2) / s, (W - 2 * float(cols[0])) / s
    y0, y1 = (H - 2 * float(rows[-1]) - 2) / s, (H - 2 * float(rows[0])) / s
    axis = 0 if x1 - x0 >= y1 - y0 else 1
    wanted = (x1 - x0, y1 - y0)[axis]
    goal = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2], dtype=torch.float64)
    f = cameras.ndc_intrinsics((H, W))[0].double()
    focal, principal = f[:2], f[2:]
    p = points.detach().double()
    lo, hi = p.min(0).values, p.max(0).values
    centre, half_depth = (lo + hi) / 2, float(hi[2] - lo[2]) / 2
    depth = max(float(focal[axis].abs()) * float(hi[axis] - lo[axis]) / wanted, 1e-3)
    near = half_depth + 1e-3 * max(float((hi - lo).max()), 1e-6)  # every point stays in front of the camera
    t = torch.cat([(goal - principal) * depth / focal, torch.tensor([depth], dtype=torch.float64)]) - centre
    for _ in range(iterations):
        t[2] = max(float(t[2] + centre[2]), near) - float(centre[2])
        q = p + t
        ndc = focal * q[:, :2] / q[:, 2:] + principal
        box_lo, box_hi = ndc.min(0).values, ndc.max(0).values
        distance = float(t[2] + centre[2])
        t[:2] += ((goal - (box_lo + box_hi) / 2) * distance / focal)
        t[2] = distance * float(box_hi[axis] - box_lo[axis]) / wanted - float(centre[2])
    t[2] = max(float(t[2] + centre[2]), near) - float(centre[2])
    return t.to(points)


def _vertex_colors(verts: torch.Tensor, rgba: torch.Tensor, cameras) -> torch.Tensor:
    """``(V, 3)`` colours of ``verts`` (training frame) from the picture ``rgba (H, W, 4)`` they project onto."""
    H, W = rgba.shape[:2]
    screen = cameras.transform_points_screen(verts[None], image_size=(H, W))[0]
    grid = torch.stack([screen[:, 0] / W * 2 - 1, screen[:, 1] / H * 2 - 1], -1)
    rgb = rgba[..., :3].permute(2, 0, 1)[None].to(verts)
    out = F.grid_sample(rgb, grid[None, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T.clamp(0, 1)


def _view_render(mesh: Meshes, cameras, image_size: tuple[int, int]) -> torch.Tensor:
    """``(H, W, 3)`` grey Phong render of ``mesh`` by ``cameras`` (a light at the camera) on white."""
    from ..render import HardPhongShader, MeshRasterizer, MeshRenderer, PointLights, RasterizationSettings
    from ..render.textures import TexturesVertex

    if mesh.isempty():
        return torch.ones(*image_size, 3)
    grey = Meshes(mesh.verts_list(), mesh.faces_list(),
                  textures=TexturesVertex([torch.full_like(mesh.verts_list()[0], 0.75)]))
    lights = PointLights(location=cameras.get_camera_center())
    renderer = MeshRenderer(MeshRasterizer(cameras=cameras, raster_settings=RasterizationSettings(image_size=image_size)),
                            HardPhongShader(cameras=cameras, lights=lights))
    return renderer(grey)[0, ..., :3].clamp(0, 1)


def _tile(image: torch.Tensor, label: str) -> torch.Tensor:
    """``image (H, W, 3|4)`` (RGBA over a checkerless white) scaled to the pictures' height, captioned."""
    from ..plots import caption

    if image.shape[-1] == 4:
        image = image[..., :3] * image[..., 3:] + (1 - image[..., 3:])
    h, w = fit_size(image.shape[0], image.shape[1], _SHOWN)
    if image.shape[0] < _SHOWN // 2:
        image = enlarge_nearest(image, _SHOWN)
    scaled = F.interpolate(image.permute(2, 0, 1)[None], size=(_SHOWN, round(w * _SHOWN / h)), mode="bilinear",
                           antialias=True, align_corners=False)[0].permute(1, 2, 0)
    return caption(scaled.clamp(0, 1), label)


@register
class ReconstructImage(Method):
    id = "reconstruct-image"
    label = "Reconstruct from one image"
    description = (
        "Turn one picture of an object (RGBA, or RGB on a plain background) into a mesh with vertex colours, a "
        "voxel grid and a point cloud, by a learned single-view model (vox, points or mesh), placed where the "
        "picture's camera sees it."
    )
    inputs = (
        Input("image", ("image",), "a picture of one object: RGBA (alpha is its mask) or RGB on a plain background"),
        Input("cameras", ("cameras",), "the perspective camera that took the picture: its field of view places the "
                                       "result (default: the training camera's, 40 degrees); its pose is not used",
              required=False),
    )
    params = (
        Param("model", "mesh", "the learned model: vox (voxel grid), points (point cloud) or mesh (deformed sphere)",
              choices=MODEL_KINDS),
        Param("checkpoint", "", "a checkpoint file of that model (unrender train); empty: the shipped one"),
        Param("threshold", 0.0, "vox: the occupancy probability of the surface; 0: the model's own level (chosen "
              "in training for the best F1 on the val split)", minimum=0.0, maximum=0.99),
    )
    outputs = (
        Output("mesh", "mesh", "the predicted surface, coloured from the picture, in the training frame"),
        Output("voxels", "voxels", "occupancy: the vox model's probabilities, else the mesh's inside (32^3)"),
        Output("points", "points", "the points model's cloud, else points sampled on the mesh"),
        Output("cameras", "cameras", "the camera the result is placed by: at (0, 0, -2.2) looking along +Z"),
    )

    def run(self, inputs, params, progress) -> Result:
        """Predict the object of ``inputs["image"]``; metrics ``depth`` (the object's distance from the camera)
        and ``scale`` (its size relative to the training renders' distance: 1 when framed like them)."""
        from ..models import load_checkpoint, load_shipped

        cameras = inputs.get("cameras")
        if cameras is not None and (len(cameras) != 1 or not cameras.is_perspective()):
            raise ValueError(f"cameras: expected one perspective camera, found {len(cameras)} "
                             f"{type(cameras).__name__}")
        rgba = picture_rgba(inputs["image"].cpu())
        kind = params["model"]
        if params["checkpoint"]:
            model, _ = load_checkpoint(params["checkpoint"], kind=kind)
        else:
            model = load_shipped(kind)
        device = torch.device(params["device"])
        model = model.to(device)
        if kind == "vox" and params["threshold"] > 0:
            model.config.level = params["threshold"]
        progress(0, 2, float("nan"))
        framed = frame_object(rgba, size=model.config.image_size)
        pred = model.predict(network_input(framed)[None].to(device))
        progress(1, 2, float("nan"))

        mesh = pred.meshes[0].cpu()
        camera = training_camera(None if cameras is None else cameras.cpu())
        basis = pred.points.points_list()[0].cpu() if pred.points is not None else mesh.verts_list()[0]
        if basis.shape[0] == 0:
            hint = f" (no occupancy reached the threshold {model.config.level:g}: try a lower one)" if kind == "vox" else ""
            raise ValueError(f"image: the {kind} model ({params['checkpoint'] or 'shipped'}) found no object in the "
                             f"picture{hint}")
        shift = place_in_view(basis, rgba[..., 3], camera)
        shift_world = shift - torch.tensor([0.0, 0.0, CAMERA_DISTANCE])  # view -> training frame (R = I)
        verts = mesh.verts_list()[0] + shift_world
        from ..render.textures import TexturesVertex

        colored = Meshes([verts], mesh.faces_list(),
                         textures=TexturesVertex([_vertex_colors(verts, rgba, camera)])) if verts.shape[0] else mesh
        outputs = {"mesh": colored, "cameras": camera}
        if pred.voxels is not None:
            v = pred.voxels.cpu()
            outputs["voxels"] = Voxels(v.grids_list(), v.bounds() + shift_world)
        else:
            from ..geometry import mesh_to_voxels

            box = torch.tensor([[-0.5] * 3, [0.5] * 3]) + shift_world
            outputs["voxels"] = mesh_to_voxels(Meshes([verts], mesh.faces_list()), 32, box) if verts.shape[0] else \
                Voxels([torch.zeros(32, 32, 32)], box)
        if pred.points is not None:
            outputs["points"] = PointClouds([pred.points.points_list()[0].cpu() + shift_world])
        else:
            from ..geometry import sample_points_from_meshes

            pts = sample_points_from_meshes(Meshes([verts], mesh.faces_list()), _POINTS)[0] if mesh.faces_list()[0].shape[0] \
                else verts
            outputs["points"] = PointClouds([pts])
        depth = float(shift[2])
        progress(2, 2, float("nan"))
        return Result(outputs, metrics={"depth": depth, "scale": CAMERA_DISTANCE / depth},
                      extra={"model": kind, "checkpoint": params["checkpoint"] or f"shipped {kind}",
                             "vertices": int(verts.shape[0]), "faces": int(mesh.faces_list()[0].shape[0])})

    # ------------------------------------------------------------------ example and pictures
    def example_inputs(self, seed: int = 0) -> dict:
        """A procedural chair (:func:`unrender.data.make_object`) rendered as the training data are
        (:func:`unrender.data.render_object`: a random training camera and light, 128 px)."""
        from ..data import make_object, random_cameras, render_object

        generator = torch.Generator().manual_seed(seed)
        image = render_object(make_object("chair", seed), random_cameras(1, generator), generator)[0]
        return {"image": image}

    def pictures(self, inputs: dict, result: Result) -> dict:
        """``reconstruction``: the input | the framed input the model saw | the prediction rendered from the
        input's camera; ``turntable``: 24 frames of the coloured mesh turning (GIF)."""
        from ..plots import hstack
        from ..render import turntable

        rgba = picture_rgba(inputs["image"].cpu())
        mesh, camera = result.outputs["mesh"], result.outputs["cameras"]
        H, W = fit_size(rgba.shape[0], rgba.shape[1], 256)
        tiles = [_tile(rgba, "input"), _tile(frame_object(rgba, size=64), "framed (model input)"),
                 _tile(_view_render(mesh, camera, (H, W)), "prediction, input view")]
        pics = {"reconstruction": hstack(tiles)}
        if not mesh.isempty():
            pics["turntable"] = turntable(mesh, n_frames=24, image_size=192, elevation=20.0, up="y",
                                          textures=mesh.textures)
        return pics

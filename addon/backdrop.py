"""A keypoint fit seen through the scene camera: the camera takes the fit's intrinsics, the render its image
size, and the camera's background image shows the keypoints over the photo they came from.

Everything here changes the scene through the :class:`~.operators.Session`
(``set_attr``, ``on_restore``, ``created``), so a failed or cancelled run puts
it all back.
"""

from __future__ import annotations

from pathlib import Path

import bpy

#: Render and camera settings a fit's camera sets (the camera's placement is the artist's).
CAMERA_FIELDS = ("lens", "sensor_width", "sensor_height", "sensor_fit", "shift_x", "shift_y")
RENDER_FIELDS = ("resolution_x", "resolution_y", "resolution_percentage", "pixel_aspect_x", "pixel_aspect_y")


def fit_camera(body, sensor_width: float):
    """A camera-frame body's pinhole (``body.focal`` pixels, principal point at the centre of
    ``body.image_size (W, H)``) -> unrender's ``BlenderCamera`` (lens, sensor, shift, resolution)."""
    import torch
    from unrender.cameras import blender_from_cameras, cameras_from_opencv

    W, H = body.image_size
    f = float(body.focal)
    K = torch.tensor([[f, 0.0, W / 2.0], [0.0, f, H / 2.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    # the fit's pixel coordinates run from the image's corner: pixel centres at half-integers
    cams = cameras_from_opencv(K, torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                               (H, W), pixel_centers="half")
    return blender_from_cameras(cams, (H, W), sensor_width=sensor_width)


def match_camera(session, cam, body) -> None:
    """Set ``cam``'s lens / sensor / shift and the scene's render size to the fit's camera."""
    bl = fit_camera(body, cam.data.sensor_width)
    for name in CAMERA_FIELDS:
        session.set_attr(cam.data, name, getattr(bl, name))
    render = session.context.scene.render
    for name in RENDER_FIELDS:
        session.set_attr(render, name, getattr(bl, name))


def overlay_folder() -> Path:
    """Where overlay pictures are written before Blender loads (and packs) them: Blender's temporary folder."""
    return Path(bpy.app.tempdir or bpy.path.abspath("//"))


def show_keypoints(session, cam, body, keypoints, photo=None, name: str = "keypoints"):
    """The keypoints (red) and the fitted body's keypoints (green) over ``photo`` (or a plain background)
    as ``cam``'s background image, framed as the camera sees it -> the Image datablock (packed into the
    .blend)."""
    from unrender.io import save_image
    from unrender.methods.body_pictures import keypoints_over

    # at the fit's full image size: the picture is the camera's frame, pixel for pixel
    picture = keypoints_over(photo, body.image_size, keypoints, body.extra.get("fitted_keypoints"),
                             max_size=max(body.image_size))
    path = overlay_folder() / f"{bpy.path.clean_name(session.name_base)}_{name}.png"
    save_image(path, picture)
    try:
        img = bpy.data.images.load(str(path))
        session.created.append(img)
        img.name = f"{session.name_base} {name}"
        img.pack()
    finally:
        path.unlink(missing_ok=True)
    data = cam.data
    entry = data.background_images.new()
    session.on_restore(lambda: data.background_images.remove(entry))
    entry.image, entry.source = img, "IMAGE"
    entry.frame_method = "STRETCH"  # the picture is the whole frame (its pixels may round the aspect)
    entry.alpha, entry.display_depth = 1.0, "BACK"
    session.set_attr(data, "show_background_images", True)
    return img

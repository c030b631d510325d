"""Images and GIFs through Pillow: float tensors in [0, 1] in, files out."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import torch

from ._common import as_path, check_finite_array, regular_file, to_numpy

__all__ = ["IMAGE_FORMATS", "MAX_IMAGE_PIXELS", "load_image", "read_image_header", "save_image", "save_gif"]

#: The formats :func:`load_image` decodes (Pillow format ids), whatever the file's extension.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")

#: The most pixels (``W x H`` of the first frame) :func:`load_image` decodes: 8192 x 8192, about
#: 1 GiB as float32 RGBA. Checked from the header before decoding; raise it for bigger pictures.
MAX_IMAGE_PIXELS = 8192 * 8192

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def load_image(path, *, max_pixels: int | None = None) -> torch.Tensor:
    """Read an image file (PNG, JPEG, BMP, TIFF, WebP or GIF: :data:`IMAGE_FORMATS`).

    The file is streamed (only what the decoder needs is read) and its size is
    checked from the header before any pixel is decoded.

    Args:
        max_pixels: the most pixels to decode (default :data:`MAX_IMAGE_PIXELS`).
    Returns:
        ``(H, W, C)`` float32 in [0, 1]; ``C = 4`` when the file has alpha
        (or palette transparency), else ``C = 3`` (grey is repeated to RGB).
        16-bit files keep their precision; float (``F`` mode TIFF) values are
        clamped to [0, 1].
    Raises:
        FileNotFoundError: missing file.
        ValueError: naming the file: not an image in one of :data:`IMAGE_FORMATS`,
            damaged, more than ``max_pixels`` pixels, or float values that are NaN / infinite.
    """
    from PIL import Image, UnidentifiedImageError

    p = regular_file(path)
    limit = MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    try:
        with Image.open(p, formats=IMAGE_FORMATS) as im:
            w, h = im.size
            if w * h > limit:
                raise ValueError(f"{p}: expected at most {limit} pixels (MAX_IMAGE_PIXELS), "
                                 f"found a {w} x {h} image ({w * h} pixels)")
            im.load()
            mode = im.mode
            has_alpha = mode in _ALPHA_MODES or "transparency" in im.info
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im).astype(np.float32)
                scale = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
                a = np.clip(a / scale, 0.0, 1.0)[..., None].repeat(3, 2)
            elif mode == "F":
                a = np.asarray(im, dtype=np.float32)
                if not np.isfinite(a).all():
                    raise ValueError(f"{p}: expected finite pixel values, found {int((~np.isfinite(a)).sum())} "
                                     "NaN or infinite pixels")
                a = np.clip(a, 0.0, 1.0)[..., None].repeat(3, 2)
            else:
                im = im.convert("RGBA" if has_alpha else "RGB")
                a = np.asarray(im).astype(np.float32) / 255.0
    except Image.DecompressionBombError as e:
        raise ValueError(f"{p}: expected at most {limit} pixels (MAX_IMAGE_PIXELS), found {e}") from None
    except UnidentifiedImageError:
        raise ValueError(f"{p}: expected an image file in one of {', '.join(IMAGE_FORMATS)}, "
                         "found something else") from None
    except ValueError as e:
        if str(e).startswith(str(p)):
            raise
        raise ValueError(f"{p}: expected a readable image file, found an error: {e}") from None
    except (OSError, SyntaxError, EOFError, MemoryError, struct.error, zlib.error) as e:
        raise ValueError(f"{p}: expected a readable image file, found an error: {e}") from None
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def read_image_header(path) -> tuple[int, int, bool]:
    """``(H, W, has_alpha)`` of an image file (one of :data:`IMAGE_FORMATS`) from its header; nothing decoded.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file otherwise.
    """
    from PIL import Image, UnidentifiedImageError

    p = regular_file(path)
    try:
        with Image.open(p, formats=IMAGE_FORMATS) as im:
            w, h = im.size
            return h, w, im.mode in _ALPHA_MODES or "transparency" in im.info
    except UnidentifiedImageError:
        raise ValueError(f"{p}: expected an image file in one of {', '.join(IMAGE_FORMATS)}, "
                         "found something else") from None
    except (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error, Image.DecompressionBombError) as e:
        raise ValueError(f"{p}: expected a readable image file, found an error: {e}") from None


def _to_uint8(name: str, image) -> np.ndarray:
    """``(H, W)`` / ``(H, W, 1|3|4)`` float in [0, 1] or uint8 -> uint8 ``(H, W[, C])``."""
    a = to_numpy(name, image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{name}: expected shape (H, W) or (H, W, 1|3|4) with H, W > 0, found shape {tuple(a.shape)}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return np.ascontiguousarray(a.astype(np.uint8) * 255)
    if np.issubdtype(a.dtype, np.floating):
        check_finite_array(name, a)
        return np.ascontiguousarray(np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8))
    raise ValueError(f"{name}: expected a float tensor in [0, 1] or uint8, found dtype {a.dtype}")


def save_image(path, image) -> None:
    """Write ``image`` to ``path``; the format comes from the extension.

    Args:
        image: ``(H, W)`` or ``(H, W, 1|3|4)``, float in [0, 1] (clamped) or uint8.
    """
    from PIL import Image

    p = as_path(path)
    a = _to_uint8("image", image)
    mode = "L" if a.ndim == 2 else ("RGB" if a.shape[2] == 3 else "RGBA")
    im = Image.fromarray(a, mode)
    if mode == "RGBA" and p.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        im = im.convert("RGB")  # formats without alpha
    try:
        im.save(p)
    except (KeyError, ValueError) as e:
        raise ValueError(f"{p}: expected a file extension Pillow can write (.png, .jpg, ...), found {p.suffix!r}") from e


def save_gif(path, frames, *, fps: float = 10.0, loop: int = 0) -> None:
    """Write an animated GIF.

    Args:
        frames: ``(N, H, W, 3)`` tensor or a list of ``(H, W, 3)`` / ``(H, W)``,
            float in [0, 1] or uint8, all the same size.
        fps: frames per second (GIF stores centiseconds, so it is rounded).
        loop: number of loops, 0 = forever.
    """
    from PIL import Image

    p = as_path(path)
    if isinstance(frames, (torch.Tensor, np.ndarray)):
        if frames.ndim not in (3, 4):
            raise ValueError(f"frames: expected shape (N, H, W) or (N, H, W, C), found shape {tuple(frames.shape)}")
        frames = list(frames)
    if not isinstance(frames, (list, tuple)) or len(frames) == 0:
        raise ValueError(f"frames: expected a non-empty list or (N, H, W, 3) tensor, found {type(frames).__name__}")
    if not (isinstance(fps, (int, float)) and fps > 0 and np.isfinite(fps)):
        raise ValueError(f"fps: expected a positive number, found {fps!r}")
    arrs = [_to_uint8(f"frames[{i}]", f) for i, f in enumerate(frames)]
    for i, a in enumerate(arrs):
        if a.shape[:2] != arrs[0].shape[:2]:
            raise ValueError(f"frames[{i}]: expected size {arrs[0].shape[:2]}, found {a.shape[:2]}")
        if a.ndim == 3 and a.shape[2] == 4:
            raise ValueError(f"frames[{i}]: expected 1 or 3 channels (GIF has no alpha), found 4")
    # Quantise each frame with the fast octree ourselves: Pillow's GIF writer would
    # use median cut, ~30x slower on rendered frames and no better on smooth shading.
    ims = [
        Image.fromarray(a, "L" if a.ndim == 2 else "RGB").convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
        for a in arrs
    ]
    duration = max(int(round(1000.0 / fps)), 10)
    ims[0].save(p, format="GIF", save_all=True, append_images=ims[1:], duration=duration, loop=loop, optimize=False)

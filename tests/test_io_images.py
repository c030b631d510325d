"""Images and GIFs: float tensors in [0, 1] <-> files through Pillow."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

from unrender.io import load_image, save_gif, save_image


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def mode(path) -> str:
    with Image.open(path) as im:
        return im.mode


def ramp(h=6, w=10, c=3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(h, w, c, generator=g)


@pytest.mark.parametrize("c", [3, 4])
def test_png_round_trip(tmp_path, c):
    img = ramp(c=c)
    save_image(tmp_path / "a.png", img)
    back = load_image(tmp_path / "a.png")
    assert back.shape == (6, 10, c) and back.dtype == torch.float32
    assert (back - img).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("shape", [(6, 10), (6, 10, 1)])
def test_grey_is_loaded_as_rgb(tmp_path, shape):
    img = torch.linspace(0, 1, 60).reshape(shape)
    save_image(tmp_path / "g.png", img)
    assert mode(tmp_path / "g.png") == "L"
    back = load_image(tmp_path / "g.png")
    assert back.shape == (6, 10, 3)
    assert torch.equal(back[..., 0], back[..., 2])
    assert (back[..., 0] - img.reshape(6, 10)).abs().max() <= 0.5 / 255 + 1e-6


def test_uint8_and_numpy_and_clamp(tmp_path):
    a = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    save_image(tmp_path / "u.png", torch.from_numpy(a))
    assert np.array_equal(pixels(tmp_path / "u.png"), a)
    save_image(tmp_path / "n.png", a)
    assert np.array_equal(pixels(tmp_path / "n.png"), a)
    save_image(tmp_path / "c.png", torch.tensor([[[-1.0, 0.5, 2.0]]]))
    assert pixels(tmp_path / "c.png").tolist() == [[[0, 128, 255]]]


def test_jpeg_drops_alpha(tmp_path):
    save_image(tmp_path / "a.jpg", torch.full((8, 8, 4), 0.5))
    back = load_image(tmp_path / "a.jpg")
    assert back.shape == (8, 8, 3) and (back - 0.5).abs().max() < 0.02


def test_sixteen_bit_and_palette(tmp_path):
    a = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    Image.fromarray(a).save(tmp_path / "s.png")
    back = load_image(tmp_path / "s.png")
    assert back.shape == (3, 4, 3)
    assert np.allclose(back[..., 0].numpy(), a / 65535.0, atol=1e-6)
    pal = Image.new("P", (2, 2))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "p.png", transparency=0)
    back = load_image(tmp_path / "p.png")
    assert back.shape == (2, 2, 4)
    assert back[1, 1].tolist() == [0, 0, 1, 1] and back[0, 0, 3] == 0


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="gone.png"):
        load_image(tmp_path / "gone.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=r"bad\.png: expected a readable image"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"image: expected shape"):
        save_image(tmp_path / "x.png", torch.zeros(4, 4, 2))
    with pytest.raises(ValueError, match=r"image: expected shape"):
        save_image(tmp_path / "x.png", torch.zeros(0, 4, 3))
    with pytest.raises(ValueError, match=r"image: expected finite"):
        save_image(tmp_path / "x.png", torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match=r"image: expected a float tensor in \[0, 1\] or uint8"):
        save_image(tmp_path / "x.png", torch.zeros(2, 2, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"file extension"):
        save_image(tmp_path / "x.notaformat", torch.zeros(2, 2))


def test_gif(tmp_path):
    frames = torch.stack([torch.full((8, 12, 3), i / 4) for i in range(5)])
    save_gif(tmp_path / "a.gif", frames, fps=20)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 5 and im.size == (12, 8)
        assert im.info["duration"] == 50 and im.info.get("loop") == 0
        im.seek(4)
        assert np.abs(np.asarray(im.convert("RGB")) / 255.0 - 1.0).max() < 0.02
    save_gif(tmp_path / "b.gif", [f.numpy() for f in frames[:2]] + [torch.zeros(8, 12)], fps=2.5, loop=1)
    with Image.open(tmp_path / "b.gif") as im:
        assert im.n_frames == 3


def test_gif_errors(tmp_path):
    with pytest.raises(ValueError, match="frames: expected a non-empty"):
        save_gif(tmp_path / "a.gif", [])
    with pytest.raises(ValueError, match=r"frames\[1\]: expected size"):
        save_gif(tmp_path / "a.gif", [torch.zeros(4, 4, 3), torch.zeros(4, 5, 3)])
    with pytest.raises(ValueError, match="fps"):
        save_gif(tmp_path / "a.gif", [torch.zeros(4, 4, 3)], fps=0)
    with pytest.raises(ValueError, match="GIF has no alpha"):
        save_gif(tmp_path / "a.gif", [torch.zeros(4, 4, 4)])
    with pytest.raises(ValueError, match="frames: expected shape"):
        save_gif(tmp_path / "a.gif", torch.zeros(4, 4))


# ----------------------------------------------------------------------------- hostile files
def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header declares ``w x h`` grey pixels, followed by one short (truncated) IDAT."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    idat = zlib.compress(b"\x00" * (w + 1) * 4)  # four rows of zeros
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", idat)


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    import unrender.io.images as images

    assert images.MAX_IMAGE_PIXELS == 8192 * 8192
    # Above our limit, below Pillow's own warning threshold: Pillow alone would decode it.
    (tmp_path / "big.png").write_bytes(png_header_only(8300, 8300))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"big\.png: expected at most 67108864 pixels \(MAX_IMAGE_PIXELS\), "
                                         r"found a 8300 x 8300 image \(68890000 pixels\)"):
        load_image(tmp_path / "big.png")
    assert time.perf_counter() - t0 < 1.0
    # Far above Pillow's bomb threshold: still our ValueError.
    (tmp_path / "huge.png").write_bytes(png_header_only(40000, 40000))
    with pytest.raises(ValueError, match=r"huge\.png: expected at most \d+ pixels"):
        load_image(tmp_path / "huge.png")
    # The limit is a setting (module-wide or per call), applied to real pictures too.
    save_image(tmp_path / "a.png", ramp(40, 50))
    with pytest.raises(ValueError, match=r"a\.png: expected at most 1999 pixels .*found a 50 x 40 image"):
        load_image(tmp_path / "a.png", max_pixels=1999)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1999)
    with pytest.raises(ValueError, match=r"a\.png: expected at most 1999 pixels"):
        load_image(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", max_pixels=2000).shape == (40, 50, 3)


def test_a_texture_is_streamed_not_read_whole(tmp_path):
    save_image(tmp_path / "t.png", ramp(16, 16))
    small = (tmp_path / "t.png").read_bytes()
    with open(tmp_path / "t.png", "r+b") as f:  # 256 MB of trailing zeros (a sparse file)
        f.truncate(len(small) + (256 << 20))
    tracemalloc.start()
    try:
        img = load_image(tmp_path / "t.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert img.shape == (16, 16, 3) and peak < 8 << 20


@pytest.mark.parametrize("fmt, suffix", [("PPM", ".png"), ("TGA", ".jpg"), ("ICO", ".png"), ("PCX", ".bmp")])
def test_only_documented_formats_whatever_the_extension(tmp_path, fmt, suffix):
    Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / f"x{suffix}", format=fmt)
    with pytest.raises(ValueError, match=r"x\.\w+: expected an image file in one of PNG, JPEG, BMP, TIFF, WEBP, GIF"):
        load_image(tmp_path / f"x{suffix}")


@pytest.mark.parametrize("fmt, ext", [("PNG", ".bin"), ("JPEG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif"),
                                      ("WEBP", ".webp"), ("GIF", ".gif")])
def test_documented_formats_load(tmp_path, fmt, ext):
    options = {"lossless": True} if fmt == "WEBP" else {}
    Image.new("RGB", (8, 6), (255, 0, 0)).save(tmp_path / f"x{ext}", format=fmt, **options)
    img = load_image(tmp_path / f"x{ext}")
    assert img.shape == (6, 8, 3) and (img[..., 0] - 1).abs().max() < 0.02


def test_float_tiff_nan_is_refused_and_range_clamped(tmp_path):
    a = np.array([[0.25, 2.0], [-1.0, 0.5]], np.float32)
    Image.fromarray(a, "F").save(tmp_path / "f.tif")
    assert load_image(tmp_path / "f.tif")[..., 0].tolist() == [[0.25, 1.0], [0.0, 0.5]]
    for bad in (np.nan, np.inf):
        a[0, 1] = bad
        Image.fromarray(a, "F").save(tmp_path / "f.tif")
        with pytest.raises(ValueError, match=r"f\.tif: expected finite pixel values, found 1 NaN or infinite pixels"):
            load_image(tmp_path / "f.tif")


def test_texture_of_an_obj_is_bounded_too(tmp_path, monkeypatch):
    import unrender.io.images as images
    from unrender.io import load_obj

    save_image(tmp_path / "t.png", ramp(40, 50))
    (tmp_path / "m.mtl").write_text("newmtl a\nmap_Kd t.png\n")
    (tmp_path / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl a\nf 1 2 3\n")
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValueError, match=r"t\.png: expected at most 1000 pixels"):
        load_obj(tmp_path / "m.obj")

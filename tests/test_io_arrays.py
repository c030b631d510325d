"""NumPy files (.npy / .npz) read by load_arrays: every damage is a ValueError naming the file, memory
stays bounded whatever a header claims, and only bool / integer / float arrays load."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch

import unrender.io.arrays as arrays_module
from unrender.io import load_arrays, load_keypoints, load_voxels
from unrender.kinds import load_as


def npy_bytes(header: str, body: bytes = b"", version: int = 1) -> bytes:
    """An .npy file with a hand-written header dict (padded as NumPy pads it)."""
    h = header.encode("latin-1")
    if version == 1:
        pad = -(10 + len(h) + 1) % 64
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h) + pad + 1) + h + b" " * pad + b"\n" + body
    pad = -(12 + len(h) + 1) % 64
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(h) + pad + 1) + h + b" " * pad + b"\n" + body


def npz_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def saved_npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def patched(data: bytes, field: str, value: int) -> bytes:
    """Rewrite a 2-byte field of every member in the local and central headers."""
    offsets = {"flags": (6, 8), "method": (8, 10)}[field]
    b = bytearray(data)
    for sig, off in zip((b"PK\x03\x04", b"PK\x01\x02"), offsets):
        i = b.find(sig)
        while i >= 0:
            b[i + off: i + off + 2] = struct.pack("<H", value)
            i = b.find(sig, i + 4)
    return bytes(b)


F8 = "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }"
GOOD = saved_npz(grid=np.zeros((4, 4, 4), np.float32), bounds=np.array([[-1.0] * 3, [1.0] * 3]))

DAMAGED = {
    # what NumPy / zipfile used to let through, by exception
    "BadZipFile (truncated archive)": ("npz", GOOD[: len(GOOD) // 2]),
    "BadZipFile (bad CRC)": ("npz", npz_of({"a.npy": npy_bytes(F8 % "(2,)", b"\x00" * 16)}, zipfile.ZIP_STORED)
                             .replace(b"\x00" * 16, b"\x01" + b"\x00" * 15)),
    "NotImplementedError (compression method 99)": ("npz", patched(GOOD, "method", 99)),
    "TokenError (unterminated header)": ("npy", npy_bytes("{'descr': '''<f8")),
    "OverflowError (shape beyond int64)": ("npy", npy_bytes(F8 % f"({2**70},)", b"\x00" * 8)),
    "MemoryError (terabytes declared)": ("npy", npy_bytes(F8 % "(1000000, 1000000)", b"\x00" * 64)),
    "TypeError (header keys of two types)": ("npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 1: 2}",
                                                              b"\x00" * 8)),
    "negative shape": ("npy", npy_bytes(F8 % "(-1,)")),
    "shorter data than declared": ("npy", npy_bytes(F8 % "(10,)", b"\x00" * 72)),
    "longer data than declared": ("npy", npy_bytes(F8 % "(1,)", b"\x00" * 16)),
    "lying member": ("npz", npz_of({"grid.npy": npy_bytes(F8 % "(1000000000,)", b"\x00" * 80)})),
    "npy format 3.0": ("npy", b"\x93NUMPY\x03\x00" + struct.pack("<I", 64) + b" " * 63 + b"\n"),
    "not a NumPy file": ("npy", b"hello"),
    "empty file": ("npz", b""),
    "a member that is not .npy": ("npz", npz_of({"readme.txt": b"hi"})),
    "RuntimeError (encrypted member)": ("npz", patched(GOOD, "flags", 1)),
}


@pytest.mark.parametrize("case", list(DAMAGED), ids=list(DAMAGED))
def test_every_damage_is_a_value_error_naming_the_file(tmp_path, case):
    suffix, data = DAMAGED[case]
    p = tmp_path / f"bad.{suffix}"
    p.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bad\.np[yz]"):
            load_arrays(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{case}: {peak} bytes allocated"


@pytest.mark.parametrize("header, found", [
    (F8 % "(10,)", r"header declares shape \(10,\) of float64 \(80 bytes\), found 72 bytes"),
    (F8 % "(1000000, 1000000)", r"header declares shape \(1000000, 1000000\) of float64 \(8000000000000 bytes\)"),
])
def test_declared_size_is_checked_against_the_file(tmp_path, header, found):
    (tmp_path / "a.npy").write_bytes(npy_bytes(header, b"\x00" * 72))
    with pytest.raises(ValueError, match=found):
        load_arrays(tmp_path / "a.npy")


@pytest.mark.parametrize("array", [
    np.zeros(3, np.complex64), np.zeros(3, "datetime64[s]"), np.zeros(3, "timedelta64[ms]"),
    np.array(["a", "b"]), np.array([b"a"]), np.zeros(2, [("x", "f4"), ("y", "f4")]), np.array([{}, None], object),
], ids=["complex", "datetime", "timedelta", "str", "bytes", "structured", "object"])
def test_only_bool_integer_and_float_arrays_load(tmp_path, array):
    np.save(tmp_path / "a.npy", array, allow_pickle=True)
    with pytest.raises(ValueError, match=r"a\.npy: expected a bool, integer or float array, found dtype"):
        load_arrays(tmp_path / "a.npy")
    np.savez(tmp_path / "b.npz", ok=np.zeros(2), bad=array)
    with pytest.raises(ValueError, match=r"b\.npz member 'bad\.npy': expected a bool, integer or float array"):
        load_arrays(tmp_path / "b.npz")


@pytest.mark.parametrize("array", [np.zeros((5, 3), np.complex128), np.zeros((5, 3), "datetime64[D]")],
                         ids=["complex", "datetime"])
def test_complex_or_datetime_points_and_keypoints_are_refused(tmp_path, array):
    np.save(tmp_path / "p.npy", array)
    with pytest.raises(ValueError, match=r"p\.npy: expected a bool, integer or float array"):
        load_as(["points"], tmp_path / "p.npy", "input")
    np.save(tmp_path / "k.npy", array[:, :2])
    with pytest.raises(ValueError, match=r"k\.npy: expected a bool, integer or float array"):
        load_keypoints(tmp_path / "k.npy")


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.ones((2, 2, 2), bool), np.asfortranarray(np.random.rand(3, 4, 5)),
    np.zeros((0, 3), np.float32), np.array(3.5, np.float16), np.arange(6, dtype=">u4").reshape(2, 3),
], ids=["int16", "bool", "fortran", "empty", "0-d half", "big endian"])
def test_real_arrays_round_trip_exactly(tmp_path, array):
    np.save(tmp_path / "a.npy", array)
    back = load_arrays(tmp_path / "a.npy")["array"]
    assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
    np.savez_compressed(tmp_path / "a.npz", x=array, y=array[..., None])
    back = load_arrays(tmp_path / "a.npz")
    assert set(back) == {"x", "y"} and np.array_equal(back["x"], array) and back["y"].shape == array[..., None].shape
    back["x"][...] = 0  # writable, as np.load gives


def test_size_limit_is_checked_from_the_header_before_allocating(tmp_path, monkeypatch):
    # 16 MB of zeros compress to a few kB: the header, not the file size, says how much it would take.
    np.savez_compressed(tmp_path / "bomb.npz", grid=np.zeros((256, 256, 256), np.uint8))
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    monkeypatch.setattr(arrays_module, "MAX_ARRAY_BYTES", 1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.npz member 'grid\.npy': expected at most 1048576 bytes of arrays "
                                             r"\(MAX_ARRAY_BYTES\), found 16777216"):
            load_voxels(tmp_path / "bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20
    # The arrays of one file count together; max_bytes overrides the module setting.
    np.savez(tmp_path / "two.npz", a=np.zeros(100, np.uint8), b=np.zeros(100, np.uint8))
    with pytest.raises(ValueError, match=r"member 'b\.npy': expected at most 150 bytes of arrays .*found 200"):
        load_arrays(tmp_path / "two.npz", max_bytes=150)
    assert load_arrays(tmp_path / "two.npz", max_bytes=200)["b"].shape == (100,)
    monkeypatch.undo()
    assert load_voxels(tmp_path / "bomb.npz").grids_list()[0].shape == (256, 256, 256)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.npz"):
        load_arrays(tmp_path / "none.npz")
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(ValueError, match=r"d\.npy: expected a regular file"):
        load_arrays(tmp_path / "d.npy")
    with pytest.raises(ValueError, match=r"expected a file ending in \.npz or \.npy"):
        load_arrays(tmp_path / "a.txt")


def test_voxels_and_points_still_read_through_the_kinds_table(tmp_path):
    np.save(tmp_path / "p.npy", np.random.rand(7, 3))
    pts = load_as(["points"], tmp_path / "p.npy", "input")
    assert pts.points_list()[0].shape == (7, 3) and pts.points_list()[0].dtype == torch.float32
    np.savez(tmp_path / "v.npz", grid=np.ones((2, 3, 4), bool))
    assert load_as(["voxels"], tmp_path / "v.npz", "input").grids_list()[0].shape == (2, 3, 4)

"""Fuzzing the readers: damaged OBJ / PLY files raise ValueError or read cleanly, fast, with bounded memory.

Thousands of seeded mutations (truncations, byte flips, insertions, deletions,
numbers replaced by huge ones) of valid files in every format, plus hypothesis
tests. Whatever a reader returns for a damaged file must still be consistent
(finite vertices, face indices in range), never partial garbage.
"""

from __future__ import annotations

import random
import re
import signal
import struct
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unrender.io import load_obj, load_ply, save_ply

CASES_PER_FORMAT = 1500
CASE_TIME_LIMIT_S = 2.0


# ----------------------------------------------------------------------------- seed files
def seed_obj() -> bytes:
    rng = np.random.default_rng(0)
    lines = ["# seed obj", "o thing", "mtllib none.mtl"]
    lines += ["v %.6f %.6f %.6f" % tuple(p) for p in rng.random((12, 3))]
    lines += ["v %.6f %.6f %.6f 0.5 0.25 1" % tuple(p) for p in rng.random((2, 3))]
    lines += ["vt %.4f %.4f" % tuple(p) for p in rng.random((6, 2))]
    lines += ["vn 0 0 1", "vn 0 1 0", "g part", "usemtl red", "s 1"]
    lines += ["f 1 2 3", "f 4/1 5/2 6/3", "f 7//1 8//2 9//1", "f 10/4/1 11/5/2 12/6/1 1/1/1",
              "f -1 -2 -3", "f -3/-1/-1 -4/-2/-2 -5/-3/-1", "usemtl blue", "f 1 3 5 7 9 \\", "  11 13"]
    return ("\n".join(lines) + "\n").encode()


def seed_ply(fmt: str, tmp: Path) -> bytes:
    g = torch.Generator().manual_seed(0)
    v = torch.rand(30, 3, generator=g)
    f = torch.randint(0, 30, (20, 3), generator=g)
    p = tmp / f"seed_{fmt}.ply"
    save_ply(p, v, f, normals=v, colors=v, ascii=fmt == "ascii", big_endian=fmt == "binary_big_endian")
    data = p.read_bytes()
    # Add an unknown element with a list and polygons of mixed sizes by hand.
    head, body = data.split(b"end_header\n", 1)
    bo = ">" if fmt == "binary_big_endian" else "<"
    head = head.replace(b"element vertex", b"element extra 2\nproperty list uchar int junk\nelement vertex")
    if fmt == "ascii":
        extra = b"2 7 8\n0\n"
        body = body + b"4 0 1 2 3\n5 4 5 6 7 8\n"
    else:
        extra = struct.pack(bo + "B2iB", 2, 7, 8, 0)
        body = body + struct.pack(bo + "B4iB5i", 4, 0, 1, 2, 3, 5, 4, 5, 6, 7, 8)
    head = head.replace(b"element face 20", b"element face 22")
    return head + b"end_header\n" + extra + body


# ----------------------------------------------------------------------------- mutations
_NUM = re.compile(rb"-?\d+")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random damages."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        n = len(b)
        if n == 0:
            b += bytes([rng.randrange(256)])
            continue
        i = rng.randrange(n)
        if op == 0:  # truncate
            del b[i:]
        elif op == 1:  # flip bits
            b[i] ^= rng.randrange(1, 256)
        elif op == 2:  # insert random bytes
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
        elif op == 3:  # delete a range
            del b[i: i + rng.randint(1, 8)]
        elif op == 4:  # interesting byte
            b[i] = rng.choice(b"\x00\xff\x80\x7f\n -/#\\.e0123456789")
        elif op == 5:  # replace a number with an extreme one
            ms = list(_NUM.finditer(bytes(b)))
            if ms:
                m = rng.choice(ms)
                big = rng.choice([b"0", b"-1", b"255", b"65535", b"4000000000", b"2147483647", b"99999999999999999999",
                                  b"1e308", b"nan", b"-0"])
                b[m.start(): m.end()] = big
        else:  # duplicate or drop a line
            lines = bytes(b).split(b"\n")
            j = rng.randrange(len(lines))
            if rng.random() < 0.5:
                lines.insert(j, lines[j])
            else:
                del lines[j]
            b = bytearray(b"\n".join(lines))
    return bytes(b)


class _Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Raise ``_Timeout`` if the block runs longer than ``seconds`` (SIGALRM, main thread)."""

    def handler(signum, frame):
        raise _Timeout(f"reader ran over {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_result(kind: str, result) -> None:
    """A successful read must be self-consistent."""
    v = result.verts
    assert v.dtype == torch.float32 and v.ndim == 2 and v.shape[1] == 3
    assert torch.isfinite(v).all()
    f = result.faces
    if f is not None:
        assert f.dtype == torch.int64 and f.ndim == 2 and f.shape[1] == 3
        if f.numel():
            assert int(f.min()) >= 0 and int(f.max()) < v.shape[0]
    if kind == "obj":
        for idx, table in ((result.faces_uvs, result.verts_uvs), (result.faces_normals, result.normals)):
            if idx is not None:
                assert idx.shape == f.shape and int(idx.min()) >= -1 and int(idx.max()) < table.shape[0]
        assert result.face_materials.shape == (f.shape[0],)
        if f.numel():
            assert int(result.face_materials.max()) < len(result.material_names)
    else:
        for extra in (result.normals, result.colors, result.verts_uvs):
            if extra is not None:
                assert extra.shape[0] == v.shape[0]


def read(kind: str, path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a damaged mtllib name
        return load_obj(path) if kind == "obj" else load_ply(path)


def run_case(kind: str, path: Path, data: bytes) -> str:
    path.write_bytes(data)
    t = time.perf_counter()
    try:
        with time_limit(CASE_TIME_LIMIT_S):
            result = read(kind, path)
    except ValueError as e:
        assert str(path) in str(e), f"error does not name the file: {e}"
        return "error"
    finally:
        assert time.perf_counter() - t < CASE_TIME_LIMIT_S
    check_result(kind, result)
    return "ok"


KINDS = ["obj", "ascii", "binary_little_endian", "binary_big_endian"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("seeds")
    out = {"obj": seed_obj()}
    for fmt in KINDS[1:]:
        out[fmt] = seed_ply(fmt, tmp)
    return out


def test_seeds_are_valid(seeds, tmp_path):
    o = read("obj", _write(tmp_path / "s.obj", seeds["obj"]))
    assert o.verts.shape == (14, 3) and o.faces.shape[0] == 12 and o.material_names == ["red", "blue"]
    for fmt in KINDS[1:]:
        d = read("ply", _write(tmp_path / "s.ply", seeds[fmt]))
        assert d.verts.shape == (30, 3) and d.faces.shape == (20 + 2 + 3, 3)


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("kind", KINDS)
def test_seeded_mutations(seeds, tmp_path, kind):
    rng = random.Random(f"unrender-fuzz-{kind}")
    path = tmp_path / ("f.obj" if kind == "obj" else "f.ply")
    outcomes = {"ok": 0, "error": 0}
    for _ in range(CASES_PER_FORMAT):
        outcomes[run_case("obj" if kind == "obj" else "ply", path, mutate(seeds[kind], rng))] += 1
    # Both outcomes occur: the damage is neither always fatal nor always harmless.
    assert outcomes["ok"] > 0 and outcomes["error"] > 0, outcomes


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hypothesis_mutations(seeds, tmp_path, kind, data):
    base = seeds[kind]
    cut = data.draw(st.integers(0, len(base)), label="cut")
    pos = data.draw(st.integers(0, len(base)), label="pos")
    junk = data.draw(st.binary(max_size=12), label="junk")
    tail = data.draw(st.booleans(), label="keep tail")
    damaged = base[:pos] + junk + (base[pos:] if tail else b"")
    damaged = damaged[: max(cut, 1)] if data.draw(st.booleans(), label="truncate") else damaged
    run_case("obj" if kind == "obj" else "ply", tmp_path / ("h.obj" if kind == "obj" else "h.ply"), damaged)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(KINDS[1:]), body=st.binary(max_size=200),
       count=st.integers(0, 2**40), ctype=st.sampled_from(["uchar", "ushort", "int", "uint"]))
def test_hypothesis_random_bodies(tmp_path, fmt, body, count, ctype):
    head = (f"ply\nformat {fmt} 1.0\nelement vertex {count % 7}\nproperty float x\nproperty float y\nproperty float z\n"
            f"element face {count}\nproperty list {ctype} int vertex_indices\nend_header\n")
    run_case("ply", tmp_path / "r.ply", head.encode() + body)


# ----------------------------------------------------------------------------- lying headers
LIES = {
    "vertex count": b"ply\nformat {fmt} 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\n"
                    b"property float z\nend_header\n",
    "face count": b"ply\nformat {fmt} 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
                  b"element face 4000000000\nproperty list uchar int vertex_indices\nend_header\n",
    "unknown element": b"ply\nformat {fmt} 1.0\nelement junk 4000000000\nproperty list uint double stuff\n"
                       b"element vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n",
    "list count 255": b"ply\nformat {fmt} 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
                      b"element face 2\nproperty list uchar int vertex_indices\nend_header\n",
    "list count 2**32-1": b"ply\nformat {fmt} 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
                          b"property float z\nelement face 2\nproperty list uint int vertex_indices\nend_header\n",
}


@pytest.mark.parametrize("fmt", KINDS[1:])
@pytest.mark.parametrize("lie", list(LIES))
def test_lying_header_is_fast_and_small(tmp_path, fmt, lie):
    head = LIES[lie].replace(b"{fmt}", fmt.encode())
    bo = ">" if fmt == "binary_big_endian" else "<"
    if fmt == "ascii":
        body = b"0 0 0\n1 0 0\n0 1 0\n" + (b"255 0 1 2\n" if "255" in lie else b"4294967295 0 1 2\n") + b"3 0 1 2\n"
    else:
        body = struct.pack(bo + "9f", 0, 0, 0, 1, 0, 0, 0, 1, 0)
        body += struct.pack(bo + ("B3i" if "255" in lie else "I3i"), 255 if "255" in lie else 2**32 - 1, 0, 1, 2)
    data = (head + body).ljust(200, b"\x00") if fmt != "ascii" else head + body
    p = tmp_path / "lie.ply"
    p.write_bytes(data)
    tracemalloc.start()
    t = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=re.escape(str(p))):
            load_ply(p)
        dt = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert dt < 0.5, f"{lie}: took {dt:.3f} s"
    assert peak < 2_000_000, f"{lie}: peak allocation {peak} bytes"


def test_lying_obj_is_fast(tmp_path):
    p = tmp_path / "lie.obj"
    p.write_bytes(b"v 0 0 0\n" * 3 + b"f 1 2 " + b"3" * 5000 + b"\nf " + b"1 " * 100000 + b"\n")
    t = time.perf_counter()
    with pytest.raises(ValueError, match=re.escape(str(p)) + ": line 4"):
        load_obj(p)
    assert time.perf_counter() - t < 1.0


# ----------------------------------------------------------------------------- NumPy files and images
ARRAY_CASES = 600
IMAGE_CASES = 250


def read_or_named_error(read, path: Path, data: bytes):
    """Write ``data`` to ``path`` and ``read`` it within the time limit: the result, or ``None`` for a
    ``ValueError`` naming the file (warnings, e.g. Pillow's about damaged metadata, ignored)."""
    path.write_bytes(data)
    with time_limit(CASE_TIME_LIMIT_S), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read(path)
        except ValueError as e:
            assert str(path) in str(e), f"error does not name the file: {e}"
            return None


def seed_arrays(tmp: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    np.save(tmp / "a.npy", rng.random((6, 3)).astype(np.float32))
    out["npy"] = (tmp / "a.npy").read_bytes()
    np.savez(tmp / "s.npz", grid=rng.random((3, 4, 5)) > 0.5, bounds=np.array([[-1.0] * 3, [1.0] * 3]))
    out["npz stored"] = (tmp / "s.npz").read_bytes()
    np.savez_compressed(tmp / "c.npz", points=rng.integers(0, 9, (8, 3), dtype=np.int16))
    out["npz deflated"] = (tmp / "c.npz").read_bytes()
    return out


@pytest.mark.parametrize("kind", ["npy", "npz stored", "npz deflated"])
def test_seeded_mutations_of_numpy_files(tmp_path, kind):
    from unrender.io import load_arrays

    seed = seed_arrays(tmp_path)[kind]
    path = tmp_path / ("f.npy" if kind == "npy" else "f.npz")
    rng = random.Random(f"unrender-fuzz-{kind}")
    outcomes = {"ok": 0, "error": 0}
    tracemalloc.start()
    try:
        for _ in range(ARRAY_CASES):
            arrays = read_or_named_error(load_arrays, path, mutate(seed, rng))
            if arrays is None:
                outcomes["error"] += 1
                continue
            assert all(a.dtype.kind in "biuf" for a in arrays.values())
            assert sum(a.nbytes for a in arrays.values()) <= len(seed)
            outcomes["ok"] += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcomes["ok"] > 0 and outcomes["error"] > 0, outcomes
    assert peak < 4 << 20, f"peak allocation {peak} bytes"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP"])
def test_seeded_mutations_of_images(tmp_path, fmt):
    from PIL import Image

    from unrender.io import load_image

    g = np.random.default_rng(0)
    im = Image.fromarray((g.random((12, 16, 3)) * 255).astype(np.uint8))
    im.save(tmp_path / "seed", format=fmt)
    seed = (tmp_path / "seed").read_bytes()
    path = tmp_path / "f.png"  # the extension does not pick the decoder
    rng = random.Random(f"unrender-fuzz-{fmt}")
    outcomes = {"ok": 0, "error": 0}
    for _ in range(IMAGE_CASES):
        img = read_or_named_error(load_image, path, mutate(seed, rng))
        if img is None:
            outcomes["error"] += 1
            continue
        assert img.dtype == torch.float32 and img.shape[2] in (3, 4)
        assert torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1
        outcomes["ok"] += 1
    assert outcomes["error"] > 0, outcomes

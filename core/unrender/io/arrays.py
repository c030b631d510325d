"""NumPy ``.npy`` / ``.npz`` files, read safely: bounded memory, real numbers only, one kind of error.

:func:`load_arrays` reads the header of every array first and checks it
before anything is allocated: the dtype must be bool, integer or float
(complex, datetime, object, structured and string arrays are refused; pickles
never load), the declared ``shape x itemsize`` must match the bytes the file
(or the ``.npz`` member, uncompressed) holds, and the arrays together must fit
in :data:`MAX_ARRAY_BYTES`. Any failure, whatever NumPy, ``zipfile`` or the
decompressor raised, is a ``ValueError`` naming the file.
"""

from __future__ import annotations

import lzma
import math
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from ._common import as_path, regular_file

__all__ = ["MAX_ARRAY_BYTES", "load_arrays"]

#: The most bytes :func:`load_arrays` allocates for one file (all its arrays together): 1 GiB.
#: Raise it (``unrender.io.arrays.MAX_ARRAY_BYTES = ...``) or pass ``max_bytes`` for bigger files.
MAX_ARRAY_BYTES = 1 << 30

_REAL_KINDS = {"b": "bool", "i": "integer", "u": "integer", "f": "float"}
# What NumPy, zipfile and the decompressors raise on damaged or hostile files.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, tokenize.TokenError,
                OverflowError, MemoryError, TypeError, ValueError, SyntaxError, EOFError, OSError, zlib.error,
                lzma.LZMAError, struct.error, KeyError, UnicodeDecodeError)


class _Refused(Exception):
    """A check of ours failed: the message is final (the file name is added once)."""


def _header(f, what: str, strings: bool = False) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Read and check an ``.npy`` header from the stream ``f``: ``(shape, fortran_order, dtype)``."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise _Refused(f"{what}: expected .npy format version 1.0 or 2.0, found {version[0]}.{version[1]}")
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _Refused(f"{what}: expected a shape of non-negative integers, found {shape!r}")
    real = dtype.kind in _REAL_KINDS or (strings and dtype.kind == "U")
    if not real or dtype.fields is not None or dtype.shape != ():
        raise _Refused(f"{what}: expected a bool, integer or float array, found dtype {dtype} ({dtype.kind!r} kind)")
    return shape, fortran, dtype


def _read_body(f, what: str, shape, fortran: bool, dtype: np.dtype, nbytes: int) -> np.ndarray:
    """Read exactly ``nbytes`` (already checked) from ``f`` into an array."""
    buf = bytearray(nbytes)
    got = f.readinto(buf) if nbytes else 0
    if got != nbytes:
        raise _Refused(f"{what}: expected {nbytes} bytes of array data, found {got}")
    return np.frombuffer(buf, dtype, count=math.prod(shape)).reshape(shape, order="F" if fortran else "C")


def _check_size(what: str, shape, dtype: np.dtype, available: int, used: int, limit: int) -> int:
    """The declared size in bytes, checked against the bytes present and the limit."""
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if nbytes != available:
        raise _Refused(f"{what}: header declares shape {tuple(shape)} of {dtype} ({nbytes} bytes), "
                       f"found {available} bytes of data")
    if used + nbytes > limit:
        raise _Refused(f"{what}: expected at most {limit} bytes of arrays (MAX_ARRAY_BYTES), found {used + nbytes}")
    return nbytes


def _load_npy(p, limit: int, strings: bool) -> dict[str, np.ndarray]:
    with open(p, "rb") as f:
        shape, fortran, dtype = _header(f, str(p), strings)
        available = p.stat().st_size - f.tell()
        nbytes = _check_size(str(p), shape, dtype, available, 0, limit)
        return {"array": _read_body(f, str(p), shape, fortran, dtype, nbytes)}


def _load_npz(p, limit: int, strings: bool, keys) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
        if keys is not None:
            infos = [info for info in infos if info.filename[:-4] in keys]
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _Refused(f"{p}: expected only .npy members in the archive, found {info.filename!r}")
        # Headers and sizes of every member first, then the data: a late bad member allocates nothing.
        plan, used = [], 0
        for info in infos:
            what = f"{p} member {info.filename!r}"
            with z.open(info) as f:
                shape, fortran, dtype = _header(f, what, strings)
                nbytes = _check_size(what, shape, dtype, info.file_size - f.tell(), used, limit)
            used += nbytes
            plan.append((info, what, shape, fortran, dtype, nbytes))
        out = {}
        for info, what, shape, fortran, dtype, nbytes in plan:
            with z.open(info) as f:
                _header(f, what, strings)
                out[info.filename[:-4]] = _read_body(f, what, shape, fortran, dtype, nbytes)
                f.read(1)  # reaching the end checks the member's CRC
        return out


def load_arrays(path, *, max_bytes: int | None = None, strings: bool = False,
                keys=None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file by name, or ``{"array": a}`` for an ``.npy`` file.

    Args:
        max_bytes: the most bytes to allocate for the file's arrays together
            (default :data:`MAX_ARRAY_BYTES`, 1 GiB).
        strings: also admit fixed-width unicode arrays (dtype kind ``U``; never pickles).
        keys: for an ``.npz``, read (and check) only the members of these names;
            the others are neither read nor checked.
    Returns:
        bool, integer or float arrays (any other dtype is refused), and unicode
        arrays with ``strings``.
    Raises:
        FileNotFoundError: missing file.
        ValueError: naming the file: not an ``.npy`` / ``.npz`` file, unreadable
            or damaged, a dtype that is not bool / integer / float, a header
            whose shape disagrees with the data, or more than ``max_bytes``.
    """
    p = as_path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"{path}: expected a file ending in .npz or .npy, found {suffix or 'no extension'!r}")
    regular_file(p)
    limit = MAX_ARRAY_BYTES if max_bytes is None else int(max_bytes)
    try:
        if suffix == ".npy":
            return _load_npy(p, limit, strings)
        return _load_npz(p, limit, strings, None if keys is None else set(keys))
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except _READ_ERRORS as exc:
        raise ValueError(f"{p} is not a readable NumPy file: {type(exc).__name__}: {exc}") from None

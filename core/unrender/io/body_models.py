"""Body-model files: unrender's own ``.npz``, the smplx ``.npz`` layout and the official SMPL ``.pkl``.

:func:`load_body_model` returns the arrays of unrender's layout (the keys of
:data:`BODY_MODEL_KEYS`, see ``BODY_FORMAT.md``) from any of the three;
:func:`save_body_model` writes unrender's ``.npz`` (together: a converter).

The SMPL ``.pkl`` is a Python-2 pickle of a dict of chumpy objects, NumPy arrays
and a SciPy sparse joint regressor. It is read without chumpy or SciPy by a
restricted unpickler: it admits only NumPy's array reconstruction, and stands
small inert classes in for chumpy's classes and SciPy's CSC/CSR matrices (their
state is captured and turned into arrays; none of their code runs). Any other
class or function a pickle names is refused with a ``ValueError`` naming it,
before it is called. Files over :data:`MAX_BODY_MODEL_BYTES` are refused
before they are read.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle

import numpy as np

from ._common import as_path, regular_file
from .arrays import load_arrays

__all__ = [
    "MAX_BODY_MODEL_BYTES",
    "BODY_MODEL_KEYS",
    "SMPL_JOINT_NAMES",
    "SMPL_PARENTS",
    "check_body_arrays",
    "load_body_model",
    "save_body_model",
]

#: The largest body-model file read (bytes on disk): 1 GiB. A module setting one may raise.
MAX_BODY_MODEL_BYTES = 1 << 30

#: unrender's body-model keys: required, then optional.
BODY_MODEL_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_parents",
                   "joint_names", "body25_regressor", "coco17_regressor", "meta")
_REQUIRED = BODY_MODEL_KEYS[:7]

SMPL_JOINT_NAMES = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
                    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
                    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                    "left_wrist", "right_wrist", "left_hand", "right_hand")
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

_KEYPOINT_ROWS = {"body25_regressor": 25, "coco17_regressor": 17}
_SMPLX_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def _shape_error(key: str, expected: str, a: np.ndarray) -> ValueError:
    return ValueError(f"{key}: expected shape {expected}, found shape {tuple(a.shape)}")


def _real(key: str, a, *, integer: bool = False) -> np.ndarray:
    a = np.asarray(a)
    ok = a.dtype.kind in "iu" if integer else a.dtype.kind in "iuf"
    if not ok:
        raise ValueError(f"{key}: expected {'an integer' if integer else 'a real'} array, found dtype {a.dtype}")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{key}: expected finite values, found {int((~np.isfinite(a)).sum())} NaN or infinite entries")
    return a


def check_body_arrays(arrays) -> dict[str, np.ndarray]:
    """Check a body model's arrays (unrender's layout) against each other.

    Args:
        arrays: a mapping holding at least ``v_template`` ``(V, 3)``, ``f``
            ``(F, 3)`` int, ``shapedirs`` ``(V, 3, S)``, ``posedirs`` ``(V*3, (J-1)*9)``,
            ``J_regressor`` ``(J, V)``, ``weights`` ``(V, J)``, ``kintree_parents``
            ``(J,)`` int (``-1`` for the root); optionally ``joint_names`` ``(J,)``,
            ``body25_regressor`` ``(25, V)``, ``coco17_regressor`` ``(17, V)``
            (rows convex: non-negative, summing to 1) and ``meta`` (a JSON string).
    Returns:
        a new dict: the float arrays as given (float32 or float64), ``f`` and
        ``kintree_parents`` int64, ``joint_names`` a ``(J,)`` unicode array,
        ``meta`` a 0-d unicode array (``"{}"`` when absent).
    Raises:
        ValueError: naming the key, what was expected and what was found.
    """
    if not hasattr(arrays, "keys"):
        raise ValueError(f"arrays: expected a mapping of body-model arrays, found {type(arrays).__name__}")
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"body model: expected the keys {', '.join(_REQUIRED)}, found no {', '.join(missing)}")
    out = {}
    v = _real("v_template", arrays["v_template"])
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] == 0:
        raise _shape_error("v_template", "(V, 3) with V > 0", v)
    V = v.shape[0]
    parents = _real("kintree_parents", arrays["kintree_parents"], integer=True)
    if parents.ndim != 1 or parents.shape[0] == 0:
        raise _shape_error("kintree_parents", "(J,) with J > 0", parents)
    J = parents.shape[0]
    if parents[0] != -1 or not ((parents[1:] >= 0) & (parents[1:] < np.arange(1, J))).all():
        raise ValueError(f"kintree_parents: expected -1 for joint 0 and each other joint's parent listed before it, "
                         f"found {parents.tolist()}")
    f = _real("f", arrays["f"], integer=True)
    if f.ndim != 2 or f.shape[1] != 3:
        raise _shape_error("f", "(F, 3)", f)
    if f.size and (f.min() < 0 or f.max() >= V):
        raise ValueError(f"f: expected vertex indices in [0, {V - 1}], found [{f.min()}, {f.max()}]")
    shapedirs = _real("shapedirs", arrays["shapedirs"])
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (V, 3):
        raise _shape_error("shapedirs", f"({V}, 3, S)", shapedirs)
    posedirs = _real("posedirs", arrays["posedirs"])
    if posedirs.shape != (V * 3, (J - 1) * 9):
        raise _shape_error("posedirs", f"({V * 3}, {(J - 1) * 9})", posedirs)
    jreg = _real("J_regressor", arrays["J_regressor"])
    if jreg.shape != (J, V):
        raise _shape_error("J_regressor", f"({J}, {V})", jreg)
    weights = _real("weights", arrays["weights"])
    if weights.shape != (V, J):
        raise _shape_error("weights", f"({V}, {J})", weights)
    out.update(v_template=v, f=f.astype(np.int64), shapedirs=shapedirs, posedirs=posedirs, J_regressor=jreg,
               weights=weights, kintree_parents=parents.astype(np.int64))
    for key, rows in _KEYPOINT_ROWS.items():
        if key in arrays:
            r = _real(key, arrays[key])
            if r.shape != (rows, V):
                raise _shape_error(key, f"({rows}, {V})", r)
            if (r < -1e-6).any() or not np.allclose(r.sum(1), 1, atol=1e-3):
                raise ValueError(f"{key}: expected convex rows (non-negative, summing to 1), found row sums in "
                                 f"[{r.sum(1).min():.4g}, {r.sum(1).max():.4g}] and minimum {r.min():.4g}")
            out[key] = r
    names = arrays.get("joint_names")
    if names is None:
        names = SMPL_JOINT_NAMES if J == 24 else tuple(f"joint_{j}" for j in range(J))
    names = np.asarray(names)
    if names.dtype.kind != "U" or names.shape != (J,):
        raise ValueError(f"joint_names: expected ({J},) strings, found shape {names.shape} of dtype {names.dtype}")
    out["joint_names"] = names
    meta = np.asarray(arrays.get("meta", "{}"))
    if meta.dtype.kind != "U" or meta.shape != ():
        raise ValueError(f"meta: expected a JSON string, found shape {meta.shape} of dtype {meta.dtype}")
    try:
        json.loads(str(meta))
    except json.JSONDecodeError as exc:
        raise ValueError(f"meta: expected a JSON string, found text that does not parse: {exc}") from None
    out["meta"] = meta
    return out


# --------------------------------------------------------------------------- the restricted unpickler


class _StandIn:
    """An inert object standing in for a pickled class of another library: it records its state."""

    origin = "?"
    state = None

    def __setstate__(self, state):
        self.state = state

    def __init__(self, *args, **kwargs):  # a pickle may call the class; nothing is run
        self.args = args


class _ChumpyStandIn(_StandIn):
    def to_array(self, limit: int) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        x = state.get("x")
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{self.origin}: expected a chumpy array holding its value in 'x', "
                             f"found state keys {sorted(state)}")
        return x


class _SparseStandIn(_StandIn):
    def to_array(self, limit: int) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        shape = state.get("_shape", state.get("shape"))
        data, indices, indptr = (state.get(k) for k in ("data", "indices", "indptr"))
        if not (isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(n, int) and n >= 0 for n in shape)
                and all(isinstance(a, np.ndarray) and a.ndim == 1 for a in (data, indices, indptr))):
            raise ValueError(f"{self.origin}: expected a sparse matrix state with a 2-d shape, data, indices "
                             f"and indptr, found state keys {sorted(state)}")
        if math.prod(shape) * 8 > limit:
            raise ValueError(f"{self.origin}: expected at most {limit} bytes dense, found shape {shape}")
        csc = self.origin.endswith("csc_matrix") or self.origin.endswith("csc_array")
        major, minor = (shape[1], shape[0]) if csc else shape
        indptr = indptr.astype(np.int64)
        if (indptr.shape != (major + 1,) or indptr[0] != 0 or (np.diff(indptr) < 0).any()
                or indptr[-1] != len(indices) or len(indices) != len(data)
                or (len(indices) and (indices.min() < 0 or indices.max() >= minor))):
            raise ValueError(f"{self.origin}: expected consistent indptr / indices / data for shape {shape}")
        dense = np.zeros(shape, dtype=np.float64)
        outer = np.repeat(np.arange(major), np.diff(indptr))
        rows, cols = (indices, outer) if csc else (outer, indices)
        np.add.at(dense, (rows, cols), data.astype(np.float64))
        return dense


_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array reconstruction, under whichever module name
_SCALAR = np.float64(0).__reduce__()[0]
_NUMPY_NAMES = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _NUMPY_NAMES[(_mod, "_reconstruct")] = "reconstruct"
    _NUMPY_NAMES[(_mod, "scalar")] = "scalar"
_SPARSE = {"csc_matrix", "csr_matrix", "csc_array", "csr_array"}
_STAND_INS: dict[tuple[str, str], type] = {}


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise ValueError(f"pickle: expected numpy.ndarray to be reconstructed, found {subtype!r}")
    return _RECONSTRUCT(subtype, shape, dtype)


def _safe_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufcSU":
        raise ValueError(f"pickle: expected a numeric numpy scalar, found dtype {dtype!r}")
    return _SCALAR(dtype, *args)


def _safe_encode(text, encoding="utf-8"):
    """``_codecs.encode``, which Python 3 pickles of protocol < 3 use for bytes: text to bytes only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ValueError(f"pickle: expected _codecs.encode(str, 'latin1'), found {type(text).__name__}, {encoding!r}")
    return text.encode(encoding)


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` (how protocol 0/1 pickles make objects), for stand-ins only."""
    if not (isinstance(cls, type) and issubclass(cls, _StandIn)) or base is not object or state is not None:
        raise ValueError(f"pickle: expected copyreg._reconstructor of a chumpy or sparse class, found {cls!r}")
    return cls.__new__(cls)


def _stand_in(module: str, name: str) -> type:
    key = (module, name)
    if key not in _STAND_INS:
        base = _ChumpyStandIn if module.split(".")[0] == "chumpy" else _SparseStandIn
        _STAND_INS[key] = type(f"StandIn_{name}", (base,), {"origin": f"{module}.{name}"})
    return _STAND_INS[key]


class _SmplUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _NUMPY_NAMES.get((module, name))
        if found == "reconstruct":
            return _safe_reconstruct
        if found == "scalar":
            return _safe_scalar
        if found is not None:
            return found
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            return _safe_reconstructor
        if (module, name) == ("_codecs", "encode"):
            return _safe_encode
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in(module, name)
        if module.startswith("scipy.sparse") and name in _SPARSE:
            return _stand_in(module, name)
        raise ValueError(f"pickle: refused the class or function {module}.{name}: an SMPL file holds only "
                         f"NumPy arrays, chumpy arrays and SciPy sparse matrices")

    def persistent_load(self, pid):
        raise ValueError("pickle: refused a persistent id: an SMPL file holds none")


def _read_smpl_pickle(p, data: bytes, limit: int) -> dict[str, np.ndarray]:
    try:
        obj = _SmplUnpickler(io.BytesIO(data), encoding="latin1").load()
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError, OverflowError,
            MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not a readable SMPL pickle: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{p}: expected a pickled dict of SMPL arrays, found {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        if isinstance(value, _StandIn):
            try:
                value = value.to_array(limit)
            except ValueError as exc:
                raise ValueError(f"{p}: {key}: {exc}") from None
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            out[str(key)] = value
    return out


def _from_smpl_layout(p, d: dict, source: str) -> dict[str, np.ndarray]:
    """SMPL's own keys (pkl or smplx npz) -> unrender's layout."""
    missing = [k for k in _SMPLX_KEYS if k not in d]
    if missing:
        raise ValueError(f"{p}: expected an SMPL model with the arrays {', '.join(_SMPLX_KEYS)}, "
                         f"found no {', '.join(missing)}")
    v = np.asarray(d["v_template"])
    table = np.asarray(d["kintree_table"]).astype(np.int64)
    if table.ndim != 2 or table.shape[0] != 2:
        raise ValueError(f"{p}: kintree_table: expected shape (2, J), found shape {table.shape}")
    J = table.shape[1]
    if sorted(table[1].tolist()) != list(range(J)):
        raise ValueError(f"{p}: kintree_table: expected row 1 to list the joints 0..{J - 1}, found {table[1].tolist()}")
    parents = np.full(J, -1, dtype=np.int64)
    parent = table[0]
    parents[table[1]] = np.where((parent < 0) | (parent >= J), -1, parent)
    posedirs = np.asarray(d["posedirs"])
    if posedirs.ndim == 3:
        if posedirs.shape[:2] != v.shape[:2]:
            raise _shape_error("posedirs", f"({v.shape[0]}, 3, P)", posedirs)
        posedirs = posedirs.reshape(-1, posedirs.shape[2])
    shapedirs = np.asarray(d["shapedirs"])
    meta = {"name": as_path(p).stem, "source": source, "licence": "the model's own licence (not shipped with unrender)",
            "provenance": f"converted from {as_path(p).name}", "units": "m", "up": "y", "version": 1}
    arrays = {"v_template": v, "f": np.asarray(d["f"]), "shapedirs": shapedirs, "posedirs": posedirs,
              "J_regressor": np.asarray(d["J_regressor"]), "weights": np.asarray(d["weights"]),
              "kintree_parents": parents, "meta": np.asarray(json.dumps(meta))}
    try:
        return check_body_arrays(arrays)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None


def load_body_model(path, *, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Read a body model into unrender's arrays (the keys of :data:`BODY_MODEL_KEYS`).

    Args:
        path: unrender's ``.npz``, an smplx-layout ``.npz`` (``v_template``,
            ``shapedirs``, ``posedirs``, ``J_regressor``, ``weights``,
            ``kintree_table``, ``f``) or an official SMPL ``.pkl``.
        max_bytes: the largest file read (default :data:`MAX_BODY_MODEL_BYTES`).
    Returns:
        the dict of :func:`check_body_arrays`.
    Raises:
        FileNotFoundError: missing file.
        ValueError: naming the file: too big, not one of the layouts, a class a
            pickle may not hold, arrays whose shapes disagree (naming the key).
    """
    p = regular_file(path)
    suffix = p.suffix.lower()
    if suffix not in (".npz", ".pkl"):
        raise ValueError(f"{path}: expected a body model ending in .npz or .pkl, found {suffix or 'no extension'!r}")
    limit = MAX_BODY_MODEL_BYTES if max_bytes is None else int(max_bytes)
    size = p.stat().st_size
    if size > limit:
        raise ValueError(f"{p}: expected a body-model file of at most {limit} bytes (MAX_BODY_MODEL_BYTES), "
                         f"found {size}")
    if suffix == ".pkl":
        return _from_smpl_layout(p, _read_smpl_pickle(p, p.read_bytes(), limit), "smpl pkl")
    arrays = load_arrays(p, max_bytes=limit, strings=True, keys=set(BODY_MODEL_KEYS) | set(_SMPLX_KEYS))
    if "kintree_parents" in arrays:
        try:
            return check_body_arrays(arrays)
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None
    if "kintree_table" in arrays:
        return _from_smpl_layout(p, arrays, "smplx npz")
    raise ValueError(f"{p}: expected a body model (kintree_parents: unrender's layout, or kintree_table: "
                     f"smplx's), found the arrays {sorted(arrays) or 'none'}")


def save_body_model(path, model_arrays) -> None:
    """Write a body model as unrender's ``.npz`` (``numpy.savez_compressed``; floats float32, indices int32).

    Args:
        model_arrays: a mapping of unrender's keys (checked by :func:`check_body_arrays`).
    """
    p = as_path(path)
    if p.suffix.lower() != ".npz":
        raise ValueError(f"{path}: expected a file ending in .npz, found {p.suffix or 'no extension'!r}")
    arrays = check_body_arrays(model_arrays)
    out = {k: (a.astype(np.float32) if a.dtype.kind == "f" else a) for k, a in arrays.items()}
    out["f"] = arrays["f"].astype(np.int32)
    out["kintree_parents"] = arrays["kintree_parents"].astype(np.int32)
    tmp = p.with_name(p.name + ".partial.npz")
    try:
        np.savez_compressed(tmp, **out)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()


"""Wavefront OBJ (+ MTL) reading and writing.

Reads ``v`` (optionally ``v x y z r g b``), ``vt``, ``vn`` and ``f`` in every
index form (``v``, ``v/vt``, ``v//vn``, ``v/vt/vn``, negative = relative),
fan-triangulates polygons and loads ``mtllib`` materials with their ``map_Kd``
texture. ``o``/``g``/``s``/``l``/``p``, comments, blank lines and ``\\`` line
continuations are accepted (joined in linear time); unknown statements are
ignored, as the format asks.

Numbers are plain ASCII (``float()``'s ``1_000`` and non-ASCII digits are
refused). Vertex colours must lie in [0, 1]; MTL colours (``Ka``, ``Kd``,
``Ks``) and ``Ns`` must be non-negative and within float32, opacity (``d``,
``Tr``) in [0, 1]: anything else is a ``ValueError`` naming the file and line.

Paths: ``mtllib`` files and ``map_Kd`` textures must lie inside the model's
folder (the OBJ's folder; for :func:`load_mtl` alone, the MTL's). Absolute
paths and paths that climb out of it (``..``, or a link that leads out) are
not followed: a warning, and no material file / no texture. Pass
``allow_outside_paths=True`` to follow them.

Differences from PyTorch3D's ``load_obj``: faces are always fan-triangulated
(as PyTorch3D does) but missing per-corner UV / normal indices are ``-1`` only
where absent; materials are ``Material`` dataclasses; positive indices may
refer to vertices defined later in the file; ``save_obj`` writes ``%.9g``
(exact for float32) instead of six fixed decimals.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from ._common import (as_path, inside_folder, check_array, check_finite_array, fan_triangles, is_plain_number_text, plain_float,
                      read_bytes, to_numpy)

__all__ = ["Material", "ObjMesh", "load_obj", "load_mtl", "save_obj"]


# ----------------------------------------------------------------------------- data
def _rgb(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


@dataclass
class Material:
    """One ``newmtl`` block. Defaults follow PyTorch3D's ``Materials``.

    Attributes:
        ambient, diffuse, specular: ``(3,)`` float32 (``Ka``, ``Kd``, ``Ks``).
        shininess: ``Ns``.  opacity: ``d`` (or ``1 - Tr``).
        texture_path: resolved ``map_Kd`` path or ``None``.
        texture_image: ``(H, W, 3)`` float32 in [0, 1] or ``None`` (not loaded / missing).
    """

    name: str = ""
    ambient: torch.Tensor = field(default_factory=lambda: _rgb([1.0, 1.0, 1.0]))
    diffuse: torch.Tensor = field(default_factory=lambda: _rgb([1.0, 1.0, 1.0]))
    specular: torch.Tensor = field(default_factory=lambda: _rgb([1.0, 1.0, 1.0]))
    shininess: float = 64.0
    opacity: float = 1.0
    texture_path: Path | None = None
    texture_image: torch.Tensor | None = None


@dataclass
class ObjMesh:
    """What ``load_obj`` returns (triangles after fan triangulation).

    Attributes:
        verts: ``(V, 3)`` float32.
        faces: ``(F, 3)`` int64 into ``verts``.
        verts_uvs: ``(T, 2)`` float32 or ``None``.
        faces_uvs: ``(F, 3)`` int64 into ``verts_uvs`` (``-1`` where a corner has none) or ``None``.
        normals: ``(N, 3)`` float32 or ``None``.
        faces_normals: ``(F, 3)`` int64 into ``normals`` (``-1`` where absent) or ``None``.
        verts_colors: ``(V, 3)`` float32 from ``v x y z r g b`` lines (only when every vertex has one) or ``None``.
        face_materials: ``(F,)`` int64 into ``material_names``, ``-1`` before any ``usemtl``.
        materials: name -> ``Material`` (every name defined in the MTL files or used by ``usemtl``).
        material_names: names in index order: first as used by ``usemtl``, then unused MTL entries.
        texture_atlas: ``(F, R, R, 3)`` per-face texels (``load_obj(..., create_texture_atlas=True)``) or ``None``.

    ``verts, faces, aux = load_obj(path)`` unpacks it as PyTorch3D's triple (see
    :mod:`unrender.io.obj_views`).
    """

    verts: torch.Tensor
    faces: torch.Tensor
    verts_uvs: torch.Tensor | None = None
    faces_uvs: torch.Tensor | None = None
    normals: torch.Tensor | None = None
    faces_normals: torch.Tensor | None = None
    verts_colors: torch.Tensor | None = None
    face_materials: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    materials: dict[str, Material] = field(default_factory=dict)
    material_names: list[str] = field(default_factory=list)
    texture_atlas: torch.Tensor | None = None

    def __iter__(self):
        from .obj_views import obj_as_tuple

        return iter(obj_as_tuple(self))

    def to_meshes(self):
        """A one-mesh ``unrender.Meshes``."""
        from ..structures import Meshes

        return Meshes([self.verts], [self.faces])


# ----------------------------------------------------------------------------- text helpers
def _decode(data: bytes) -> str:
    # A BOM is dropped; non-UTF-8 bytes only occur in names and comments in practice, so keep going.
    return data.decode("utf-8-sig", errors="replace")


def _continuation_runs(lines: list[str], starts_run=None) -> list[tuple[int, int]]:
    """The ``(first, last)`` physical lines of every ``\\`` continuation, in one pass.

    A run is a line ending in ``\\``, every following line that also does and
    the line after them (none past the end: a final ``\\`` stays). ``starts_run(i)``
    may refuse a line as the start of a run (OBJ comments).
    """
    n = len(lines)
    runs = []
    first = prev = -2
    for i in [i for i, s in enumerate(lines) if s.endswith("\\") or s.endswith("\\\r")]:
        if first >= 0 and i == prev + 1:
            prev = i
            continue
        if first >= 0:
            runs.append((first, min(prev + 1, n - 1)))
        first = prev = i if starts_run is None or starts_run(i) else -2
    if first >= 0:
        runs.append((first, min(prev + 1, n - 1)))
    return runs


def _joined(lines: list[str], first: int, last: int) -> str:
    """Lines ``first..last`` joined, each continuation ``\\`` replaced by a space (one join: linear time)."""
    # Every line but the last ends in "\\" (or "\\\r"): the joins are the only newlines.
    return "\n".join(lines[first: last + 1]).replace("\\\r\n", " ").replace("\\\n", " ").rstrip("\r")


def _logical_lines(text: str) -> tuple[list[str], list[int] | range]:
    """Split into lines and join ``\\`` continuations.

    Returns the lines and the 1-based physical line number each starts on.
    """
    lines = text.split("\n")
    if "\\" not in text:
        return lines, range(1, len(lines) + 1)
    out: list[str] = []
    nums: list[int] = []
    pos = 0
    for first, last in _continuation_runs(lines):
        out += lines[pos:first]
        nums += range(pos + 1, first + 1)
        out.append(_joined(lines, first, last))
        nums.append(first + 1)
        pos = last + 1
    out += lines[pos:]
    nums += range(pos + 1, len(lines) + 1)
    return out, nums


def _is_file(p: Path) -> bool:
    """``Path.is_file`` that treats unusable names (too long, NUL bytes) as missing."""
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def _err(path, line, msg: str) -> ValueError:
    return ValueError(f"{path}: line {line}: {msg}")


def _parse_floats(path, key: str, toks: list[str], tok_lines) -> np.ndarray:
    """Strictly parse number tokens; on failure name the first bad token's line."""
    try:
        if not is_plain_number_text("".join(toks)):
            raise ValueError("not plain ASCII numbers")
        return np.array(list(map(float, toks)), dtype=np.float64)
    except ValueError:
        lines = tok_lines() if callable(tok_lines) else tok_lines
        for t, ln in zip(toks, lines):
            try:
                plain_float(t)
            except ValueError:
                raise _err(path, ln, f"expected a number in '{key}' statement, found {t!r}") from None
        raise  # pragma: no cover


def _rows(path, key: str, strs: list[str], lines, allowed: tuple[int, ...]):
    """Split statements (keyword first), check argument counts. Returns argument tokens per row and counts."""
    toks = [s.split()[1:] for s in strs]
    lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
    bad = ~np.isin(lens, allowed)
    if bad.any():
        i = int(np.argmax(bad))
        want = ", ".join(map(str, allowed[:-1])) + (" or " if len(allowed) > 1 else "") + str(allowed[-1])
        raise _err(path, lines[i], f"expected {want} numbers after '{key}', found {int(lens[i])}")
    return toks, lens


def _uniform_tokens(key: str, strs: list[str]) -> tuple[list[str], int] | None:
    """If every statement has the same number of tokens ``k``, the argument tokens and ``k - 1``.

    ``k`` is checked by the positions of the keyword tokens: the joined token
    list holds exactly ``n`` keywords, all at multiples of ``k``.
    """
    n = len(strs)
    toks = " ".join(strs).split()
    k = len(toks) // n
    if k >= 1 and len(toks) == n * k and toks.count(key) == n and toks[::k].count(key) == n:
        del toks[::k]
        return toks, k - 1
    return None


def _parse_block(path, key, strs, lines, allowed, width) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``key`` statements with ``allowed`` argument counts into ``(n, width)`` float64.

    Missing trailing components are 0; returns the array and per-row counts.
    """
    n = len(strs)
    if n == 0:
        return np.zeros((0, width)), np.zeros(0, dtype=np.int64)
    uni = _uniform_tokens(key, strs)
    if uni is not None and uni[1] in allowed:
        toks, k = uni
        vals = _parse_floats(path, key, toks, lambda: np.repeat(lines, k).tolist()).reshape(n, k)
        out = np.zeros((n, width), dtype=np.float64)
        out[:, : min(k, width)] = vals[:, :width]
        return out, np.full(n, k, dtype=np.int64)
    toks, lens = _rows(path, key, strs, lines, allowed)
    out = np.zeros((n, width), dtype=np.float64)
    for k in np.unique(lens).tolist():
        sel = np.nonzero(lens == k)[0]
        flat = list(chain.from_iterable(toks[i] for i in sel.tolist()))
        sel_lines = [lines[i] for i in sel.tolist()]
        vals = _parse_floats(path, key, flat, lambda: np.repeat(sel_lines, k).tolist())
        vals = vals.reshape(len(sel), k)
        out[sel, : min(k, width)] = vals[:, :width]
    return out, lens


def _check_finite_rows(path, key, arr: np.ndarray, lines) -> None:
    # We return float32: values beyond its range count as infinite.
    ok = np.isfinite(arr.astype(np.float32)).all(1)
    if not ok.all():
        i = int(np.argmin(ok))
        raise _err(path, lines[i], f"expected finite numbers in '{key}' statement, found {arr[i].tolist()}")


# Face index forms: tokens per corner, regex of one corner.
_CORNERS = {"v": "{i}", "v/vt": "{i}/{i}", "v//vn": "{i}//{i}", "v/vt/vn": "{i}/{i}/{i}"}
# (numbers per corner, regex for signed corners, faster regex when no sign occurs)
_FORMS = {
    form: (c.count("{i}"),) + tuple(
        re.compile(c.format(i=i) + "(?: " + c.format(i=i) + ")*") for i in (r"[+-]?\d+", r"\d+")
    )
    for form, c in _CORNERS.items()
}


def _form_of(tok: str) -> str:
    if "/" not in tok:
        return "v"
    if "//" in tok:
        return "v//vn"
    return "v/vt" if tok.count("/") == 1 else "v/vt/vn"


def _parse_face_tokens(path, toks: list[str], lens: np.ndarray, lines: list[int]) -> np.ndarray:
    """Corner tokens -> ``(C, 3)`` int64 raw OBJ indices (v, vt, vn); 0 = absent."""
    nt = len(toks)
    out = np.zeros((nt, 3), dtype=np.int64)
    if nt == 0:
        return out
    joined = " ".join(toks)
    form = _form_of(toks[0])
    k, signed, unsigned = _FORMS[form]
    pattern = signed if ("-" in joined or "+" in joined) else unsigned
    if joined.isascii() and pattern.fullmatch(joined):
        # Uniform form, validated: numpy's text parser is exact here.
        s = joined.replace("//", " ") if form == "v//vn" else joined.replace("/", " ")
        nums = np.fromstring(s, sep=" ", dtype=np.int64)
        # Zero (invalid in OBJ) and saturated huge values go to the careful path for the message.
        if nums.size == nt * k and nums.all() and np.abs(nums).max() < 2**62:
            nums = nums.reshape(nt, k)
            cols = {"v": [0], "v/vt": [0, 1], "v//vn": [0, 2], "v/vt/vn": [0, 1, 2]}[form]
            out[:, cols] = nums
            return out
    # Mixed forms or a malformed token: careful per-corner parse.
    tok_lines = np.repeat(np.asarray(lines, dtype=np.int64), lens)
    for i, t in enumerate(toks):
        parts = t.split("/")
        if len(parts) > 3 or parts[0] == "" or (len(parts) == 3 and parts[2] == "") or (len(parts) == 2 and parts[1] == ""):
            raise _err(path, int(tok_lines[i]), f"expected a face corner v, v/vt, v//vn or v/vt/vn, found {t!r}")
        try:
            for j, p in enumerate(parts):
                if p:
                    if not p.lstrip("+-").isdigit() or not p.isascii():
                        raise ValueError
                    out[i, j] = int(p)
                    if out[i, j] == 0:
                        raise ValueError
        except (ValueError, OverflowError):
            raise _err(path, int(tok_lines[i]), f"expected non-zero integer indices in face corner, found {t!r}") from None
    return out


def _resolve(path, raw: np.ndarray, count_at: np.ndarray, total: int, tok_lines, what: str) -> np.ndarray:
    """OBJ 1-based / negative-relative indices -> 0-based; ``raw == 0`` (absent) -> -1."""
    present = raw != 0
    idx = np.where(raw < 0, raw + count_at, raw - 1)
    bad = present & ((idx < 0) | (idx >= total))
    if bad.any():
        i = int(np.argmax(bad))
        lines = tok_lines()
        r = int(raw[i])
        avail = int(count_at[i]) if r < 0 else total
        if avail == 0:
            raise _err(path, int(lines[i]), f"expected no {what} index ({'none defined yet' if r < 0 else 'none defined'}), found {r}")
        raise _err(path, int(lines[i]), f"expected a {what} index in [1, {avail}] or [-{int(count_at[i])}, -1], found {r}")
    return np.where(present, idx, -1)


# ----------------------------------------------------------------------------- MTL
_TEX_OPTS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1, "-imfchan": 1,
             "-mm": 2, "-texres": 1, "-type": 1, "-o": 3, "-s": 3, "-t": 3}


def _texture_filename(args: list[str]) -> str:
    """Strip ``map_Kd`` options (``-s 1 1 1`` ...) and return the file name."""
    i = 0
    while i < len(args) and args[i] in _TEX_OPTS:
        n = _TEX_OPTS[args[i]]
        i += 1
        if n == 3:  # -o/-s/-t take 1 to 3 numbers
            taken = 0
            while i < len(args) and taken < 3:
                try:
                    float(args[i])
                except ValueError:
                    break
                i += 1
                taken += 1
        else:
            i += n
    return " ".join(args[i:])


def _followed(root: Path, base: Path, name: str, allow_outside: bool, where: str, what: str) -> Path | None:
    """The path ``name`` names (relative to ``base``), or ``None`` with a warning when it leads out of ``root``."""
    if allow_outside:
        return base / name.replace("\\", "/")
    target = inside_folder(root, name, base=base)
    if target is None:
        warnings.warn(f"{where}: {what} {name!r} is outside the model's folder {root}; not read "
                      "(pass allow_outside_paths=True to follow it)", stacklevel=3)
    return target


_COLOR_KEYS = {"Ka": "ambient", "Kd": "diffuse", "Ks": "specular"}
_F32_MAX = float(np.finfo(np.float32).max)


def load_mtl(path, *, load_textures: bool = True, allow_outside_paths: bool = False, root=None) -> dict[str, Material]:
    """Read an MTL file into ``{name: Material}`` (texture paths resolved next to it).

    Args:
        load_textures: load ``map_Kd`` images (:func:`~unrender.io.load_image`, bounded by
            ``MAX_IMAGE_PIXELS``) into ``Material.texture_image``.
        allow_outside_paths: follow ``map_Kd`` paths that are absolute or lead out of ``root``.
        root: the model's folder textures must stay in (default: the MTL file's folder).

    A missing texture image or a refused path only warns (no texture); a
    malformed statement or a value out of range (colours negative or beyond
    float32, ``Ns`` negative, ``d`` / ``Tr`` outside [0, 1]) raises
    ``ValueError`` naming the file and line.
    """
    p, data = read_bytes(path)
    root = p.parent if root is None else as_path(root)
    lines, nums = _logical_lines(_decode(data))
    mats: dict[str, Material] = {}
    cur: Material | None = None
    for ln, line in zip(nums, lines):
        if "#" in line:
            line = line[: line.index("#")]
        parts = line.split()
        if not parts:
            continue
        key, args = parts[0], parts[1:]
        if key == "newmtl":
            name = " ".join(args)
            cur = Material(name=name)
            mats[name] = cur
            continue
        if key not in ("Ka", "Kd", "Ks", "Ns", "d", "Tr", "map_Kd"):
            continue
        if cur is None:
            raise _err(p, ln, f"expected 'newmtl' before '{key}', found none")
        if key == "map_Kd":
            fname = _texture_filename(args)
            if not fname:
                raise _err(p, ln, "expected a file name after 'map_Kd', found none")
            cur.texture_path = _followed(root, p.parent, fname, allow_outside_paths, f"{p}: line {ln}", "texture")
            continue
        try:
            vals = [plain_float(a) for a in args]
        except ValueError:
            if key in _COLOR_KEYS and args and args[0] in ("spectral", "xyz"):
                continue  # colour spaces we do not model
            raise _err(p, ln, f"expected numbers after '{key}', found {' '.join(args)!r}") from None
        if not all(np.isfinite(vals)):
            raise _err(p, ln, f"expected finite numbers after '{key}', found {' '.join(args)!r}")
        if key in ("d", "Tr"):
            if len(vals) != 1 or not 0.0 <= vals[0] <= 1.0:
                raise _err(p, ln, f"expected 1 number in [0, 1] after '{key}', found {' '.join(args)!r}")
            cur.opacity = vals[0] if key == "d" else 1.0 - vals[0]
            continue
        if not all(0.0 <= v <= _F32_MAX for v in vals):
            raise _err(p, ln, f"expected non-negative numbers within float32 range after '{key}', "
                              f"found {' '.join(args)!r}")
        if key in _COLOR_KEYS:
            if len(vals) not in (1, 3):
                raise _err(p, ln, f"expected 1 or 3 numbers after '{key}', found {len(vals)}")
            setattr(cur, _COLOR_KEYS[key], _rgb(vals * 3 if len(vals) == 1 else vals))
        else:
            if len(vals) != 1:
                raise _err(p, ln, f"expected 1 number after '{key}', found {len(vals)}")
            cur.shininess = vals[0]
    if load_textures:
        from .images import load_image

        for m in mats.values():
            if m.texture_path is None:
                continue
            if not _is_file(m.texture_path):
                warnings.warn(f"{p}: texture {m.texture_path} of material {m.name!r} not found; skipped", stacklevel=2)
                continue
            m.texture_image = load_image(m.texture_path)[..., :3].contiguous()
    return mats


# ----------------------------------------------------------------------------- OBJ reader
_OTHER, _V, _VT, _VN, _F, _SKIP = range(6)
_KEYS = {"v": _V, "vt": _VT, "vn": _VN, "f": _F}


def _classify(data: bytes) -> np.ndarray:
    """Kind of every physical line (``_V``, ``_F``, ...) from its first bytes, without a Python loop.

    Lines that are not plainly ``v ``/``vt ``/``vn ``/``f `` (leading spaces,
    other keywords) are ``_OTHER`` and get a closer look in Python.
    """
    b = np.frombuffer(data, np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(b == 10) + 1])
    bp = np.concatenate([b, np.zeros(3, np.uint8)])
    c0, c1, c2 = bp[starts], bp[starts + 1], bp[starts + 2]
    ws1 = (c1 == 32) | (c1 == 9)
    ws2 = (c2 == 32) | (c2 == 9)
    kind = np.full(len(starts), _OTHER, dtype=np.uint8)
    kind[(c0 == ord("#")) | (c0 == 10) | (c0 == 13) | (starts == len(b))] = _SKIP
    kind[(c0 == ord("v")) & ws1] = _V
    kind[(c0 == ord("v")) & (c1 == ord("t")) & ws2] = _VT
    kind[(c0 == ord("v")) & (c1 == ord("n")) & ws2] = _VN
    kind[(c0 == ord("f")) & ws1] = _F
    return kind


def _join_continuations(lines: list[str], kind: np.ndarray) -> None:
    """Join lines ending in ``\\`` with the next one, in place; the joined line keeps its number.

    A comment line does not continue onto the next; continued lines become blank.
    """
    skip = (kind == _SKIP).tolist()
    for first, last in _continuation_runs(lines, lambda i: not skip[i]):
        line = _joined(lines, first, last)
        lines[first + 1: last + 1] = [""] * (last - first)
        kind[first + 1: last + 1] = _SKIP
        lines[first] = line
        kind[first] = _SKIP if line.lstrip().startswith("#") else _OTHER


def load_obj(path, load_textures: bool = True, create_texture_atlas: bool = False, texture_atlas_size: int = 4,
             texture_wrap: str | None = "repeat", *, allow_outside_paths: bool = False) -> ObjMesh:
    """Read a Wavefront OBJ file (and the MTL files it names).

    Args:
        path: the ``.obj`` file.
        load_textures: load ``map_Kd`` images (Pillow) into ``Material.texture_image``.
        create_texture_atlas, texture_atlas_size, texture_wrap: fill ``texture_atlas``
            (PyTorch3D's options, see :func:`unrender.io.obj_views.make_texture_atlas`).
        allow_outside_paths: follow ``mtllib`` and ``map_Kd`` paths that are
            absolute or lead out of the OBJ's folder (by default: a warning, not read).
    Returns:
        ``ObjMesh`` with ``verts (V, 3)``, ``faces (F, 3)`` and the optional fields.
    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: malformed statement, index out of range or non-finite value,
            naming the file and line.
    """
    p, data = read_bytes(path)
    lines = _decode(data).split("\n")
    kind = _classify(data)
    if b"\\" in data:
        _join_continuations(lines, kind)

    # The few lines that are not plain v/vt/vn/f statements, in Python.
    mtllibs: list[tuple[int, str]] = []
    mat_index: dict[str, int] = {}
    use_at: list[int] = []
    use_mat: list[int] = []
    for i in np.flatnonzero(kind == _OTHER).tolist():
        line = lines[i]
        if "#" in line:
            line = line[: line.index("#")]
        parts = line.split(None, 1)
        if not parts:
            continue
        key = parts[0]
        rest = parts[1].strip() if len(parts) > 1 else ""
        if key in _KEYS:
            kind[i] = _KEYS[key]
            lines[i] = line
        elif key == "usemtl":
            if not rest:
                raise _err(p, i + 1, "expected a material name after 'usemtl', found none")
            use_at.append(i)
            use_mat.append(mat_index.setdefault(rest, len(mat_index)))
        elif key == "mtllib":
            if not rest:
                raise _err(p, i + 1, "expected a file name after 'mtllib', found none")
            mtllibs.append((i + 1, rest))
        # o, g, s, l, p, vp, curv, ... are tolerated and ignored.

    def block(code: int) -> tuple[np.ndarray, list[str]]:
        idx = np.flatnonzero(kind == code)
        strs = [lines[i] for i in idx.tolist()]
        if "#" in "".join(strs):
            strs = [s.split("#", 1)[0] for s in strs]
        return idx, strs

    v_idx, v_strs = block(_V)
    vt_idx, vt_strs = block(_VT)
    vn_idx, vn_strs = block(_VN)
    f_idx, f_strs = block(_F)
    v_ln, vt_ln, vn_ln, f_ln = (idx + 1 for idx in (v_idx, vt_idx, vn_idx, f_idx))

    # vertices (with optional colours)
    vv, vlens = _parse_block(p, "v", v_strs, v_ln, (3, 4, 6), 6)
    _check_finite_rows(p, "v", vv, v_ln)
    verts = vv[:, :3]
    bad = (vlens == 6) & ((vv[:, 3:6] < 0) | (vv[:, 3:6] > 1)).any(1)
    if bad.any():
        i = int(np.argmax(bad))
        raise _err(p, int(v_ln[i]), f"expected vertex colour components in [0, 1], found {vv[i, 3:6].tolist()}")
    colors = vv[:, 3:6] if len(vlens) and (vlens == 6).all() else None
    vt, _ = _parse_block(p, "vt", vt_strs, vt_ln, (1, 2, 3), 2)
    _check_finite_rows(p, "vt", vt, vt_ln)
    vn, _ = _parse_block(p, "vn", vn_strs, vn_ln, (3,), 3)
    _check_finite_rows(p, "vn", vn, vn_ln)

    # faces: corner tokens, corners per face, then indices
    nf = len(f_strs)
    uni = _uniform_tokens("f", f_strs) if nf else None
    if uni is not None:
        flat, k = uni
        flens = np.full(nf, k, dtype=np.int64)
    else:
        ftoks = [s.split()[1:] for s in f_strs]
        flens = np.fromiter(map(len, ftoks), dtype=np.int64, count=nf)
        flat = list(chain.from_iterable(ftoks))
        del ftoks
    if (flens < 3).any():
        i = int(np.argmax(flens < 3))
        raise _err(p, int(f_ln[i]), f"expected at least 3 vertices in face, found {int(flens[i])}")
    raw = _parse_face_tokens(p, flat, flens, f_ln)
    del flat
    # Counts of v/vt/vn defined before each face line (for negative indices) and its material.
    before = [np.searchsorted(idx, f_idx) for idx in (v_idx, vt_idx, vn_idx)]
    m = np.searchsorted(np.asarray(use_at, dtype=np.int64), f_idx, side="right") - 1
    f_mat = np.where(m >= 0, np.asarray(use_mat + [-1], dtype=np.int64)[m], -1)
    tok_lines = lambda: np.repeat(f_ln, flens)  # noqa: E731
    vi = _resolve(p, raw[:, 0], np.repeat(before[0], flens), len(verts), tok_lines, "vertex")
    ti = _resolve(p, raw[:, 1], np.repeat(before[1], flens), len(vt), tok_lines, "texture coordinate")
    ni = _resolve(p, raw[:, 2], np.repeat(before[2], flens), len(vn), tok_lines, "normal")

    tri = fan_triangles(flens)
    faces = vi[tri]
    faces_uvs = ti[tri] if (raw[:, 1] != 0).any() else None
    faces_normals = ni[tri] if (raw[:, 2] != 0).any() else None
    face_materials = np.repeat(f_mat, flens - 2)

    # materials
    materials: dict[str, Material] = {}
    root = p.parent
    for ln, spec in mtllibs:
        whole = root / spec.replace("\\", "/") if allow_outside_paths else inside_folder(root, spec)
        candidates = [spec] if whole is not None and _is_file(whole) else spec.split()
        for name in candidates:
            mp = _followed(root, root, name, allow_outside_paths, f"{p}: line {ln}", "material library")
            if mp is None:
                continue
            if not _is_file(mp):
                warnings.warn(f"{p}: line {ln}: material library {mp} not found; materials skipped", stacklevel=2)
                continue
            materials.update(load_mtl(mp, load_textures=load_textures, allow_outside_paths=allow_outside_paths,
                                      root=root))
    names = list(mat_index)
    for name in names:
        materials.setdefault(name, Material(name=name))
    names += [n for n in materials if n not in mat_index]

    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    i64 = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))  # noqa: E731
    obj = ObjMesh(
        verts=f32(verts),
        faces=i64(faces.reshape(-1, 3)),
        verts_uvs=f32(vt) if len(vt_strs) else None,
        faces_uvs=None if faces_uvs is None else i64(faces_uvs),
        normals=f32(vn) if len(vn_strs) else None,
        faces_normals=None if faces_normals is None else i64(faces_normals),
        verts_colors=None if colors is None else f32(colors),
        face_materials=i64(face_materials),
        materials=materials,
        material_names=names,
    )
    if create_texture_atlas:
        from .obj_views import make_texture_atlas

        obj.texture_atlas = make_texture_atlas(obj, texture_atlas_size, texture_wrap)
    return obj


# ----------------------------------------------------------------------------- OBJ writer
def _fmt_rows(prefix: str, a: np.ndarray, fmt: str) -> str:
    if a.shape[0] == 0:
        return ""
    line = prefix + " " + " ".join([fmt] * a.shape[1]) + "\n"
    return (line * a.shape[0]) % tuple(a.ravel().tolist())


def _check_index(name: str, idx: np.ndarray, n: int, what: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{name}: expected indices in [0, {n - 1}] into {what}, found range [{idx.min()}, {idx.max()}]")


def save_obj(path, verts, faces, *, verts_uvs=None, faces_uvs=None, normals=None, faces_normals=None,
             verts_colors=None, texture_map=None, material_name: str = "material_0") -> None:
    """Write a triangle (or polygon) mesh as OBJ.

    Args:
        path: the ``.obj`` file to write.
        verts: ``(V, 3)`` float.  faces: ``(F, K)`` int, 0-based, ``K >= 3``.
        verts_uvs: ``(T, 2)`` float and faces_uvs: ``(F, K)`` int (both or neither).
        normals: ``(N, 3)`` float and faces_normals: ``(F, K)`` int (both or neither).
        verts_colors: ``(V, 3)`` float written as ``v x y z r g b``.
        texture_map: ``(H, W, 3)`` float in [0, 1]; writes ``<stem>.mtl`` and
            ``<stem>.png`` next to ``path`` (needs UVs).
    """
    p = as_path(path)
    v = check_array("verts", to_numpy("verts", verts), 3)
    check_finite_array("verts", v)
    f = check_array("faces", to_numpy("faces", faces), None, integer=True)
    if f.shape[1] < 3:
        raise ValueError(f"faces: expected shape (F, K) with K >= 3, found shape {tuple(f.shape)}")
    _check_index("faces", f, len(v), "verts")
    if (verts_uvs is None) != (faces_uvs is None):
        raise ValueError("verts_uvs/faces_uvs: expected both or neither, found only one")
    if (normals is None) != (faces_normals is None):
        raise ValueError("normals/faces_normals: expected both or neither, found only one")
    if texture_map is not None and verts_uvs is None:
        raise ValueError("texture_map: expected verts_uvs and faces_uvs with it, found none")
    vt = ft = vn = fn = col = None
    if verts_uvs is not None:
        vt = check_array("verts_uvs", to_numpy("verts_uvs", verts_uvs), 2)
        check_finite_array("verts_uvs", vt)
        ft = check_array("faces_uvs", to_numpy("faces_uvs", faces_uvs), f.shape[1], rows=len(f), integer=True)
        _check_index("faces_uvs", ft, len(vt), "verts_uvs")
    if normals is not None:
        vn = check_array("normals", to_numpy("normals", normals), 3)
        check_finite_array("normals", vn)
        fn = check_array("faces_normals", to_numpy("faces_normals", faces_normals), f.shape[1], rows=len(f), integer=True)
        _check_index("faces_normals", fn, len(vn), "normals")
    if verts_colors is not None:
        col = check_array("verts_colors", to_numpy("verts_colors", verts_colors), 3, rows=len(v))
        check_finite_array("verts_colors", col)
    tex = None
    if texture_map is not None:
        tex = to_numpy("texture_map", texture_map)
        if tex.ndim != 3 or tex.shape[2] != 3:
            raise ValueError(f"texture_map: expected shape (H, W, 3), found shape {tuple(tex.shape)}")

    out = ["# written by unrender\n"]
    if tex is not None:
        out.append(f"mtllib {p.stem}.mtl\n")
    if col is not None:
        out.append(_fmt_rows("v", np.concatenate([v, col], 1).astype(np.float64), "%.9g"))
    else:
        out.append(_fmt_rows("v", v.astype(np.float64), "%.9g"))
    if vt is not None:
        out.append(_fmt_rows("vt", vt.astype(np.float64), "%.9g"))
    if vn is not None:
        out.append(_fmt_rows("vn", vn.astype(np.float64), "%.9g"))
    if tex is not None:
        out.append(f"usemtl {material_name}\n")
    k = f.shape[1]
    cols = [f + 1]
    if ft is not None:
        cols.append(ft + 1)
    if fn is not None:
        cols.append(fn + 1)
    corners = np.stack(cols, 2).reshape(len(f), -1).astype(np.int64)
    corner = {1: "%d", 2: "%d//%d" if ft is None else "%d/%d", 3: "%d/%d/%d"}[len(cols)]
    if len(f):
        out.append((("f " + " ".join([corner] * k) + "\n") * len(f)) % tuple(corners.ravel().tolist()))
    p.write_text("".join(out), encoding="utf-8")

    if tex is not None:
        from .images import save_image

        png = p.with_suffix(".png")
        save_image(png, tex)
        p.with_suffix(".mtl").write_text(
            f"# written by unrender\nnewmtl {material_name}\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nNs 0\nd 1\nillum 1\nmap_Kd {png.name}\n",
            encoding="utf-8",
        )

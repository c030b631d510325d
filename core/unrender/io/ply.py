"""Stanford PLY reading and writing (ascii, binary little and big endian).

The reader accepts any element / property layout: it extracts ``vertex``
(``x y z``, ``nx ny nz``, ``red green blue [alpha]``, ``s t`` / ``u v``) and
``face`` (``vertex_indices`` or ``vertex_index`` lists, fan-triangulated) and
skips everything else, list properties included. Binary elements made of
scalars are read with one ``np.frombuffer`` on a structured dtype; list
elements take the same route when every list has the same length (e.g. all
triangles) and otherwise a careful sequential walk. Every declared count is
checked against the bytes (or lines) left in the file before anything is
allocated, so a lying header fails fast with a ``ValueError``.

Ascii numbers are plain ASCII (``float()``'s ``1_000`` and non-ASCII digits
are refused). Colours must lie in [0, 1] after scaling integer types by their
maximum (``uchar`` / 255, ...): negative values of signed types and float
colours outside [0, 1] are a ``ValueError`` naming the element.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import torch

from ._common import (as_path, check_array, check_finite_array, fan_triangles, is_plain_number_text, plain_float,
                      read_bytes, to_numpy)

__all__ = ["PlyData", "load_ply", "save_ply"]

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_STRUCT = {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}
_FORMATS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
_FACE_LISTS = ("vertex_indices", "vertex_index")
_COLOR_NAMES = (("red", "green", "blue", "alpha"), ("diffuse_red", "diffuse_green", "diffuse_blue", "diffuse_alpha"),
                ("r", "g", "b", "a"))
_UV_NAMES = (("s", "t"), ("u", "v"), ("texture_u", "texture_v"), ("texture_s", "texture_t"))


@dataclass
class PlyData:
    """What ``load_ply`` returns.

    Attributes:
        verts: ``(V, 3)`` float32.
        faces: ``(F, 3)`` int64 (fan-triangulated) or ``None`` when there is no face element.
        normals: ``(V, 3)`` float32 or ``None``.
        colors: ``(V, 3)`` or ``(V, 4)`` (with alpha) float32 in [0, 1] or ``None``.
        verts_uvs: ``(V, 2)`` float32 (``s t`` / ``u v`` properties) or ``None``.

    ``verts, faces = load_ply(path)`` unpacks it as PyTorch3D's pair (faces ``(0, 3)``
    when the file has none).
    """

    verts: torch.Tensor
    faces: torch.Tensor | None = None
    normals: torch.Tensor | None = None
    colors: torch.Tensor | None = None
    verts_uvs: torch.Tensor | None = None

    def __iter__(self):
        faces = self.faces if self.faces is not None else torch.zeros((0, 3), dtype=torch.int64)
        return iter((self.verts, faces))


@dataclass
class _Prop:
    name: str
    dtype: str  # numpy code without byte order, e.g. "f4"
    count_dtype: str | None = None  # set for list properties


@dataclass
class _Element:
    name: str
    count: int
    line: int
    props: list[_Prop]


# ----------------------------------------------------------------------------- header
def _parse_header(p, data: bytes) -> tuple[str, list[_Element], int, int]:
    """Returns the format's byte order ('' = ascii), elements, body offset and header line count."""
    if not data.startswith(b"ply"):
        raise ValueError(f"{p}: line 1: expected 'ply', found {data[:16]!r}")
    fmt = None
    elements: list[_Element] = []
    pos = 0
    n = 0
    while True:
        nl = data.find(b"\n", pos)
        nxt = len(data) if nl < 0 else nl + 1
        raw = data[pos: len(data) if nl < 0 else nl].decode("latin-1")
        pos = nxt
        n += 1
        parts = raw.split()
        key = parts[0] if parts else ""
        where = f"{p}: line {n}:"
        if n == 1:
            if parts != ["ply"]:
                raise ValueError(f"{where} expected 'ply', found {raw.strip()!r}")
        elif key == "end_header":
            if len(parts) != 1:
                raise ValueError(f"{where} expected 'end_header', found {raw.strip()!r}")
            break
        elif not parts or key in ("comment", "obj_info"):
            pass
        elif key == "format":
            if len(parts) != 3 or parts[1] not in _FORMATS:
                raise ValueError(f"{where} expected 'format ascii|binary_little_endian|binary_big_endian 1.0', found {raw.strip()!r}")
            if fmt is not None:
                raise ValueError(f"{where} expected one 'format' line, found a second one")
            fmt = _FORMATS[parts[1]]
        elif key == "element":
            if len(parts) != 3 or not parts[2].isdigit() or not parts[2].isascii() or len(parts[2]) > 19:
                raise ValueError(f"{where} expected 'element <name> <count >= 0>', found {raw.strip()!r}")
            elements.append(_Element(parts[1], int(parts[2]), n, []))
        elif key == "property":
            if not elements:
                raise ValueError(f"{where} expected 'element' before 'property', found none")
            if len(parts) == 3 and parts[1] in _TYPES:
                elements[-1].props.append(_Prop(parts[2], _TYPES[parts[1]]))
            elif len(parts) == 5 and parts[1] == "list" and parts[2] in _TYPES and parts[3] in _TYPES:
                if _TYPES[parts[2]][0] not in "iu":
                    raise ValueError(f"{where} expected an integer list count type, found {parts[2]!r}")
                elements[-1].props.append(_Prop(parts[4], _TYPES[parts[3]], _TYPES[parts[2]]))
            else:
                raise ValueError(f"{where} expected 'property <type> <name>' or 'property list <type> <type> <name>', found {raw.strip()!r}")
        else:
            raise ValueError(f"{where} expected a header keyword (format, element, property, comment, end_header), found {key!r}")
        if nl < 0:
            raise ValueError(f"{p}: expected 'end_header' in the PLY header, found end of file after line {n}")
    if fmt is None:
        raise ValueError(f"{p}: expected a 'format' line in the PLY header, found none")
    return fmt, elements, pos, n


def _wanted(el: _Element) -> bool:
    return el.name in ("vertex", "face")


# ----------------------------------------------------------------------------- binary
def _read_binary_element(p, data: bytes, off: int, el: _Element, bo: str) -> tuple[dict, int]:
    """Read one binary element. Returns ``{prop name: array}`` (lists as ``(counts, flat items)``) and the new offset."""
    n = el.count
    left = len(data) - off
    scal = lambda code: np.dtype(bo + code)  # noqa: E731
    min_size = sum(np.dtype(q.count_dtype if q.count_dtype else q.dtype).itemsize for q in el.props)
    if n * min_size > left:
        raise ValueError(
            f"{p}: element '{el.name}': header declares {n} elements of at least {min_size} bytes, found only {left} bytes left"
        )
    has_list = any(q.count_dtype for q in el.props)
    if not has_list:
        size = min_size
        if not _wanted(el) or n == 0 or size == 0:
            return {q.name: np.zeros(0, scal(q.dtype)) for q in el.props}, off + n * size
        dt = np.dtype([(f"p{i}", scal(q.dtype)) for i, q in enumerate(el.props)])
        rec = np.frombuffer(data, dt, count=n, offset=off)
        return {q.name: rec[f"p{i}"] for i, q in enumerate(el.props)}, off + n * size
    if n == 0:
        return {q.name: (np.zeros(0, np.int64), np.zeros(0, scal(q.dtype))) if q.count_dtype else np.zeros(0, scal(q.dtype))
                for q in el.props}, off

    # Lengths of the lists in the first record.
    first: list[int] = []
    o = off
    for q in el.props:
        if q.count_dtype:
            if o + np.dtype(q.count_dtype).itemsize > len(data):
                raise ValueError(f"{p}: element '{el.name}' (#0): record runs past the end of the file")
            c = int(np.frombuffer(data, scal(q.count_dtype), count=1, offset=o)[0])
            if c < 0:
                raise ValueError(f"{p}: element '{el.name}' (#0): list '{q.name}' has negative length {c}")
            first.append(c)
            o += np.dtype(q.count_dtype).itemsize + c * np.dtype(q.dtype).itemsize
            if o > len(data):
                raise ValueError(f"{p}: element '{el.name}' (#0): list '{q.name}' of length {c} runs past the end of the file")
        else:
            o += np.dtype(q.dtype).itemsize
    rec_size = o - off
    if n * rec_size <= left:
        fields = []
        k = 0
        for i, q in enumerate(el.props):
            if q.count_dtype:
                fields += [(f"c{i}", scal(q.count_dtype)), (f"p{i}", scal(q.dtype), (first[k],))]
                k += 1
            else:
                fields.append((f"p{i}", scal(q.dtype)))
        rec = np.frombuffer(data, np.dtype(fields), count=n, offset=off)
        k = 0
        uniform = True
        for i, q in enumerate(el.props):
            if q.count_dtype:
                uniform = uniform and bool((rec[f"c{i}"] == first[k]).all())
                k += 1
        if uniform:
            out = {}
            k = 0
            for i, q in enumerate(el.props):
                if q.count_dtype:
                    out[q.name] = (np.full(n, first[k], np.int64), rec[f"p{i}"].reshape(-1))
                    k += 1
                else:
                    out[q.name] = rec[f"p{i}"]
            return out, off + n * rec_size
    return _walk_binary_element(p, data, off, el, bo)


def _walk_binary_element(p, data: bytes, off: int, el: _Element, bo: str) -> tuple[dict, int]:
    """Sequential walk for list elements whose lists differ in length.

    For ``vertex`` / ``face`` it records where each scalar run and each list
    starts, then gathers the values with numpy; other elements are only skipped.
    """
    n = el.count
    keep = _wanted(el)
    # plan entries: ("run", size, run id, [(prop index, offset in run)]) or ("list", prop index, struct, sizes)
    plan: list[tuple] = []
    for i, q in enumerate(el.props):
        if q.count_dtype:
            plan.append(("list", i, struct.Struct(bo + _STRUCT[q.count_dtype]), np.dtype(q.count_dtype).itemsize,
                         np.dtype(q.dtype).itemsize))
        else:
            size = np.dtype(q.dtype).itemsize
            if plan and plan[-1][0] == "run":
                _, run_size, rid, members = plan[-1]
                plan[-1] = ("run", run_size + size, rid, members + [(i, run_size)])
            else:
                plan.append(("run", size, len(plan), [(i, 0)]))
    starts = {k: np.empty(n, np.int64) for k in range(len(plan))} if keep else {}
    counts = {k: np.empty(n, np.int64) for k, st in enumerate(plan) if keep and st[0] == "list"}
    end = len(data)
    for r in range(n):
        for k, step in enumerate(plan):
            if step[0] == "run":
                if keep:
                    starts[k][r] = off
                off += step[1]
                continue
            _, i, st, csize, isize = step
            if off + csize > end:
                raise ValueError(f"{p}: element '{el.name}' (#{r}): record runs past the end of the file")
            c = st.unpack_from(data, off)[0]
            off += csize
            if c < 0:
                raise ValueError(f"{p}: element '{el.name}' (#{r}): list '{el.props[i].name}' has negative length {c}")
            if keep:
                starts[k][r] = off
                counts[k][r] = c
            off += c * isize
        if off > end:
            raise ValueError(f"{p}: element '{el.name}' (#{r}): record runs past the end of the file")
    out: dict = {}
    if not keep:
        return out, off
    buf = np.frombuffer(data, np.uint8)

    def gather(pos: np.ndarray, code: str) -> np.ndarray:
        size = np.dtype(code).itemsize
        return buf[pos[:, None] + np.arange(size)].reshape(-1).view(np.dtype(bo + code))

    for k, step in enumerate(plan):
        if step[0] == "run":
            for i, rel in step[3]:
                out[el.props[i].name] = gather(starts[k] + rel, el.props[i].dtype)
        else:
            q = el.props[step[1]]
            cnt = counts[k]
            total = int(cnt.sum())
            first = np.cumsum(cnt) - cnt
            pos = np.repeat(starts[k], cnt) + (np.arange(total, dtype=np.int64) - np.repeat(first, cnt)) * step[4]
            out[q.name] = (cnt, gather(pos, q.dtype))
    return out, off


# ----------------------------------------------------------------------------- ascii
def _read_ascii(p, data: bytes, body: int, elements: list[_Element], header_lines: int) -> dict[str, dict]:
    text = data[body:].decode("latin-1")
    lines = text.split("\n")
    rows = [i for i, s in enumerate(lines) if s.strip()]
    pos = 0
    result: dict[str, dict] = {}
    for el in elements:
        n = el.count
        if not el.props:
            continue
        if pos + n > len(rows):
            raise ValueError(
                f"{p}: element '{el.name}': header declares {n} lines, found only {len(rows) - pos} lines left"
            )
        idx = rows[pos: pos + n]
        pos += n
        if el.name in result or not _wanted(el):
            continue
        result[el.name] = _parse_ascii_rows(p, el, [lines[i] for i in idx], [header_lines + i + 1 for i in idx])
    return result


def _ascii_number(tok: str, code: str) -> float:
    v = plain_float(tok)
    if code[0] in "iu" and not v.is_integer():
        raise ValueError(tok)
    return v


def _parse_ascii_rows(p, el: _Element, rows: list[str], line_nums: list[int]) -> dict:
    n = len(rows)
    nprops = len(el.props)
    has_list = any(q.count_dtype for q in el.props)
    if n == 0:
        return {q.name: (np.zeros(0, np.int64), np.zeros(0)) if q.count_dtype else np.zeros(0) for q in el.props}
    toks = [r.split() for r in rows]
    plain = is_plain_number_text("".join(rows))  # else the careful parse names the bad token
    if plain and not has_list:
        lens = np.fromiter(map(len, toks), np.int64, count=n)
        if (lens == nprops).all():
            try:
                vals = np.array([float(t) for row in toks for t in row], dtype=np.float64).reshape(n, nprops)
                return {q.name: vals[:, i] for i, q in enumerate(el.props)}
            except ValueError:
                pass  # fall through to the line-by-line parse for the message
    elif plain and nprops == 1:
        # A single list per line (the usual face element): uniform lengths parse at once.
        lens = np.fromiter(map(len, toks), np.int64, count=n)
        if (lens == lens[0]).all() and lens[0] >= 1:
            try:
                vals = np.array([float(t) for row in toks for t in row], dtype=np.float64).reshape(n, int(lens[0]))
            except ValueError:
                vals = None
            if vals is not None and (vals[:, 0] == lens[0] - 1).all():
                q = el.props[0]
                items = vals[:, 1:].reshape(-1)
                if q.dtype[0] in "iu" and not (items == np.floor(items)).all():
                    vals = None
                if vals is not None:
                    return {q.name: (np.full(n, int(lens[0]) - 1, np.int64), items)}
    # Careful line-by-line parse.
    scalars = {q.name: np.empty(n) for q in el.props if not q.count_dtype}
    lists = {q.name: ([], []) for q in el.props if q.count_dtype}
    for r, (row, ln) in enumerate(zip(toks, line_nums)):
        k = 0
        for q in el.props:
            if k >= len(row):
                raise ValueError(f"{p}: line {ln}: expected a value for property '{q.name}' of element '{el.name}', found end of line")
            if q.count_dtype:
                t = row[k]
                if not (t.isdigit() and t.isascii()):
                    raise ValueError(f"{p}: line {ln}: expected a list length for property '{q.name}', found {t!r}")
                c = int(t)
                if k + 1 + c > len(row):
                    raise ValueError(f"{p}: line {ln}: expected {c} values in list '{q.name}', found {len(row) - k - 1}")
                for x in row[k + 1: k + 1 + c]:
                    try:
                        lists[q.name][1].append(_ascii_number(x, q.dtype))
                    except ValueError:
                        raise ValueError(f"{p}: line {ln}: expected {'integers' if q.dtype[0] in 'iu' else 'numbers'} "
                                         f"in list '{q.name}', found {x!r}") from None
                lists[q.name][0].append(c)
                k += 1 + c
            else:
                try:
                    scalars[q.name][r] = _ascii_number(row[k], q.dtype)
                except ValueError:
                    raise ValueError(f"{p}: line {ln}: expected a number for property '{q.name}', found {row[k]!r}") from None
                k += 1
        if k != len(row):
            raise ValueError(f"{p}: line {ln}: expected {k} values for element '{el.name}', found {len(row)}")
    out: dict = dict(scalars)
    for name, (cnt, items) in lists.items():
        out[name] = (np.asarray(cnt, np.int64), np.asarray(items, np.float64))
    return out


# ----------------------------------------------------------------------------- assembling
def _color_scale(code: str) -> float:
    return {"u1": 255.0, "i1": 127.0, "u2": 65535.0, "i2": 32767.0, "u4": 4294967295.0, "i4": 2147483647.0}.get(code, 1.0)


def load_ply(path) -> PlyData:
    """Read a PLY file (ascii or binary, either endianness).

    Returns:
        ``PlyData`` with ``verts (V, 3)`` and optional ``faces (F, 3)``,
        ``normals (V, 3)``, ``colors (V, 3|4)`` in [0, 1], ``verts_uvs (V, 2)``.
    Raises:
        FileNotFoundError: missing file.
        ValueError: malformed header / body (naming the line for ascii, the
            element for binary), out-of-range face indices, non-finite vertices.
    """
    p, data = read_bytes(path)
    bo, elements, body, header_lines = _parse_header(p, data)
    if bo == "":
        found = _read_ascii(p, data, body, elements, header_lines)
    else:
        found = {}
        off = body
        for el in elements:
            vals, off = _read_binary_element(p, data, off, el, bo)
            if _wanted(el) and el.name not in found:
                found[el.name] = vals
    vel = next((e for e in elements if e.name == "vertex"), None)
    if vel is None:
        raise ValueError(f"{p}: expected an 'element vertex' in the header, found elements {[e.name for e in elements]}")
    types = {q.name: q for q in vel.props}
    vd = found.get("vertex", {})
    for c in "xyz":
        if c not in types or types[c].count_dtype:
            raise ValueError(f"{p}: element 'vertex': expected scalar properties x, y, z, found {list(types)}")

    def cols(names):
        if all(n in types and not types[n].count_dtype for n in names):
            return np.stack([np.asarray(vd[n], np.float64) for n in names], 1) if vel.count else np.zeros((0, len(names)))
        return None

    def finite(what: str, a):
        # float32 is what we return: values beyond its range count as infinite.
        if a is None:
            return a
        with np.errstate(over="ignore"):
            ok = np.isfinite(a.astype(np.float32)).all(1)
        if not ok.all():
            i = int(np.argmin(ok))
            raise ValueError(f"{p}: element 'vertex' (#{i}): expected finite {what}, found {a[i].tolist()}")
        return a

    verts = finite("coordinates", cols("xyz"))
    normals = finite("normals", cols(("nx", "ny", "nz")))
    colors = None
    for names in _COLOR_NAMES:
        rgb = cols(names[:3])
        if rgb is not None:
            alpha = cols(names[3:])
            colors = rgb if alpha is None else np.concatenate([rgb, alpha], 1)
            scales = [_color_scale(types[n].dtype) for n in names[: colors.shape[1]]]
            colors = finite("colors", colors / np.asarray(scales))
            bad = ((colors < 0) | (colors > 1)).any(1)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"{p}: element 'vertex' (#{i}): expected colours in [0, 1] "
                                 f"(integers in [0, type maximum]), found {colors[i].tolist()}")
            break
    uvs = None
    for names in _UV_NAMES:
        uvs = finite("texture coordinates", cols(names))
        if uvs is not None:
            break

    faces = None
    fel = next((e for e in elements if e.name == "face"), None)
    if fel is not None:
        fprop = next((q for q in fel.props if q.name in _FACE_LISTS), None)
        if fprop is None or not fprop.count_dtype:
            raise ValueError(f"{p}: element 'face': expected a list property vertex_indices or vertex_index, "
                             f"found {[q.name for q in fel.props]}")
        counts, items = found["face"][fprop.name]
        counts = np.asarray(counts, np.int64)
        if (counts < 3).any():
            i = int(np.argmax(counts < 3))
            raise ValueError(f"{p}: element 'face' (#{i}): expected at least 3 vertex indices, found {int(counts[i])}")
        items = np.asarray(items)
        if items.dtype.kind == "f" and items.size and not (items == np.floor(items)).all():
            j = int(np.argmin(items == np.floor(items)))
            i = int(np.searchsorted(np.cumsum(counts), j, side="right"))
            raise ValueError(f"{p}: element 'face' (#{i}): expected integer vertex indices, found {items[j]}")
        nv = len(verts)
        if items.size and (items.min() < 0 or items.max() >= nv):
            bad = (items < 0) | (items >= nv)
            j = int(np.argmax(bad))
            i = int(np.searchsorted(np.cumsum(counts), j, side="right"))
            raise ValueError(f"{p}: element 'face' (#{i}): expected vertex indices in [0, {nv - 1}], found {items[j]}")
        faces = items.astype(np.int64)[fan_triangles(counts)] if counts.size else np.zeros((0, 3), np.int64)

    f32 = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    return PlyData(
        verts=f32(verts),
        faces=None if faces is None else torch.from_numpy(np.ascontiguousarray(faces.reshape(-1, 3))),
        normals=f32(normals),
        colors=f32(colors),
        verts_uvs=f32(uvs),
    )


# ----------------------------------------------------------------------------- writer
def save_ply(path, verts, faces=None, *, normals=None, colors=None, ascii: bool = False, big_endian: bool = False) -> None:
    """Write a PLY file.

    Args:
        verts: ``(V, 3)`` float (written as float32).
        faces: ``(F, K)`` int (``K >= 3``; written as ``list uchar int vertex_indices``) or ``None``.
        normals: ``(V, 3)`` float or ``None``.
        colors: ``(V, 3|4)`` float in [0, 1] (rounded to uchar) or uint8, or ``None``.
        ascii: write ``format ascii`` instead of binary.
        big_endian: binary byte order (ignored for ascii).
    """
    p = as_path(path)
    v = check_array("verts", to_numpy("verts", verts), 3).astype(np.float32)
    check_finite_array("verts", v)
    nv = len(v)
    f = None
    if faces is not None:
        f = check_array("faces", to_numpy("faces", faces), None, integer=True)
        if f.shape[1] < 3 or f.shape[1] > 255:
            raise ValueError(f"faces: expected shape (F, K) with 3 <= K <= 255, found shape {tuple(f.shape)}")
        if f.size and (f.min() < 0 or f.max() >= nv):
            raise ValueError(f"faces: expected indices in [0, {nv - 1}], found range [{f.min()}, {f.max()}]")
        if nv > np.iinfo(np.int32).max:
            raise ValueError(f"verts: expected fewer than 2**31 vertices for int32 face indices, found {nv}")
    n = None
    if normals is not None:
        n = check_array("normals", to_numpy("normals", normals), 3, rows=nv).astype(np.float32)
        check_finite_array("normals", n)
    c = None
    if colors is not None:
        c = check_array("colors", to_numpy("colors", colors), (3, 4), rows=nv)
        if c.dtype != np.uint8:
            if not np.issubdtype(c.dtype, np.floating):
                raise ValueError(f"colors: expected float in [0, 1] or uint8, found dtype {c.dtype}")
            check_finite_array("colors", c)
            c = np.round(np.clip(c.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)

    bo = ">" if big_endian else "<"
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if n is not None:
        fields += [("nx", "f4"), ("ny", "f4"), ("nz", "f4")]
    if c is not None:
        fields += [(k, "u1") for k in ("red", "green", "blue", "alpha")[: c.shape[1]]]
    fmt = "ascii" if ascii else ("binary_big_endian" if big_endian else "binary_little_endian")
    head = ["ply", f"format {fmt} 1.0", "comment written by unrender", f"element vertex {nv}"]
    head += [f"property {'float' if t == 'f4' else 'uchar'} {k}" for k, t in fields]
    if f is not None:
        head += [f"element face {len(f)}", "property list uchar int vertex_indices"]
    head.append("end_header")
    header = ("\n".join(head) + "\n").encode("ascii")

    if ascii:
        parts = [v.astype(np.float64)]
        if n is not None:
            parts.append(n.astype(np.float64))
        vfmt = " ".join(["%.9g"] * (3 + (3 if n is not None else 0)))
        if c is not None:
            parts.append(c.astype(np.float64))
            vfmt += " " + " ".join(["%d"] * c.shape[1])
        table = np.concatenate(parts, 1)
        body = ((vfmt + "\n") * nv) % tuple(table.ravel().tolist()) if nv else ""
        if f is not None and len(f):
            k = f.shape[1]
            body += ((f"{k} " + " ".join(["%d"] * k) + "\n") * len(f)) % tuple(f.astype(np.int64).ravel().tolist())
        p.write_bytes(header + body.encode("ascii"))
        return
    rec = np.empty(nv, np.dtype([(k, bo + t) for k, t in fields]))
    rec["x"], rec["y"], rec["z"] = v[:, 0], v[:, 1], v[:, 2]
    if n is not None:
        rec["nx"], rec["ny"], rec["nz"] = n[:, 0], n[:, 1], n[:, 2]
    if c is not None:
        for i, k in enumerate(("red", "green", "blue", "alpha")[: c.shape[1]]):
            rec[k] = c[:, i]
    chunks = [header, rec.tobytes()]
    if f is not None:
        k = f.shape[1]
        frec = np.empty(len(f), np.dtype([("n", "u1"), ("i", bo + "i4", (k,))]))
        frec["n"] = k
        frec["i"] = f
        chunks.append(frec.tobytes())
    p.write_bytes(b"".join(chunks))

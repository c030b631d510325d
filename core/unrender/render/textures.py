"""Surface colours for rendering: per-vertex colours, UV-mapped images and per-face atlases.

Textures ride on the mesh (``Meshes(verts, faces, textures=...)``, as in
PyTorch3D) or are passed to the renderer or the shader
(``renderer(meshes, textures=TexturesVertex(colors))``), which then wins. The
classes follow PyTorch3D's sampling numerics:

* ``TexturesVertex``: vertex features interpolated with the barycentric
  coordinates of each pixel;
* ``TexturesUV``: vertex UVs interpolated likewise, then the map sampled as
  ``torch.nn.functional.grid_sample`` would with the grid
  ``(2u - 1, 1 - 2v)`` (``v = 0`` is the bottom row of the image), honouring
  ``align_corners``, ``padding_mode`` (border / zeros / reflection) and
  ``sampling_mode`` (bilinear / nearest);
* ``TexturesAtlas``: an ``R x R`` texel grid per face, the texel picked from
  the barycentric coordinates (nearest, as SoftRas and PyTorch3D).

All share :class:`TexturesBase`: ``sample_faces`` (texels at points given by
face and barycentric coordinates, what the shaders and
``sample_points_from_meshes`` use), ``sample_textures`` (dense, per fragment
slot), ``join_batch`` and ``join_scene`` (what ``join_meshes_as_batch`` /
``join_meshes_as_scene`` call), and the ``TensorProperties`` batch methods.

Only covered pixels are sampled. Where no face covers a slot the dense
``sample_textures`` output is 0 (PyTorch3D's UV textures return the colour at
uv ``(0, 0)`` there; no blend ever uses those slots).
"""

from __future__ import annotations

import copy

import torch

from .._validate import check_finite, check_tensor
from ..tensor_properties import TensorProperties
from .blending import Slots, select_slots

__all__ = ["TexturesBase", "TexturesVertex", "TexturesUV", "TexturesAtlas", "interpolate_face_attributes", "interpolate_packed", "gather_interpolate", "as_textures"]


def interpolate_face_attributes(pix_to_face: torch.Tensor, bary_coords: torch.Tensor, face_attributes: torch.Tensor) -> torch.Tensor:
    """Barycentric interpolation of per-face-corner attributes.

    Args:
        pix_to_face: ``(N, H, W, K)`` int64 packed face per slot, ``-1`` where none.
        bary_coords: ``(N, H, W, K, 3)``.
        face_attributes: ``(F, 3, D)`` value at each face corner.

    Returns:
        ``(N, H, W, K, D)``; zero where ``pix_to_face < 0``. Only covered slots are
        computed.
    """
    check_tensor("face_attributes", face_attributes, [None, 3, None])
    check_tensor("bary_coords", bary_coords, [None, None, None, None, 3])
    if tuple(pix_to_face.shape) != tuple(bary_coords.shape[:4]):
        raise ValueError(
            f"pix_to_face: expected shape {tuple(bary_coords.shape[:4])} (that of bary_coords), found {tuple(pix_to_face.shape)}"
        )
    flat = pix_to_face.reshape(-1)
    sel = torch.nonzero(flat >= 0).squeeze(1)
    vals = interpolate_packed(face_attributes.index_select(0, flat[sel]), bary_coords.reshape(-1, 3)[sel])
    D = face_attributes.shape[-1]
    out = torch.zeros(flat.shape[0], D, dtype=vals.dtype, device=vals.device).index_put((sel,), vals)
    return out.reshape(*pix_to_face.shape, D)


def interpolate_packed(corner_values: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
    """``(P, 3, D)`` corner values and ``(P, 3)`` barycentrics -> ``(P, D)``."""
    # Written out: a reduction over the size-3 middle axis is twice as slow.
    return corner_values[:, 0] * bary[:, 0:1] + corner_values[:, 1] * bary[:, 1:2] + corner_values[:, 2] * bary[:, 2:3]


def gather_interpolate(values: torch.Tensor, corners: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
    """Per-vertex ``values`` ``(V, D)`` at faces ``corners`` ``(P, 3)`` with ``bary`` ``(P, 3)`` -> ``(P, D)``."""
    g = values.index_select(0, corners.reshape(-1)).view(corners.shape[0], 3, values.shape[-1])
    return interpolate_packed(g, bary)


def _as_list(name: str, x, inner_dims: int) -> list[torch.Tensor]:
    """A tensor with a batch dimension, one without, or a list -> list of tensors."""
    if isinstance(x, torch.Tensor):
        if x.dim() == inner_dims:
            return [x]
        if x.dim() == inner_dims + 1:
            return list(x.unbind(0))
        raise ValueError(f"{name}: expected a {inner_dims}-d tensor, a batched {inner_dims + 1}-d tensor or a list, found shape {tuple(x.shape)}")
    if isinstance(x, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in x) and len(x) > 0:
        return list(x)
    raise ValueError(f"{name}: expected a tensor or a non-empty list of tensors, found {type(x).__name__}")


class TexturesBase(TensorProperties):
    """What every texture class shares. A subclass defines ``sample_faces(meshes, face (P,), bary (P, 3),
    batch (P,)) -> (P, C)``, the texels at points given by packed face, barycentric coordinates and
    mesh (or image), and ``join_scene()``, the batch as the texture of one mesh."""

    _NAME = "textures"
    channels: int

    def sample_packed(self, meshes, slots: Slots) -> torch.Tensor:
        """``(P, C)`` texels at the covered ``slots``."""
        return self.sample_faces(meshes, slots.face, slots.bary, slots.batch)

    def sample_textures(self, fragments, meshes) -> torch.Tensor:
        """``(N, H, W, K, C)`` texels per slot, 0 where no face."""
        return _dense(self.sample_packed(meshes, select_slots(fragments)), fragments, self.channels)

    def join_batch(self, textures: list) -> "TexturesBase":
        """This batch followed by each of ``textures`` (same class) as one batch, as PyTorch3D's."""
        for i, t in enumerate(textures):
            if type(t) is not type(self):
                raise ValueError(f"textures[{i}]: expected {type(self).__name__} to join with, found {type(t).__name__}")
        out = copy.copy(self)
        for k in self._FIELDS:
            v = getattr(self, k)
            setattr(out, k, list(v) + [x for t in textures for x in getattr(t, k)] if isinstance(v, list)
                    else torch.cat([v, *(getattr(t, k).to(v) for t in textures)], 0))
        out._N = len(self) + sum(len(t) for t in textures)
        return out


class TexturesVertex(TexturesBase):
    """Per-vertex features (e.g. RGB colours).

    Args:
        verts_features: list of ``(V_i, C)``, a ``(N, V, C)`` tensor (mesh ``i``
            uses its first ``V_i`` rows) or one ``(V, C)`` tensor (shared by
            every mesh of the same size).
    """

    _FIELDS = ("_feats",)

    def __init__(self, verts_features) -> None:
        feats = _as_list("verts_features", verts_features, 2)
        C = feats[0].shape[-1]
        for i, f in enumerate(feats):
            check_tensor(f"verts_features[{i}]", f, [None, C], floating=True)
            check_finite(f"verts_features[{i}]", f)
        super().__init__(_feats=feats)
        self.channels = int(C)

    def __repr__(self) -> str:
        return f"TexturesVertex(N={len(self)}, C={self.channels})"

    def verts_features_list(self) -> list[torch.Tensor]:
        return list(self._feats)

    def verts_features_packed(self, meshes) -> torch.Tensor:
        """``(sum V_i, C)`` features aligned with ``meshes.verts_packed()`` (checked)."""
        self.check_batch(len(meshes), "verts_features", per="mesh")
        out = []
        for i, nv in enumerate(meshes.num_verts_per_mesh().tolist()):
            f = self._feats[i if len(self._feats) > 1 else 0]
            if f.shape[0] < nv or (len(self._feats) == 1 and f.shape[0] != nv):
                raise ValueError(f"verts_features: expected {nv} rows for mesh {i} (its vertex count), found {f.shape[0]}")
            out.append(f[:nv])
        return out[0] if len(out) == 1 else torch.cat(out, 0)

    def faces_verts_features(self, meshes) -> torch.Tensor:
        """``(F, 3, C)`` features of every packed face corner."""
        return self.verts_features_packed(meshes)[meshes.faces_packed()]

    def sample_faces(self, meshes, face: torch.Tensor, bary: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """``(P, C)`` features interpolated at ``bary`` in the packed faces ``face``."""
        feats = self.verts_features_packed(meshes)
        return gather_interpolate(feats, meshes.faces_packed()[face], bary.to(feats.dtype))

    def join_scene(self) -> "TexturesVertex":
        """One item: the features of every mesh, in order."""
        return TexturesVertex([torch.cat(self._feats, 0)])


def _dense(vals: torch.Tensor, fragments, C: int) -> torch.Tensor:
    slots = select_slots(fragments)
    N, H, W, K = slots.shape
    out = torch.zeros(N * H * W * K, C, dtype=vals.dtype, device=vals.device).index_put((slots.index,), vals)
    return out.reshape(N, H, W, K, C)


_PADDING = ("border", "zeros", "reflection")
_SAMPLING = ("bilinear", "nearest")


def _reflect(x: torch.Tensor, twice_low: float, twice_high: float) -> torch.Tensor:
    """Reflect coordinates into ``[low, high]`` (grid_sample's reflection rule)."""
    if twice_low == twice_high:
        return torch.zeros_like(x)
    lo = twice_low / 2
    span = (twice_high - twice_low) / 2
    x = (x - lo).abs()
    extra = torch.fmod(x, span)
    flips = torch.floor(x / span)
    return torch.where(flips % 2 == 0, extra + lo, span - extra + lo)


class TexturesUV(TexturesBase):
    """Image textures addressed by per-corner UV coordinates.

    Args:
        maps: ``(N, H, W, C)``, one ``(H, W, C)`` or a list of ``(H_i, W_i, C)``
            images (sizes may differ per mesh, no resampling needed).
        faces_uvs: ``(N, F, 3)``, ``(F, 3)`` or a list of ``(F_i, 3)`` int64
            indices into ``verts_uvs`` per face corner.
        verts_uvs: ``(N, T, 2)``, ``(T, 2)`` or a list of ``(T_i, 2)`` UVs in
            [0, 1]; ``u`` runs left to right, ``v`` bottom to top.
        padding_mode: ``"border"``, ``"zeros"`` or ``"reflection"`` (outside [0, 1]).
        align_corners: UV 0 and 1 are the centres (True) or outer edges
            (False) of the edge texels.
        sampling_mode: ``"bilinear"`` or ``"nearest"``.
    """

    _FIELDS = ("_maps", "_faces_uvs", "_verts_uvs")

    def __init__(
        self,
        maps,
        faces_uvs,
        verts_uvs,
        *,
        padding_mode: str = "border",
        align_corners: bool = True,
        sampling_mode: str = "bilinear",
    ) -> None:
        if padding_mode not in _PADDING:
            raise ValueError(f"padding_mode: expected one of {_PADDING}, found {padding_mode!r}")
        if sampling_mode not in _SAMPLING:
            raise ValueError(f"sampling_mode: expected one of {_SAMPLING}, found {sampling_mode!r}")
        maps_l = _as_list("maps", maps, 3)
        fuv_l = _as_list("faces_uvs", faces_uvs, 2)
        vuv_l = _as_list("verts_uvs", verts_uvs, 2)
        n = len(maps_l)
        for name, lst in (("faces_uvs", fuv_l), ("verts_uvs", vuv_l)):
            if len(lst) != n:
                raise ValueError(f"{name}: expected {n} entries (one per map), found {len(lst)}")
        C = maps_l[0].shape[-1]
        for i, (m, fu, vu) in enumerate(zip(maps_l, fuv_l, vuv_l)):
            check_tensor(f"maps[{i}]", m, [None, None, C], floating=True)
            if m.shape[0] == 0 or m.shape[1] == 0:
                raise ValueError(f"maps[{i}]: expected a non-empty (H, W, C) image, found shape {tuple(m.shape)}")
            check_finite(f"maps[{i}]", m)
            check_tensor(f"verts_uvs[{i}]", vu, [None, 2], floating=True)
            check_finite(f"verts_uvs[{i}]", vu)
            check_tensor(f"faces_uvs[{i}]", fu, [None, 3], integer=True)
            if fu.numel() and (int(fu.min()) < 0 or int(fu.max()) >= vu.shape[0]):
                raise ValueError(
                    f"faces_uvs[{i}]: expected indices in [0, {vu.shape[0] - 1}] (rows of verts_uvs[{i}]), "
                    f"found range [{int(fu.min())}, {int(fu.max())}]"
                )
        super().__init__(_maps=maps_l, _faces_uvs=[f.to(torch.int64) for f in fuv_l], _verts_uvs=vuv_l)
        self.padding_mode = padding_mode
        self.align_corners = bool(align_corners)
        self.sampling_mode = sampling_mode
        self.channels = int(C)

    @classmethod
    def from_obj(cls, obj, *, material: str | None = None, **kwargs) -> "TexturesUV":
        """Texture of a loaded OBJ (``unrender.io.load_obj``): its UVs and the
        ``map_Kd`` image of ``material`` (default: the first with an image)."""
        if obj.verts_uvs is None or obj.faces_uvs is None:
            raise ValueError("obj: expected an ObjMesh with texture coordinates (vt lines), found none")
        names = [material] if material is not None else list(obj.material_names)
        img = None
        for name in names:
            mat = obj.materials.get(name)
            if mat is not None and mat.texture_image is not None:
                img = mat.texture_image
                break
        if img is None:
            raise ValueError(f"obj: expected a material with a loaded texture image, found none among {names}")
        return cls(img.float(), obj.faces_uvs.clamp(min=0), obj.verts_uvs, **kwargs)

    def __repr__(self) -> str:
        return f"TexturesUV(N={len(self)}, C={self.channels}, sizes={[tuple(m.shape[:2]) for m in self._maps]})"

    def maps_list(self) -> list[torch.Tensor]:
        return list(self._maps)

    def faces_uvs_list(self) -> list[torch.Tensor]:
        return list(self._faces_uvs)

    def verts_uvs_list(self) -> list[torch.Tensor]:
        return list(self._verts_uvs)

    # ---------------------------------------------------------------- uvs
    def faces_verts_uvs(self, meshes) -> torch.Tensor:
        """``(F, 3, 2)`` UV of every packed face corner (checked against ``meshes``)."""
        self.check_batch(len(meshes), "faces_uvs", per="mesh")
        out = []
        for i, nf in enumerate(meshes.num_faces_per_mesh().tolist()):
            j = i if len(self) > 1 else 0
            fu = self._faces_uvs[j]
            if fu.shape[0] < nf or (len(self) == 1 and len(meshes) == 1 and fu.shape[0] != nf):
                raise ValueError(f"faces_uvs: expected {nf} rows for mesh {i} (its face count), found {fu.shape[0]}")
            out.append(self._verts_uvs[j][fu[:nf]])
        return out[0] if len(out) == 1 else torch.cat(out, 0)

    # ----------------------------------------------------------- sampling
    def sample_uv(self, uv: torch.Tensor, map_index: torch.Tensor | None = None) -> torch.Tensor:
        """Sample the maps at ``uv`` ``(P, 2)``, point ``p`` in map ``map_index[p]``.

        Returns ``(P, C)``; differentiable in the maps and in ``uv``.
        """
        maps = self._maps
        dev = uv.device
        if map_index is None or len(maps) == 1:
            map_index = None
            flat = maps[0].reshape(-1, self.channels)
            Hs = torch.tensor(maps[0].shape[0], device=dev)
            Ws = torch.tensor(maps[0].shape[1], device=dev)
            base = torch.tensor(0, device=dev)
        else:
            sizes = torch.tensor([[m.shape[0], m.shape[1]] for m in maps], device=dev)
            if all(m.shape == maps[0].shape for m in maps):
                flat = torch.stack(maps, 0).reshape(-1, self.channels)
            else:
                flat = torch.cat([m.reshape(-1, self.channels) for m in maps], 0)
            offsets = torch.cumsum(sizes[:, 0] * sizes[:, 1], 0) - sizes[:, 0] * sizes[:, 1]
            Hs, Ws, base = sizes[map_index, 0], sizes[map_index, 1], offsets[map_index]
        flat = flat.to(uv.dtype)
        Hf, Wf = Hs.to(uv.dtype), Ws.to(uv.dtype)
        u, v = uv[:, 0], 1.0 - uv[:, 1]  # image rows run top to bottom
        if self.align_corners:
            ix, iy = u * (Wf - 1), v * (Hf - 1)
        else:
            ix, iy = u * Wf - 0.5, v * Hf - 0.5
        if self.padding_mode == "border":
            ix = torch.minimum(ix.clamp(min=0), Wf - 1)
            iy = torch.minimum(iy.clamp(min=0), Hf - 1)
        elif self.padding_mode == "reflection":
            ix, iy = self._reflect_axis(ix, Wf, Ws), self._reflect_axis(iy, Hf, Hs)

        def tap(x, y):
            inside = (x >= 0) & (x < Ws) & (y >= 0) & (y < Hs)
            k = base + y.clamp(min=0) * Ws + x.clamp(min=0)
            k = torch.where(inside, k, base)
            return flat[k] * inside[:, None].to(flat.dtype)

        if self.sampling_mode == "nearest":
            return tap(torch.round(ix).long(), torch.round(iy).long())
        x0f, y0f = torch.floor(ix), torch.floor(iy)
        x0, y0 = x0f.long(), y0f.long()
        wx1, wy1 = (ix - x0f)[:, None], (iy - y0f)[:, None]
        wx0, wy0 = 1 - wx1, 1 - wy1
        return (
            tap(x0, y0) * (wx0 * wy0)
            + tap(x0 + 1, y0) * (wx1 * wy0)
            + tap(x0, y0 + 1) * (wx0 * wy1)
            + tap(x0 + 1, y0 + 1) * (wx1 * wy1)
        )

    def _reflect_axis(self, x: torch.Tensor, size_f: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
        # Sizes may differ per point: reflect each distinct size separately.
        out = torch.empty_like(x)
        sizes = size.reshape(-1).unique().tolist() if size.dim() else [int(size)]
        for s in sizes:
            sel = (size == s) if size.dim() else torch.ones_like(x, dtype=torch.bool)
            if self.align_corners:
                r = _reflect(x[sel], 0.0, 2.0 * (s - 1))
            else:
                r = _reflect(x[sel], -1.0, 2.0 * s - 1)
            out[sel] = r.clamp(0, s - 1)
        return out

    def sample_faces(self, meshes, face: torch.Tensor, bary: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """``(P, C)`` texels at ``bary`` in the packed faces ``face`` (map of mesh ``batch``)."""
        fvu = self.faces_verts_uvs(meshes)
        uv = interpolate_packed(fvu[face], bary.to(fvu.dtype))
        return self.sample_uv(uv, batch if len(self) > 1 else None)

    def join_scene(self) -> "TexturesUV":
        """One item: the maps side by side in one image (top-aligned, zero filled below the
        shorter ones) and the UVs moved to address the same texels. Sampling inside each
        map is unchanged; at a map's edge bilinear sampling reaches into its neighbour,
        as with PyTorch3D's packed maps."""
        if len(self) == 1:
            return copy.copy(self)
        H = max(int(m.shape[0]) for m in self._maps)
        W = sum(int(m.shape[1]) for m in self._maps)
        ref = self._maps[0]
        image = ref.new_zeros(H, W, self.channels)
        uvs, faces, x0, t0 = [], [], 0, 0
        for m, fu, vu in zip(self._maps, self._faces_uvs, self._verts_uvs):
            h, w = int(m.shape[0]), int(m.shape[1])
            image = torch.cat([image[:, :x0], torch.cat([m.to(image), image[h:, x0:x0 + w]], 0), image[:, x0 + w:]], 1)
            u, v = vu[:, 0], vu[:, 1]
            if self.align_corners:  # texel x = u (w - 1), row = (1 - v)(h - 1)
                u2 = (x0 + u * (w - 1)) / max(W - 1, 1)
                v2 = 1 - (1 - v) * (h - 1) / max(H - 1, 1)
            else:  # texel x = u w - 1/2, row = (1 - v) h - 1/2
                u2 = (x0 + u * w) / W
                v2 = 1 - (1 - v) * h / H
            uvs.append(torch.stack([u2, v2], 1))
            faces.append(fu + t0)
            x0 += w
            t0 += int(vu.shape[0])
        return TexturesUV(image, torch.cat(faces, 0), torch.cat(uvs, 0), padding_mode=self.padding_mode,
                          align_corners=self.align_corners, sampling_mode=self.sampling_mode)


class TexturesAtlas(TexturesBase):
    """An ``R x R`` grid of texels per face (SoftRas's and PyTorch3D's ``TexturesAtlas``).

    Args:
        atlas: ``(N, F, R, R, C)``, one ``(F, R, R, C)`` or a list of ``(F_i, R, R, C)``
            (the same ``R`` for all). Texel ``[w_y, w_x]`` of a face covers the
            barycentric cell ``w_x <= R b0 < w_x + 1``, ``w_y <= R b1 < w_y + 1``
            (below the cell's diagonal; above it, the cell mirrored through the
            face's centre), as in PyTorch3D: nearest sampling, differentiable in
            the atlas only.
    """

    _FIELDS = ("_atlas",)

    def __init__(self, atlas) -> None:
        lst = _as_list("atlas", atlas, 4)
        R = int(lst[0].shape[1])
        C = int(lst[0].shape[-1])
        for i, a in enumerate(lst):
            check_tensor(f"atlas[{i}]", a, [None, R, R, C], floating=True)
            check_finite(f"atlas[{i}]", a)
        if R < 1:
            raise ValueError(f"atlas: expected a grid of at least 1 x 1 texels per face, found {R} x {R}")
        super().__init__(_atlas=lst)
        self.channels = C
        self.resolution = R

    def __repr__(self) -> str:
        return f"TexturesAtlas(N={len(self)}, R={self.resolution}, C={self.channels})"

    def atlas_list(self) -> list[torch.Tensor]:
        return list(self._atlas)

    def atlas_packed(self, meshes=None) -> torch.Tensor:
        """``(sum F_i, R, R, C)``; with ``meshes``, checked against their face counts."""
        if meshes is not None:
            self.check_batch(len(meshes), "atlas", per="mesh")
            nf = meshes.num_faces_per_mesh().tolist()
            out = []
            for i, n in enumerate(nf):
                a = self._atlas[i if len(self) > 1 else 0]
                if a.shape[0] != n:
                    raise ValueError(f"atlas: expected {n} faces for mesh {i} (its face count), found {a.shape[0]}")
                out.append(a)
            return out[0] if len(out) == 1 else torch.cat(out, 0)
        return self._atlas[0] if len(self) == 1 else torch.cat(self._atlas, 0)

    def atlas_padded(self) -> torch.Tensor:
        """``(N, max F_i, R, R, C)``, zero padded."""
        F = max(int(a.shape[0]) for a in self._atlas)
        return torch.stack([torch.cat([a, a.new_zeros(F - a.shape[0], *a.shape[1:])], 0) for a in self._atlas], 0)

    def sample_faces(self, meshes, face: torch.Tensor, bary: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """``(P, C)`` texel of the atlas cell holding ``bary`` in each packed ``face``."""
        atlas = self.atlas_packed(meshes)
        R = self.resolution
        b01 = bary[:, :2].to(atlas.dtype)
        w = (b01 * R).to(torch.int64).clamp(max=R - 1)
        below = (b01.sum(-1) * R - w.to(atlas.dtype).sum(-1)) <= 1.0
        w = torch.where(below[:, None], w, R - 1 - w)
        return atlas[face, w[:, 1], w[:, 0]]

    def join_scene(self) -> "TexturesAtlas":
        """One item: the faces' atlases of every mesh, in order."""
        return TexturesAtlas([torch.cat(self._atlas, 0)])


def as_textures(textures, name: str = "textures"):
    """``None``, a ``TexturesVertex``/``TexturesUV``/``TexturesAtlas`` or a colour tensor -> textures.

    A ``(V, C)`` / ``(N, V, C)`` tensor or list of ``(V_i, C)`` tensors means
    per-vertex colours.
    """
    if textures is None or isinstance(textures, TexturesBase):
        return textures
    if isinstance(textures, torch.Tensor) or isinstance(textures, (list, tuple)):
        try:
            return TexturesVertex(textures)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if hasattr(textures, "sample_packed"):
        return textures  # a user-defined texture with the same protocol
    raise ValueError(f"{name}: expected TexturesVertex, TexturesUV, TexturesAtlas or a (V, C) colour tensor, found {type(textures).__name__}")

"""Batched triangle meshes of different sizes.

``Meshes`` follows PyTorch3D's data model so code can move between the two:
three views of the same data,

* list: ``verts_list()[i]`` is ``(V_i, 3)``, ``faces_list()[i]`` is ``(F_i, 3)``
  int64 indices into that mesh's own vertices;
* padded: ``verts_padded()`` is ``(B, max V_i, 3)`` (zero padding),
  ``faces_padded()`` is ``(B, max F_i, 3)`` (``-1`` padding);
* packed: ``verts_packed()`` is ``(sum V_i, 3)``, ``faces_packed()`` is
  ``(sum F_i, 3)`` with indices into the packed vertices.

Geometry (face areas and normals, vertex normals, edges) is computed with the
same formulas as PyTorch3D, so results agree to float precision.

``textures`` (``TexturesVertex``, ``TexturesUV``, ``TexturesAtlas`` from
``unrender.render``, or any object with their batch methods) ride along: the
shaders use them when none are passed, and indexing, ``extend``, ``to``,
``clone``, ``detach``, the vertex updates and the joins carry them.
"""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import torch

from .._validate import check_faces, check_finite, check_positive_int, check_tensor
from .utils import batch_indices, list_to_padded, normalize_to_unit_sphere

__all__ = ["Meshes", "join_meshes_as_batch", "join_meshes_as_scene"]


class Meshes:
    """A batch of ``B`` triangle meshes.

    Args:
        verts: list of ``(V_i, 3)`` float tensors, or a ``(B, V, 3)`` tensor
            (every mesh then has ``V`` vertices, as in PyTorch3D).
        faces: list of ``(F_i, 3)`` integer tensors, or a ``(B, F, 3)`` tensor
            where rows of ``-1`` are padding.
        textures: optional textures of 1 or ``B`` meshes (``mesh.textures``).
    """

    def __init__(self, verts, faces, textures=None) -> None:
        if isinstance(verts, torch.Tensor):
            check_tensor("verts", verts, [None, None, 3], floating=True)
            verts_list = list(verts.unbind(0))
        elif isinstance(verts, (list, tuple)):
            verts_list = list(verts)
        else:
            raise ValueError(f"verts: expected a list of (V, 3) tensors or a (B, V, 3) tensor, found {type(verts).__name__}")
        if isinstance(faces, torch.Tensor):
            check_tensor("faces", faces, [None, None, 3], integer=True)
            faces_list = [f[(f >= 0).all(-1)] if f.numel() else f for f in faces.unbind(0)]
            for i, (f_full, f) in enumerate(zip(faces.unbind(0), faces_list)):
                check_faces(f"faces[{i}]", f_full, int(verts_list[i].shape[0]) if i < len(verts_list) else 0, allow_padding=True)
        elif isinstance(faces, (list, tuple)):
            faces_list = list(faces)
        else:
            raise ValueError(f"faces: expected a list of (F, 3) tensors or a (B, F, 3) tensor, found {type(faces).__name__}")
        if len(verts_list) != len(faces_list):
            raise ValueError(f"faces: expected one face tensor per mesh ({len(verts_list)}), found {len(faces_list)}")
        device = verts_list[0].device if verts_list else torch.device("cpu")
        for i, (v, f) in enumerate(zip(verts_list, faces_list)):
            check_tensor(f"verts[{i}]", v, [None, 3], floating=True)
            check_finite(f"verts[{i}]", v)
            check_tensor(f"faces[{i}]", f, [None, 3], integer=True)
            check_faces(f"faces[{i}]", f, int(v.shape[0]))
            if v.device != device or f.device != v.device:
                raise ValueError(f"verts[{i}]/faces[{i}]: expected every tensor on {device}, found {v.device} and {f.device}")
        self._verts_list = verts_list
        self._faces_list = [f.to(torch.int64) for f in faces_list]
        self.device = device
        if textures is not None:
            if not (hasattr(textures, "sample_faces") or hasattr(textures, "sample_packed")) or not hasattr(textures, "__len__"):
                raise ValueError(f"textures: expected TexturesVertex, TexturesUV or TexturesAtlas, found {type(textures).__name__}")
            if len(textures) not in (1, len(verts_list)):
                raise ValueError(f"textures: expected a batch of 1 or {len(verts_list)} (one per mesh), found {len(textures)}")
        self.textures = textures

    def _with(self, verts_list) -> "Meshes":
        """New meshes with these vertices, the same faces and textures."""
        return Meshes(verts_list, self._faces_list, self.textures)

    def _textures_at(self, index: list[int]):
        """The textures of the meshes at ``index`` (textures shared by the batch stay shared)."""
        if self.textures is None:
            return None
        if len(self.textures) == 1 and len(self) != 1:
            return self.textures
        return self.textures[index]

    # ------------------------------------------------------------------ sizes
    def __len__(self) -> int:
        return len(self._verts_list)

    def __getitem__(self, index) -> "Meshes":
        index = batch_indices(index, len(self))
        return Meshes([self._verts_list[i] for i in index], [self._faces_list[i] for i in index], self._textures_at(index))

    def extend(self, N: int) -> "Meshes":
        """A batch holding each mesh ``N`` times in a row (``len(self) * N`` meshes), textures too,
        as PyTorch3D's ``extend``; the vertices are cloned, so gradients flow to these."""
        check_positive_int("N", N)
        index = [i for i in range(len(self)) for _ in range(N)]
        verts = [self._verts_list[i].clone() for i in index]
        tex = self.textures
        if tex is not None and not (len(tex) == 1 and len(self) != 1):  # shared textures stay shared
            tex = tex.extend(N)
        return Meshes(verts, [self._faces_list[i] for i in index], tex)

    def sample_textures(self, fragments) -> torch.Tensor:
        """``(N, H, W, K, C)`` texels of this mesh's textures at the rasterised ``fragments``."""
        if self.textures is None:
            raise ValueError("meshes.textures: expected textures to sample, found None")
        return self.textures.sample_textures(fragments, self)

    def isempty(self) -> bool:
        """True when the batch holds no mesh or no vertex at all."""
        return len(self) == 0 or int(self.num_verts_per_mesh().sum()) == 0

    def __repr__(self) -> str:
        return f"Meshes(B={len(self)}, verts={self.num_verts_per_mesh().tolist()}, faces={self.num_faces_per_mesh().tolist()})"

    @cached_property
    def _nv(self) -> torch.Tensor:
        return torch.tensor([int(v.shape[0]) for v in self._verts_list], dtype=torch.int64, device=self.device)

    @cached_property
    def _nf(self) -> torch.Tensor:
        return torch.tensor([int(f.shape[0]) for f in self._faces_list], dtype=torch.int64, device=self.device)

    def num_verts_per_mesh(self) -> torch.Tensor:
        """``(B,)`` int64."""
        return self._nv

    def num_faces_per_mesh(self) -> torch.Tensor:
        """``(B,)`` int64."""
        return self._nf

    def mesh_to_verts_packed_first_idx(self) -> torch.Tensor:
        """``(B,)`` int64: index of each mesh's first vertex in the packed view."""
        return torch.cumsum(self._nv, 0) - self._nv

    def mesh_to_faces_packed_first_idx(self) -> torch.Tensor:
        """``(B,)`` int64: index of each mesh's first face in the packed view."""
        return torch.cumsum(self._nf, 0) - self._nf

    def verts_packed_to_mesh_idx(self) -> torch.Tensor:
        """``(sum V_i,)`` int64: which mesh each packed vertex belongs to."""
        return torch.repeat_interleave(torch.arange(len(self), device=self.device), self._nv)

    def faces_packed_to_mesh_idx(self) -> torch.Tensor:
        """``(sum F_i,)`` int64: which mesh each packed face belongs to."""
        return torch.repeat_interleave(torch.arange(len(self), device=self.device), self._nf)

    # ------------------------------------------------------------------ views
    def verts_list(self) -> list[torch.Tensor]:
        return list(self._verts_list)

    def faces_list(self) -> list[torch.Tensor]:
        return list(self._faces_list)

    def verts_packed(self) -> torch.Tensor:
        """``(sum V_i, 3)``."""
        if not self._verts_list:
            return torch.zeros((0, 3), device=self.device)
        if len(self._verts_list) == 1:
            return self._verts_list[0]
        return torch.cat(self._verts_list, 0)

    def faces_packed(self) -> torch.Tensor:
        """``(sum F_i, 3)`` int64, indices into ``verts_packed()``."""
        if not self._faces_list:
            return torch.zeros((0, 3), dtype=torch.int64, device=self.device)
        if len(self._faces_list) == 1:
            return self._faces_list[0]
        offsets = self.mesh_to_verts_packed_first_idx()
        return torch.cat([f + offsets[i] for i, f in enumerate(self._faces_list)], 0)

    def verts_padded(self) -> torch.Tensor:
        """``(B, max V_i, 3)``, zero padded."""
        return list_to_padded(self._verts_list, 0.0)

    def faces_padded(self) -> torch.Tensor:
        """``(B, max F_i, 3)`` int64, ``-1`` padded."""
        return list_to_padded(self._faces_list, -1)

    # --------------------------------------------------------------- geometry
    def _face_cross(self) -> torch.Tensor:
        v, f = self.verts_packed(), self.faces_packed()
        v0, v1, v2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        return torch.cross(v1 - v0, v2 - v0, dim=1)

    def faces_areas_packed(self) -> torch.Tensor:
        """``(sum F_i,)`` triangle areas."""
        return 0.5 * self._face_cross().norm(dim=1)

    def faces_normals_packed(self) -> torch.Tensor:
        """``(sum F_i, 3)`` unit face normals (right-hand rule, v0 -> v1 -> v2)."""
        return torch.nn.functional.normalize(self._face_cross(), dim=1, eps=1e-6)

    def faces_normals_list(self) -> list[torch.Tensor]:
        return list(self.faces_normals_packed().split(self._nf.tolist(), 0))

    def verts_normals_packed(self) -> torch.Tensor:
        """``(sum V_i, 3)`` unit vertex normals: area-weighted mean of adjacent face normals."""
        v, f = self.verts_packed(), self.faces_packed()
        v0, v1, v2 = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        n = torch.zeros_like(v)
        # Each corner's cross product has length 2*area, so the sum is area weighted.
        n = n.index_add(0, f[:, 1], torch.cross(v2 - v1, v0 - v1, dim=1))
        n = n.index_add(0, f[:, 2], torch.cross(v0 - v2, v1 - v2, dim=1))
        n = n.index_add(0, f[:, 0], torch.cross(v1 - v0, v2 - v0, dim=1))
        return torch.nn.functional.normalize(n, dim=1, eps=1e-6)

    def verts_normals_list(self) -> list[torch.Tensor]:
        return list(self.verts_normals_packed().split(self._nv.tolist(), 0))

    def verts_normals_padded(self) -> torch.Tensor:
        return list_to_padded(self.verts_normals_list(), 0.0)

    @cached_property
    def _edges(self) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.faces_packed()
        F = f.shape[0]
        # Edge k of a face is the one opposite vertex k, as in PyTorch3D.
        e = torch.cat([f[:, [1, 2]], f[:, [2, 0]], f[:, [0, 1]]], 0)
        e, _ = e.sort(dim=1)
        V = max(int(self.verts_packed().shape[0]), 1)
        key = e[:, 0] * V + e[:, 1]
        uniq, inverse = torch.unique(key, sorted=True, return_inverse=True)
        edges = torch.stack([uniq // V, uniq % V], 1)
        face_to_edge = inverse.reshape(3, F).t().contiguous()
        return edges, face_to_edge

    def edges_packed(self) -> torch.Tensor:
        """``(E, 2)`` int64 unique undirected edges, ``[lo, hi]`` sorted by (lo, hi)."""
        return self._edges[0]

    def faces_packed_to_edges_packed(self) -> torch.Tensor:
        """``(sum F_i, 3)`` int64: column k is the edge opposite face vertex k."""
        return self._edges[1]

    def edges_packed_to_mesh_idx(self) -> torch.Tensor:
        """``(E,)`` int64: which mesh each edge belongs to."""
        return self.verts_packed_to_mesh_idx()[self.edges_packed()[:, 0]]

    def num_edges_per_mesh(self) -> torch.Tensor:
        """``(B,)`` int64."""
        return torch.bincount(self.edges_packed_to_mesh_idx(), minlength=len(self))

    def get_bounding_boxes(self) -> torch.Tensor:
        """``(B, 3, 2)``: per mesh and axis, ``[min, max]``."""
        return torch.stack([torch.stack([v.min(0).values, v.max(0).values], 1) for v in self._verts_list], 0)

    # ---------------------------------------------------------------- updates
    def offset_verts(self, vert_offsets_packed: torch.Tensor) -> "Meshes":
        """New meshes with vertices moved by ``(sum V_i, 3)`` offsets (or one ``(3,)`` offset)."""
        total = int(self._nv.sum())
        off = vert_offsets_packed
        check_tensor("vert_offsets_packed", off, floating=True)
        if off.shape == (3,):
            off = off.expand(total, 3)
        if off.shape != (total, 3):
            raise ValueError(f"vert_offsets_packed: expected shape ({total}, 3) or (3,), found {tuple(off.shape)}")
        new = self.verts_packed() + off
        return self._with(list(new.split(self._nv.tolist(), 0)))

    def update_padded(self, new_verts_padded: torch.Tensor) -> "Meshes":
        """New meshes with the same faces and vertices taken from ``(B, max V_i, 3)``."""
        check_tensor("new_verts_padded", new_verts_padded, [len(self), int(self._nv.max()) if len(self) else 0, 3], floating=True)
        return self._with([new_verts_padded[i, :n] for i, n in enumerate(self._nv.tolist())])

    def scale_verts(self, scale: float | torch.Tensor) -> "Meshes":
        """New meshes with vertices multiplied by a scalar or a ``(B,)`` tensor."""
        s = torch.as_tensor(scale, dtype=self._verts_list[0].dtype, device=self.device).reshape(-1)
        if s.numel() == 1:
            s = s.expand(len(self))
        return self._with([v * s[i] for i, v in enumerate(self._verts_list)])

    def normalize(self, center: str = "bbox") -> tuple["Meshes", torch.Tensor, torch.Tensor]:
        """Fit each mesh into the unit sphere.

        Each mesh is translated so its centre (``"bbox"``: bounding-box centre,
        ``"mean"``: vertex mean) is at the origin and scaled so its farthest
        vertex lies at distance 1.

        Returns:
            ``(meshes, centers (B, 3), scales (B,))`` with
            ``normalized = (verts - center) / scale``.
        """
        verts, centers, scales = normalize_to_unit_sphere(self._verts_list, center, "meshes")
        return self._with(verts), centers, scales

    # ---------------------------------------------------------------- devices
    def to(self, device) -> "Meshes":
        device = torch.device(device)
        tex = self.textures
        if tex is not None and tex.device != device:
            tex = tex.clone().to(device)  # texture .to moves in place (PyTorch3D's rule): move a copy
        return Meshes([v.to(device) for v in self._verts_list], [f.to(device) for f in self._faces_list], tex)

    def cpu(self) -> "Meshes":
        return self.to("cpu")

    def clone(self) -> "Meshes":
        tex = None if self.textures is None else self.textures.clone()
        return Meshes([v.clone() for v in self._verts_list], [f.clone() for f in self._faces_list], tex)

    def detach(self) -> "Meshes":
        tex = None if self.textures is None else self.textures.detach()
        return Meshes([v.detach() for v in self._verts_list], self._faces_list, tex)

    # ---------------------------------------------------------- PyTorch3D I/O
    def to_pytorch3d(self):
        """Return the same batch as a ``pytorch3d.structures.Meshes`` (needs PyTorch3D)."""
        from ..interop import pytorch3d_structures

        return pytorch3d_structures().Meshes(verts=self.verts_list(), faces=self.faces_list())

    @classmethod
    def from_pytorch3d(cls, meshes) -> "Meshes":
        """Build from a ``pytorch3d.structures.Meshes``."""
        return cls(meshes.verts_list(), meshes.faces_list())


def _batch_textures(meshes: Sequence[Meshes]):
    """Each batch's textures, one item per mesh (shared textures repeated), or None unless all have some."""
    if not meshes or any(m.textures is None for m in meshes):
        return None
    tex = [m.textures if len(m.textures) == len(m) else m.textures.extend(len(m)) for m in meshes]
    return tex[0].join_batch(tex[1:]) if len(tex) > 1 else tex[0]


def join_meshes_as_batch(meshes: Sequence[Meshes], include_textures: bool = True) -> Meshes:
    """Concatenate several batches into one (textures too when every batch has them and
    ``include_textures``)."""
    verts, faces = [], []
    for m in meshes:
        verts += m.verts_list()
        faces += m.faces_list()
    return Meshes(verts, faces, _batch_textures(meshes) if include_textures else None)


def join_meshes_as_scene(meshes: Meshes | Sequence[Meshes], include_textures: bool = True) -> Meshes:
    """All meshes of ``meshes`` (a ``Meshes`` or a list of them) as ONE mesh: vertices and faces
    packed, textures joined with ``join_scene`` when every mesh has them, as PyTorch3D's."""
    if not isinstance(meshes, Meshes):
        meshes = join_meshes_as_batch(meshes, include_textures)
    if len(meshes) == 0:
        raise ValueError("meshes: expected at least one mesh to join, found none")
    tex = None
    if include_textures and meshes.textures is not None:
        tex = _batch_textures([meshes]).join_scene()
    return Meshes([meshes.verts_packed()], [meshes.faces_packed()], tex)

"""Surface materials: how much ambient, diffuse and specular light a surface reflects."""

from __future__ import annotations

import torch

from ..tensor_properties import TensorProperties
from .lighting import as_batch_property, property_rows

__all__ = ["Materials"]


class Materials(TensorProperties):
    """A batch of ``N`` Phong materials (one per image), as in PyTorch3D.

    Args:
        ambient_color, diffuse_color, specular_color: reflectivities, ``(C,)``
            or ``(N, C)`` (C = 3 for RGB, the same C for all three).
        shininess: specular exponent ``>= 0``; a number, ``(N,)`` or ``(1,)``
            (higher = tighter highlight, typically 0-1000).
        device: where the tensors live.

    Properties broadcast against each other (batch 1 or N).
    """

    _FIELDS = ("ambient_color", "diffuse_color", "specular_color", "shininess")
    _NAME = "materials"

    def __init__(
        self,
        ambient_color=((1.0, 1.0, 1.0),),
        diffuse_color=((1.0, 1.0, 1.0),),
        specular_color=((1.0, 1.0, 1.0),),
        shininess=64.0,
        device="cpu",
    ) -> None:
        device = torch.device(device)
        cols = {
            "ambient_color": as_batch_property("Materials.ambient_color", ambient_color, None, device=device),
            "diffuse_color": as_batch_property("Materials.diffuse_color", diffuse_color, None, device=device),
            "specular_color": as_batch_property("Materials.specular_color", specular_color, None, device=device),
        }
        C = cols["ambient_color"].shape[1]
        for k, t in cols.items():
            if t.shape[1] != C:
                raise ValueError(f"Materials.{k}: expected {C} channels (those of ambient_color), found {t.shape[1]}")
        if isinstance(shininess, torch.Tensor):
            shin = shininess if shininess.is_floating_point() else shininess.float()
        else:
            try:
                shin = torch.as_tensor(shininess, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                raise ValueError(f"shininess: expected a number or an (N,) tensor, found {shininess!r}") from None
        shin = shin.reshape(-1) if shin.dim() == 0 else shin
        if shin.dim() != 1 or shin.numel() == 0:
            raise ValueError(f"shininess: expected a number or shape (N,), found shape {tuple(shin.shape)}")
        if not bool(torch.isfinite(shin).all()) or bool((shin < 0).any()):
            raise ValueError(f"shininess: expected finite values >= 0, found {shin.detach().cpu().tolist()}")
        super().__init__(**cols, shininess=shin.to(device))

    def __repr__(self) -> str:
        return f"Materials(N={self._N}, shininess={self.shininess.detach().cpu().tolist()})"

    def take(self, name: str, batch: torch.Tensor | None) -> torch.Tensor:
        """Property ``name`` per packed item of image ``batch`` ``(P,)``: ``(1|P, C)`` or ``(1|P,)``."""
        t = getattr(self, name)
        if name == "shininess":
            return property_rows(t[:, None], batch)[:, 0]
        return property_rows(t, batch)

"""Optional bridges to PyTorch3D.

PyTorch3D is a reference for unrender's tests and benchmarks, never a runtime
dependency: these helpers import it lazily and raise a clear error when it is
missing.
"""

from __future__ import annotations

import importlib

__all__ = ["pytorch3d_available", "pytorch3d_module", "pytorch3d_structures"]


def pytorch3d_available() -> bool:
    """True when ``pytorch3d`` imports in this environment."""
    try:
        importlib.import_module("pytorch3d.structures")
    except Exception:
        return False
    return True


def pytorch3d_module(name: str = "pytorch3d.structures"):
    """Return a PyTorch3D module (e.g. ``"pytorch3d.renderer.cameras"``) or raise ``ImportError`` saying how to get it."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or an OSError from its compiled part
        raise ImportError(
            f"PyTorch3D ({name}) is needed for this conversion but does not import here "
            f"({exc}); install it (e.g. easypytorch3d with torch 2.11.0) or stay with unrender's own types"
        ) from exc


def pytorch3d_structures():
    """Return the ``pytorch3d.structures`` module or raise ``ImportError`` saying how to get it."""
    return pytorch3d_module("pytorch3d.structures")

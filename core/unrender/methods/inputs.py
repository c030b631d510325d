"""Checking method inputs by kind, and reading them from files for the command line: lookups in
:mod:`unrender.kinds`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..kinds import KINDS, kind_of, load_as
from .base import Input

__all__ = ["input_kind", "coerce_input", "load_input", "INPUT_SUFFIXES"]


class _Suffixes(Mapping):
    """``kind -> file suffixes`` of every registered kind (a live view of the table)."""

    def __getitem__(self, name):
        if name not in KINDS:
            raise KeyError(name)
        return KINDS[name].suffixes

    def __iter__(self):
        return iter(list(KINDS))

    def __len__(self):
        return len(KINDS)

    def __repr__(self):
        return repr(dict(self))


INPUT_SUFFIXES = _Suffixes()


def input_kind(value) -> str | None:
    """The name of the first kind of the table that recognises ``value`` (e.g. ``"mesh"``), or None."""
    kind = kind_of(value)
    return None if kind is None else kind.name


def coerce_input(spec: Input, value, device) -> Any:
    """Check ``value`` against ``spec`` and return it on ``device``.

    The value is taken as the first of ``spec.kinds`` that recognises it, else
    as its own kind when that kind serves one of them (a ``Meshes`` without
    faces, or for a points-only input, is taken as its vertices). Each kind's
    check applies (see :mod:`unrender.kinds`): e.g. images are ``(H, W)`` or
    ``(H, W, C)`` with ``C`` in 1, 3, 4, values in [0, 1].

    Raises ``ValueError`` naming the input, what was expected and what was found.
    """
    name, kinds = spec.name, spec.kinds
    kind = kind_of(value, kinds) or kind_of(value)
    if kind is None or (kind.name not in kinds and not set(kind.serves) & set(kinds)):
        found = type(value).__name__ if kind is None else f"a {kind.name}"
        raise ValueError(f"{name}: expected a {' or '.join(kinds)}, found {found}")
    value = kind.check(name, value, kinds)
    return value.to(device) if hasattr(value, "to") else value


def load_input(spec: Input, path) -> Any:
    """Read the file for input ``spec`` by its suffix as one of ``spec.kinds`` (see
    :func:`unrender.kinds.load_as`); errors name the input and the file."""
    try:
        return load_as(spec.kinds, path, spec.name)
    except (ValueError, FileNotFoundError) as exc:
        msg = str(exc)
        if msg.startswith(f"{spec.name}:"):
            raise
        where = "" if str(path) in msg else f"{path}: "
        raise type(exc)(f"{spec.name}: {where}{msg}") from None

"""Single-view checkpoints: one ``torch.save`` file of tensors and JSON strings, read with
``torch.load(weights_only=True)`` so loading cannot run code; and the checkpoints unrender ships."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .config import KINDS, ModelConfig
from .model import SingleViewModel, build_model

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_CHECKPOINT_BYTES",
    "save_checkpoint",
    "load_checkpoint",
    "shipped_checkpoint",
    "load_shipped",
]

CHECKPOINT_FORMAT = "unrender-single-view"
CHECKPOINT_VERSION = 1
MAX_CHECKPOINT_BYTES = 256 * 2**20
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def save_checkpoint(path, model: SingleViewModel, *, info: dict | None = None, half: bool = False) -> Path:
    """Write ``model`` (config, state) and ``info`` (any JSON-able dict) to ``path``, atomically.

    ``half``: floating tensors stored as float16 (for shipping; :func:`load_checkpoint` casts back).
    Returns the path.
    """
    if not isinstance(model, SingleViewModel):
        raise ValueError(f"model: expected a SingleViewModel, found {type(model).__name__}")
    info_json = json.dumps({} if info is None else info)
    state = {}
    for name, t in model.state_dict().items():
        t = t.detach().cpu()
        state[name] = t.half() if half and t.is_floating_point() else t.clone()
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_json(),
        "info": info_json,
        "state": state,
    }
    tmp = path.with_name(path.name + ".partial")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read(path: Path, map_location) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise ValueError(f"{path}: checkpoint of {size} bytes is larger than MAX_CHECKPOINT_BYTES ({MAX_CHECKPOINT_BYTES})")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a zip or pickle error, or a non-tensor object refused by weights_only
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected a {CHECKPOINT_FORMAT!r} checkpoint, found format {found!r}")
    if data.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: expected checkpoint version {CHECKPOINT_VERSION}, found {data.get('version')!r}")
    return data


def _json(path: Path, data: dict, key: str) -> dict:
    try:
        value = json.loads(data.get(key))
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected the {key!r} entry to be a JSON object string, found {data.get(key)!r:.80}")
    return value


def _state_mismatch(expected: dict, state: dict) -> str:
    """What differs between a model's state dict and a stored one ("" when they fit)."""
    def names(keys):
        keys = sorted(keys)
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")

    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    shapes = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    parts = [f"{label} {names(keys)}" for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if keys]
    return "; ".join(parts)


def load_checkpoint(path, kind: str | None = None, map_location="cpu") -> tuple[SingleViewModel, dict]:
    """Read a file :func:`save_checkpoint` wrote: ``(model in eval mode, info dict)``.

    Errors name the file: ``FileNotFoundError`` when missing; ``ValueError`` when larger than
    ``MAX_CHECKPOINT_BYTES`` (refused before reading), not a torch file, of another format or
    version, with a bad or unknown config, of another ``kind`` than asked, or a state that does
    not fit the config. Float16 (shipped) tensors are cast to the model's float32.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind: expected None or one of {KINDS}, found {kind!r}")
    path = Path(path)
    data = _read(path, map_location)
    values = _json(path, data, "config")
    try:
        config = ModelConfig.from_dict(values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad model config: {e}") from None
    if kind is not None and config.kind != kind:
        raise ValueError(f"{path}: expected a {kind} checkpoint, found a {config.kind} checkpoint")
    info = _json(path, data, "info")
    state = data.get("state")
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise ValueError(f"{path}: expected a 'state' dict of tensors")
    model = build_model(config)
    problem = _state_mismatch(model.state_dict(), state)
    if problem:
        raise ValueError(f"{path}: the weights do not fit the {config.kind} model of its config: {problem}")
    model.load_state_dict(state)  # copies cast float16 into the float32 parameters
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    return model, info


def shipped_checkpoint(kind: str) -> Path:
    """The path of the checkpoint unrender ships for ``kind`` (``unrender/models/weights/<kind>.pt``; it may be absent)."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, found {kind!r}")
    return WEIGHTS_DIR / f"{kind}.pt"


def load_shipped(kind: str, map_location="cpu") -> SingleViewModel:
    """The shipped ``kind`` model, in eval mode; ``FileNotFoundError`` naming the file when it is absent."""
    path = shipped_checkpoint(kind)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped {kind} checkpoint is missing (see {WEIGHTS_DIR / 'README.md'} to train it)")
    return load_checkpoint(path, kind=kind, map_location=map_location)[0]

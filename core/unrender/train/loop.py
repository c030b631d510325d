"""The training loop: one process or many (torchrun), resumable, with rank-0 files."""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import TrainConfig
from .distributed import (DistInfo, any_rank, dist_info, epoch_batches, finish_distributed, init_distributed,
                          local_batch_size, mean_over_ranks)

__all__ = ["train", "seed_everything", "rng_state", "set_rng_state", "validation_loss", "TRAIN_FILES",
           "STATE_FORMAT", "RESUME_FIELDS", "load_train_state", "replace_file", "check_run",
           "learning_rate"]

TRAIN_FILES = ("checkpoint.pt", "last.pt", "config.json", "history.json", "loss.png", "examples.png")
STATE_FORMAT = "unrender-train-state"
# the fields a resumed run must share with the run it continues (the others: budget, workers, threads, ...)
RESUME_FIELDS = ("kind", "encoder", "model", "batch_size", "lr", "schedule", "seed", "points", "dtype")
EXAMPLES = 4


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The global random states (Python, NumPy, torch, CUDA) as tensors and plain values, so that
    ``torch.load(weights_only=True)`` reads them back."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate of the step after ``step`` steps (see ``TrainConfig.schedule``)."""
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps))
    return config.lr


def _seed_worker(worker_id: int) -> None:
    s = torch.initial_seed() % 2**32  # DataLoader gives each worker base_seed + id, from its seeded generator
    random.seed(s)
    np.random.seed(s)


def _to(batch: dict, device: torch.device, dtype: torch.dtype = torch.float32) -> dict:
    """The batch's tensors on ``device``, floating ones as ``dtype``."""
    return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def _val_indices(n: int, count: int) -> list[int]:
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(count, n))})


def validation_loss(model, dataset, indices, batch_size: int, device: torch.device, seed: int,
                    dtype: torch.dtype = torch.float32) -> float:
    """Mean loss of ``model`` over ``dataset[indices]`` (eval mode, no gradients). Random draws inside
    the loss (e.g. surface samples) come from ``seed`` in a forked generator, so validating neither
    changes nor depends on the training's random stream."""
    from torch.utils.data import DataLoader, Subset

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    devices = [device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for batch in DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False):
            batch = _to(batch, device, dtype)
            loss, _ = model.loss(model(batch["image"]), batch)
            total += float(loss) * batch["image"].shape[0]
            count += batch["image"].shape[0]
    model.train(was_training)
    return total / max(count, 1)


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` whole or not at all: into a hidden partial file (same suffix), then renamed."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_train_state(path) -> dict:
    """A ``last.pt`` resume state (``torch.load(weights_only=True)``); a ``ValueError`` naming the file
    when it is not one, ``FileNotFoundError`` when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume: no training state to resume from: {path} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated zip, another pickle, ...
        raise ValueError(f"resume: {path} is not a readable training state ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"resume: {path} is not an unrender training state (expected format {STATE_FORMAT!r})")
    return state


def _check_resume(config: TrainConfig, state: dict, path: Path) -> None:
    old = json.loads(state["config"])
    new = asdict(config)
    for name in RESUME_FIELDS:
        if old.get(name) != new[name]:
            raise ValueError(f"resume: {path} was trained with {name}={old.get(name)!r}, found {name}={new[name]!r}")


def check_run(config: TrainConfig, resume: bool = False) -> dict | None:
    """The checks of a run that come before any work: the dataset folder, the batch split over the
    ranks, and the output folder: with ``resume`` its ``last.pt`` must be a training state of the same
    model, batch, lr and seed (returned); without, it must not hold one (a run is never overwritten)."""
    from ..data import read_dataset_info

    read_dataset_info(config.data)
    local_batch_size(config.batch_size, dist_info().world_size)
    last = Path(config.output) / "last.pt"
    if resume:
        state = load_train_state(last)
        _check_resume(config, state, last)
        return state
    if last.exists():
        raise ValueError(f"output: {config.output} already holds a training run ({last.name}); give --resume to "
                         "continue it, or another folder")
    return None


def _dataset_info(config: TrainConfig, info: dict) -> dict:
    keys = ("categories", "splits", "views", "seed", "image_size", "resolution")
    return {"root": str(config.data), **{k: info.get(k) for k in keys}}


def train(config: TrainConfig, progress: bool | Callable[[int, int, float], bool] = True, resume: bool = False) -> dict:
    """Train a single-view model on a procedural dataset (see :class:`TrainConfig`).

    Seeds everything first (Python, NumPy, torch, the DataLoader's generator and workers), so the same
    config gives the same parameters. Adam on ``model.loss`` over batches of the train split in the
    order of :func:`~unrender.train.distributed.epoch_batches`. Every ``val_every`` steps and at the
    end the mean val loss is measured; rank 0 writes into ``config.output``: ``checkpoint.pt`` (the
    best val loss, :func:`unrender.models.save_checkpoint` with info ``step``, ``val_loss``,
    ``dataset``, ``seed``, ``minutes``), ``last.pt`` (model, optimiser, step, history, random states,
    for ``resume``), ``config.json``, ``history.json``, ``loss.png`` and, at the end, ``examples.png``
    (val items: input | prediction | truth). Each file is written whole or not at all.

    Under torchrun (``WORLD_SIZE`` > 1) each rank takes ``batch_size / world_size`` items of every
    global batch and the model is wrapped in DistributedDataParallel: the parameters equal a single
    process's with the same global batch (up to rounding; see :mod:`unrender.train.distributed`).

    ``progress``: a tqdm bar on rank 0, or a callable ``progress(step, total, loss) -> bool`` called on
    every rank after each step (``total`` 0 with a minutes budget alone; False stops the run after that
    step, saving as at the end). ``resume``: continue from ``output/last.pt`` (same model, batch, lr,
    seed): running k steps and resuming to n gives the parameters of one n-step run.
    Returns ``{"steps", "best_step", "best_val_loss", "val_loss", "minutes", "output", "files", "stopped"}``.
    """
    from ..threads import using_threads

    with using_threads(config.threads):
        info, device = init_distributed(config.device)
        try:
            result = _train(config, info, device, progress, resume)
        except BaseException:
            if info.distributed and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
            raise
        finish_distributed(info)
        return result


def _calibrate_checkpoint(path: Path, val_set, val_idx: list[int], device: torch.device) -> float:
    """Set the best vox checkpoint's surface level to the one with the best val F1@0.05 (the file rewritten
    whole); returns the level (the run's examples are drawn at it)."""
    from ..models import load_checkpoint, save_checkpoint
    from .evaluate import calibrate_level

    model, meta = load_checkpoint(path, kind="vox", map_location=device)
    level, scores = calibrate_level(model, val_set, val_idx)
    model.config.level = level
    meta["level_f1"] = {f"{k:g}": round(v, 4) for k, v in scores.items()}
    replace_file(path, lambda p: save_checkpoint(p, model, info=meta))
    return level


def _train(config: TrainConfig, info: DistInfo, device: torch.device, progress, resume: bool) -> dict:
    from torch.utils.data import DataLoader

    from ..data import ShapeDataset, read_dataset_info
    from ..models import build_model, save_checkpoint
    from ..plots import plot_curves
    from ..io import save_image

    out = Path(config.output)
    state = check_run(config, resume)
    data_info = read_dataset_info(config.data)
    points = config.points or min(2048, int(data_info["points"]))
    train_set = ShapeDataset(config.data, "train", points=points)
    n = len(train_set)
    per_epoch = len(epoch_batches(n, config.batch_size, info, config.seed, 0))
    val_set = ShapeDataset(config.data, "val", points=points) if info.main else None
    if val_set is not None and len(val_set) == 0:
        raise ValueError(f"data: {config.data} has no val items to validate on")

    seed_everything(config.seed)
    dtype = getattr(torch, config.dtype)
    model = build_model(config.model_config()).to(device, dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, minutes_before = 0, 0.0
    history: dict = {"train_loss": [], "val": {"step": [], "loss": []}}
    best: dict = {"step": None, "val_loss": None}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, minutes_before = int(state["step"]), float(state["minutes"])
        history, best = json.loads(state["history"]), json.loads(state["best"])
        set_rng_state(state["rng"])
    net = model
    if info.distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    if info.main:
        out.mkdir(parents=True, exist_ok=True)
        replace_file(out / "config.json", lambda p: p.write_text(config.to_json() + "\n"))
    bar = None
    if progress is True and info.main:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, desc=f"train {config.kind}", unit="step", dynamic_ncols=True)
    callback = progress if callable(progress) else None

    val_idx = _val_indices(len(val_set), config.val_items) if val_set is not None else []
    started = time.monotonic()

    def minutes() -> float:
        return minutes_before + (time.monotonic() - started) / 60

    def save(final: bool) -> None:
        """Validate (once per step) and write the files (rank 0); every rank waits for it."""
        if info.main:
            if not history["val"]["step"] or history["val"]["step"][-1] != step:
                v = validation_loss(model, val_set, val_idx, config.batch_size, device, config.seed, dtype)
                history["val"]["step"].append(step)
                history["val"]["loss"].append(v)
                if best["val_loss"] is None or v < best["val_loss"]:
                    best.update(step=step, val_loss=v)
                    meta = {"step": step, "val_loss": v, "dataset": _dataset_info(config, data_info),
                            "seed": config.seed, "minutes": round(minutes(), 3)}
                    replace_file(out / "checkpoint.pt", lambda p: save_checkpoint(p, model, info=meta))
            last = {"format": STATE_FORMAT, "version": 1, "config": config.to_json(), "step": step,
                    "minutes": minutes(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "history": json.dumps(history), "best": json.dumps(best), "rng": rng_state()}
            replace_file(out / "last.pt", lambda p: torch.save(last, p))
            replace_file(out / "history.json", lambda p: p.write_text(json.dumps(history, indent=1) + "\n"))
            val_curve = [float("nan")] * len(history["train_loss"])
            for s, l in zip(history["val"]["step"], history["val"]["loss"]):
                if 1 <= s <= len(val_curve):
                    val_curve[s - 1] = l
            curves = {"train": history["train_loss"], "val": val_curve}
            replace_file(out / "loss.png", lambda p: plot_curves(curves, p, title=f"{config.kind}: loss"))
            if final and config.kind == "vox" and best["step"] is not None:
                model.config.level = _calibrate_checkpoint(out / "checkpoint.pt", val_set, val_idx, device)
            if final:
                from .pictures import examples_picture

                pick = [val_idx[int(i)] for i in np.linspace(0, len(val_idx) - 1, min(EXAMPLES, len(val_idx)))]
                batch = DataLoader(torch.utils.data.Subset(val_set, pick), batch_size=len(pick)).__iter__().__next__()
                model.eval()
                with torch.random.fork_rng(devices=[device.index] if device.type == "cuda" else []):
                    picture = examples_picture(model, _to(batch, device, dtype))
                model.train()
                replace_file(out / "examples.png", lambda p: save_image(p, picture))
        if info.distributed:
            torch.distributed.barrier()

    epoch_iter, epoch_at = None, -1
    stop_asked = False
    model.train()
    while True:
        done = (config.steps is not None and step >= config.steps) or (config.minutes is not None and minutes() >= config.minutes)
        if any_rank(done or stop_asked, info, device):
            break
        epoch, k = divmod(step, per_epoch)
        if epoch != epoch_at:
            batches = epoch_batches(n, config.batch_size, info, config.seed, epoch)[k:]
            gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
            epoch_iter = iter(DataLoader(train_set, batch_sampler=batches, num_workers=config.workers,
                                         worker_init_fn=_seed_worker, generator=gen))
            epoch_at = epoch
        batch = _to(next(epoch_iter), device, dtype)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        loss, _ = model.loss(net(batch["image"]), batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        value = mean_over_ranks(float(loss.detach()), info, device)
        history["train_loss"].append(value)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        if callback is not None and callback(step, config.steps or 0, value) is False:
            stop_asked = True
        if step % config.val_every == 0:
            save(final=False)
            if bar is not None:
                bar.set_postfix(loss=f"{value:.4g}", val=f"{history['val']['loss'][-1]:.4g}", refresh=False)
    if bar is not None:
        bar.close()
    save(final=True)
    files = list(TRAIN_FILES) if info.main else []
    return {"steps": step, "best_step": best["step"], "best_val_loss": best["val_loss"],
            "val_loss": history["val"]["loss"][-1] if history["val"]["loss"] else None,
            "minutes": minutes(), "output": str(out), "files": files, "stopped": stop_asked}

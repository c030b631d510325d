"""Training and evaluating the single-view models of :mod:`unrender.models` on the procedural datasets of
:mod:`unrender.data`: one process or many (torchrun, DistributedDataParallel), resumable, seeded."""

from .config import KINDS, TrainConfig
from .distributed import (DistInfo, any_rank, dist_info, epoch_batches, finish_distributed, init_distributed,
                          local_batch_size, mean_over_ranks)
from .loop import (RESUME_FIELDS, STATE_FORMAT, TRAIN_FILES, load_train_state, rng_state, seed_everything,
                   set_rng_state, train, validation_loss)
from .pictures import VIEW_AZIMUTH, examples_picture, render_view

__all__ = ["KINDS", "TrainConfig", "DistInfo", "any_rank", "dist_info", "epoch_batches", "finish_distributed",
           "init_distributed", "local_batch_size", "mean_over_ranks", "RESUME_FIELDS", "STATE_FORMAT", "TRAIN_FILES",
           "load_train_state", "rng_state", "seed_everything", "set_rng_state", "train", "validation_loss",
           "VIEW_AZIMUTH", "examples_picture", "render_view"]

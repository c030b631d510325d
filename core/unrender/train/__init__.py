"""Training and evaluating the single-view models of :mod:`unrender.models` on the procedural datasets of
:mod:`unrender.data`: one process or many (torchrun, DistributedDataParallel), resumable, seeded."""

from .config import TrainConfig
from .distributed import (DistInfo, any_rank, dist_info, epoch_batches, finish_distributed, init_distributed,
                          local_batch_size, mean_over_ranks)
from .loop import (RESUME_FIELDS, check_run, learning_rate, STATE_FORMAT, TRAIN_FILES, load_train_state, replace_file, rng_state, seed_everything,
                   set_rng_state, train, validation_loss)
from .evaluate import EVAL_FILES, F1_THRESHOLDS, LEVELS, calibrate_level, eval_markdown, evaluate, item_scores, plot_f1, write_eval
from .pictures import VIEW_AZIMUTH, comparison_picture, examples_picture, render_view

__all__ = ["TrainConfig", "DistInfo", "any_rank", "dist_info", "epoch_batches", "finish_distributed",
           "init_distributed", "local_batch_size", "mean_over_ranks", "RESUME_FIELDS", "STATE_FORMAT", "TRAIN_FILES",
           "load_train_state", "replace_file", "check_run", "learning_rate", "rng_state", "seed_everything", "set_rng_state", "train", "validation_loss",
           "VIEW_AZIMUTH", "comparison_picture", "examples_picture", "render_view",
           "EVAL_FILES", "F1_THRESHOLDS", "LEVELS", "calibrate_level", "eval_markdown", "evaluate", "item_scores", "plot_f1", "write_eval"]

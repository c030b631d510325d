"""Shared test set-up."""

import os

import torch

# pytest-xdist runs one worker per core; a second intra-op thread per worker
# only oversubscribes the CPU (10-50x slowdowns were seen on small ops).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

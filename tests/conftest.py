"""Shared test set-up."""

import os
import tempfile

import torch

# Blender (the bpy module) keeps its preferences, extensions and add-on data
# under this folder: the suite never touches the user's ~/.config/blender.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="unrender_blender_user_"))

# pytest-xdist runs one worker per core; a second intra-op thread per worker
# only oversubscribes the CPU (10-50x slowdowns were seen on small ops).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

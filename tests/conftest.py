"""Shared test set-up."""

import os
import tempfile

import pytest
import torch

# Blender (the bpy module) keeps its preferences, extensions and add-on data
# under this folder: the suite never touches the user's ~/.config/blender.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="unrender_blender_user_"))

# pytest-xdist runs one worker per core; a second intra-op thread per worker
# only oversubscribes the CPU (10-50x slowdowns were seen on small ops).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


# The add-on tests' fixtures (those modules skip themselves where bpy does not import).
@pytest.fixture(scope="module")
def addon():
    """The add-on from ``addon/``, enabled in this process as Blender enables it -> its module."""
    import blender_addon

    return blender_addon.enable_addon()


@pytest.fixture
def scene(addon):
    """An empty scene (every object and its data removed), the add-on enabled."""
    import blender_addon

    return blender_addon.reset_scene()

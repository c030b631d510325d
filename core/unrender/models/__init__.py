"""Single-view models: image encoders, voxel / point / mesh decoders, losses, prediction to meshes, checkpoints.

Above ``losses``, ``geometry``, ``render`` and ``structures``; below ``train`` and ``methods``.
"""

from .checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    MAX_CHECKPOINT_BYTES,
    load_checkpoint,
    load_shipped,
    save_checkpoint,
    shipped_checkpoint,
)
from .config import ENCODERS, KINDS, NORMS, VOXEL_DECODERS, ModelConfig
from .decoders import MeshDecoder, PointDecoder, VoxelConvDecoder, VoxelMLPDecoder
from .encoders import FastEncoder, ResNet18Encoder
from .layers import mlp, norm_layer
from .model import POINTS_SURFACE_RESOLUTION, Prediction, SingleViewModel, build_model

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_CHECKPOINT_BYTES",
    "load_checkpoint",
    "load_shipped",
    "save_checkpoint",
    "shipped_checkpoint",
    "ENCODERS",
    "KINDS",
    "NORMS",
    "VOXEL_DECODERS",
    "ModelConfig",
    "MeshDecoder",
    "PointDecoder",
    "VoxelConvDecoder",
    "VoxelMLPDecoder",
    "FastEncoder",
    "ResNet18Encoder",
    "mlp",
    "norm_layer",
    "POINTS_SURFACE_RESOLUTION",
    "Prediction",
    "SingleViewModel",
    "build_model",
]

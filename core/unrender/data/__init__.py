"""Procedural datasets for single-image 3D: categories of objects built from primitive parts with exact
occupancy, rendered by unrender's renderer, written once to disk and read back as a torch ``Dataset``."""

from .categories import CATEGORIES, make_object
from .dataset import (DATASET_FORMAT, SPLITS, ShapeDataset, building_folder, object_seed, read_dataset_info,
                      write_dataset)
from .objects import ProceduralObject, normalized_object
from .parts import Box, Lathe, Tube, rotation_matrix
from .samples import (BOUNDS, CAMERA_DISTANCE, CAMERA_FOV, ELEVATION_RANGE, make_sample, random_cameras,
                      render_object, to_uint8, view_occupancy, voxel_centers)

__all__ = ["CATEGORIES", "make_object", "ProceduralObject", "normalized_object", "Box", "Lathe", "Tube",
           "rotation_matrix", "BOUNDS", "CAMERA_DISTANCE", "CAMERA_FOV", "ELEVATION_RANGE", "make_sample",
           "random_cameras", "render_object", "to_uint8", "view_occupancy", "voxel_centers", "DATASET_FORMAT", "SPLITS", "ShapeDataset",
           "building_folder", "object_seed", "read_dataset_info", "write_dataset"]

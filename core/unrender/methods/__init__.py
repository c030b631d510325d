"""Methods: the jobs the command line and the Blender add-on offer, behind one contract.

* :class:`Method` with :class:`Input`, :class:`Param`, :class:`Output` specs and
  ``run(inputs, params, progress) -> Result`` (see :mod:`.base`);
* the registry (:func:`list_methods`, :func:`get_method`, :func:`register`;
  plugins through the ``unrender.methods`` entry-point group);
* :func:`run_method`, which checks parameters and inputs, seeds and times a run;
* :func:`save_result`, which writes a result folder (geometry, JSON summary,
  loss curve, before/after picture, GIF of the optimisation).

Built-in methods: ``fit-voxels``, ``fit-points``, ``deform-mesh``, ``estimate-pose``, ``fit-smpl-scan``.
"""

from .base import COMMON_PARAMS, INPUT_KINDS, OUTPUT_KINDS, Input, Method, Output, Param, ProgressFn, Result, keep_going
from .inputs import coerce_input, input_kind, load_input
from .registry import ENTRY_POINT_GROUP, get_method, list_methods, method_ids, plugin_errors, refresh, register
from .runner import Tracker, check_inputs, resolve_params, run_method
from .save import check_output, discard_partial_files, save_result

__all__ = [
    "COMMON_PARAMS",
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "ENTRY_POINT_GROUP",
    "Input",
    "Method",
    "Output",
    "Param",
    "ProgressFn",
    "Result",
    "Tracker",
    "keep_going",
    "coerce_input",
    "input_kind",
    "load_input",
    "get_method",
    "list_methods",
    "method_ids",
    "plugin_errors",
    "refresh",
    "register",
    "check_inputs",
    "resolve_params",
    "run_method",
    "save_result",
    "check_output",
    "discard_partial_files",
]

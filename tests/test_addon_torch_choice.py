"""Which torch the add-on's installer asks pip for, as a function of Blender's Python and platform.

``addon/deps.py`` imports no bpy at module level, so this runs without Blender
(and in both test environments: Python 3.11 for Blender 4.2-5.0, 3.13 for 5.1+).
The wheels per release come from PyPI's file lists (torch 2.0-2.15).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.addon]

_spec = importlib.util.spec_from_file_location("unrender_addon_deps_alone", ROOT / "addon" / "deps.py")
deps = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = deps  # before running it: its dataclasses look their module up
_spec.loader.exec_module(deps)

WITH_TORCH = ("linux-x64", "linux-arm64", "macos-arm64", "windows-x64")


@pytest.mark.parametrize("platform", WITH_TORCH)
def test_python_3_11_blender_4_2_to_5_0_gets_unrenders_floor(platform):
    assert deps.torch_requirement((3, 11), platform) == "torch>=2.4"


@pytest.mark.parametrize("platform, floor", [("linux-x64", "2.5"), ("linux-arm64", "2.6"), ("macos-arm64", "2.6"),
                                             ("windows-x64", "2.6")])
def test_python_3_13_blender_5_1_and_later_gets_a_release_with_cp313_wheels(platform, floor):
    assert deps.torch_requirement((3, 13), platform) == f"torch>={floor}"


@pytest.mark.parametrize("python", [(3, 11), (3, 13)])
@pytest.mark.parametrize("platform, where", [("macos-x64", "Intel Macs"), ("windows-arm64", "Windows on ARM")])
def test_where_pypi_has_no_torch_the_answer_says_what_to_do_instead(python, platform, where):
    with pytest.raises(ValueError) as info:
        deps.torch_requirement(python, platform)
    msg = str(info.value)
    assert msg.startswith(f"No torch 2.4+ on PyPI for Python {python[0]}.{python[1]} on {where}: ")
    assert "'Torch index URL'" in msg and "'Python site-packages'" in msg
    # A custom index (PyTorch's own, a mirror) may have one: pip is asked for unrender's floor.
    assert deps.torch_requirement(python, platform, "https://example.invalid/whl") == "torch>=2.4"


def test_every_floor_is_at_least_unrenders_and_pyprojects_floor_is_the_same():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (torch,) = [d for d in pyproject["project"]["dependencies"] if re.match(r"torch\b", d)]
    assert torch == f"torch>={deps.TORCH_MIN[0]}.{deps.TORCH_MIN[1]}"
    for python, platforms in deps.TORCH_FIRST_WHEELS.items():
        assert set(platforms) <= set(deps.BLENDER_PLATFORMS)
        for platform in platforms:
            floor = tuple(int(n) for n in deps.torch_requirement(python, platform).removeprefix("torch>=").split("."))
            assert floor >= deps.TORCH_MIN and floor >= platforms[platform]


def test_a_python_newer_than_the_table_gets_unrenders_floor_and_pip_decides():
    assert deps.torch_requirement((3, 15), "linux-x64") == "torch>=2.4"
    assert deps.torch_requirement((3, 15), "macos-x64") == "torch>=2.4"


def test_the_defaults_are_this_python_and_platform():
    here = deps.blender_platform()
    assert here in deps.BLENDER_PLATFORMS  # the suite runs on a platform Blender has
    python = sys.version_info[:2]
    if python in deps.TORCH_FIRST_WHEELS and here not in deps.TORCH_FIRST_WHEELS[python]:
        pytest.skip(f"no torch on PyPI for {here}")
    assert deps.torch_requirement() == deps.torch_requirement(python, here)


@pytest.mark.parametrize("sysconfig_platform, machine, name", [
    ("linux-x86_64", None, "linux-x64"), ("linux-aarch64", None, "linux-arm64"), ("win-amd64", None, "windows-x64"),
    ("win-arm64", None, "windows-arm64"), ("macosx-11.0-arm64", None, "macos-arm64"),
    ("macosx-10.9-x86_64", None, "macos-x64"), ("macosx-11.0-universal2", "arm64", "macos-arm64"),
    ("macosx-11.0-universal2", "x86_64", "macos-x64"), ("linux-i686", None, None), ("freebsd-14.0-amd64", None, None)])
def test_blender_platform_names(sysconfig_platform, machine, name):
    assert deps.blender_platform(sysconfig_platform, machine) == name


def test_install_plan_takes_torch_alone_from_a_custom_index():
    cpu = "https://download.pytorch.org/whl/cpu"
    assert deps.install_plan(["torch", "tqdm"], cpu, (3, 13), "linux-x64") == [
        (["torch>=2.5"], ("--index-url", cpu, "--only-binary", "torch")), (["tqdm"], ())]
    assert deps.install_plan(["tqdm"], cpu) == [(["tqdm"], ())]
    assert deps.install_plan(["torch", "tqdm"], python=(3, 11), platform="windows-x64") == [
        (["torch>=2.4", "tqdm"], ("--only-binary", "torch"))]
    assert deps.install_plan([]) == []
    with pytest.raises(ValueError, match="Intel Macs"):
        deps.install_plan(["torch"], python=(3, 13), platform="macos-x64")

"""The ``threads`` common parameter: parsed, applied to torch for the duration of a run, restored after."""

import os
import subprocess
import sys
import time

import pytest
import torch

from unrender.cli import main
from unrender.methods import Input, Method, Output, get_method, register, run_method
from unrender.methods import registry
from unrender.structures import PointClouds
from unrender.threads import auto_threads, busy_cores, check_threads, usable_cores, using_threads


class _Threads(Method):
    id = "threads-test"
    label = "Threads"
    description = "Records torch's thread count while it runs (a test method)."
    inputs = (Input("target", ("points",), "anything"),)
    params = ()
    outputs = (Output("points", "points", "the target"),)
    seen: list[int] = []

    def run(self, inputs, params, progress):
        _Threads.seen.append(torch.get_num_threads())
        from unrender.methods import Tracker

        return Tracker(progress, 1).result({"points": inputs["target"]})


@pytest.fixture
def threads_method():
    register(_Threads)
    _Threads.seen.clear()
    before = torch.get_num_threads()
    yield get_method("threads-test")
    registry._builtin.pop("threads-test", None)
    torch.set_num_threads(before)


def _cloud():
    return PointClouds([torch.rand(20, 3, generator=torch.Generator().manual_seed(0))])


@pytest.mark.parametrize("n", [1, 3])
def test_run_method_applies_threads_and_restores_them(threads_method, n):
    torch.set_num_threads(2)
    run_method(threads_method, {"target": _cloud()}, {"threads": n})
    assert _Threads.seen == [n]
    assert torch.get_num_threads() == 2


def test_auto_threads_is_within_the_usable_cores(threads_method):
    torch.set_num_threads(5)
    run_method(threads_method, {"target": _cloud()}, {"threads": 0})
    assert 1 <= _Threads.seen[0] <= usable_cores()
    assert 1 <= auto_threads() <= usable_cores() and busy_cores() >= 0
    assert torch.get_num_threads() == 5


def test_threads_restored_when_the_run_fails():
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError, match="boom"):
        with using_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_cli_threads_option(threads_method, tmp_path, capsys):
    from unrender.io import save_ply

    save_ply(tmp_path / "in.ply", _cloud().points_packed())
    code = main(["threads-test", "--input", str(tmp_path / "in.ply"), "--threads", "1", "-o", str(tmp_path / "out"),
                 "--quiet", "--no-pictures"])
    assert code == 0 and _Threads.seen == [1]


@pytest.mark.parametrize("bad", ["-1", "two", "1.5"])
def test_cli_bad_threads_is_a_clear_error(threads_method, tmp_path, capsys, bad):
    code = main(["threads-test", "--example", "--threads", bad, "-o", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "threads" in err and bad in err and _Threads.seen == []


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_threads_values(bad):
    with pytest.raises(ValueError, match="threads: expected"):
        check_threads(bad)
    with pytest.raises(ValueError, match="threads: expected"):
        run_method("fit-points", {}, {"threads": bad})


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux: reads /proc/loadavg")
def test_busy_processes_are_seen_at_once():
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(1.0)  # started and spinning; the 1-minute load average has barely moved
        assert busy_cores() >= 2
        assert auto_threads() <= max(1, usable_cores() - 2)
    finally:
        for h in hogs:
            h.kill()
            h.wait()

"""Where walk-forward tasks run: in order in this process, or in a spawned process pool."""

from __future__ import annotations

import operator
import os

import pytest

from gatecast.errors import ConfigError
from gatecast.evaluate.executors import _init_worker, resolve_jobs, run_tasks


def test_resolve_jobs() -> None:
    cores = len(os.sched_getaffinity(0))
    assert resolve_jobs(None) == resolve_jobs(-1) == cores
    assert resolve_jobs(1) == 1 and resolve_jobs(3) == 3
    for bad in (0, -2):
        with pytest.raises(ConfigError, match=rf"n_jobs={bad}: must be >= 1, or -1 for every core"):
            resolve_jobs(bad)


def test_resolve_jobs_without_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert resolve_jobs(-1) == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert resolve_jobs(None) == 1


def test_in_process_runs_in_order_and_ticks_after_each_task() -> None:
    seen: list[int] = []
    results = run_tasks(operator.pow, [(2, 3), (3, 2), (5, 1)], 1, on_tick=lambda: seen.append(1))
    assert next(results) == 8 and seen == []  # lazily: nothing runs before it is asked for
    assert list(results) == [9, 5] and len(seen) == 3
    assert list(run_tasks(operator.add, [(1, 2)], 4)) == [3]  # one task: no pool


def test_pool_runs_every_task_once_and_ticks_while_waiting() -> None:
    ticks: list[int] = []
    got = run_tasks(
        operator.mul,
        [(k, k) for k in range(5)],
        2,
        on_tick=lambda: ticks.append(1),
        tick_seconds=0.05,
    )
    assert sorted(got) == [0, 1, 4, 9, 16]
    assert len(ticks) >= 5  # at least once per finished task


@pytest.mark.slow  # a second pool start (seconds): the error path only
def test_pool_errors_reach_the_caller() -> None:
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        list(run_tasks(operator.truediv, [(1, 0), (2, 1)], 2))


def test_worker_setup_pins_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.setenv("MKL_NUM_THREADS", "8")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _init_worker()
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)

"""Where walk-forward tasks run: in order in this process, in a spawned process pool, or on Ray;
:func:`run_on` picks one of them for every walk."""

from __future__ import annotations

import operator
import os
from concurrent import futures
from typing import Any

import pytest

from gatecast.errors import ConfigError
from gatecast.evaluation import executors
from gatecast.evaluation.executors import (
    _init_worker,
    executor_runtime,
    resolve_jobs,
    run_on,
    run_tasks,
)


def test_resolve_jobs() -> None:
    cores = len(os.sched_getaffinity(0))
    assert resolve_jobs(None) == resolve_jobs(-1) == cores
    assert resolve_jobs(1) == 1 and resolve_jobs(3) == 3
    for bad in (0, -2):
        with pytest.raises(ConfigError, match=rf"n_jobs={bad}: must be >= 1, or -1 for every core"):
            resolve_jobs(bad)


def test_resolve_jobs_with_one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert resolve_jobs(-1) == 1


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


#: set by a test before it starts a pool: a forked worker would inherit it, a spawned one not
MARK = ["as imported"]


def where_and_how(k: int) -> tuple[int, int, str | None, int, str]:
    """A task that says where it ran: (k, process id, OMP threads, torch threads, MARK)."""
    import torch

    return k, os.getpid(), os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads(), MARK[0]


def test_pool_runs_every_task_once_in_spawned_one_thread_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # what workers would inherit without the setup
    pools: list[dict[str, object]] = []
    waits: list[tuple[object, object]] = []

    class RecordingPool(executors.ProcessPoolExecutor):
        def __init__(self, **kwargs: Any) -> None:
            pools.append(kwargs)
            super().__init__(**kwargs)

    def recording_wait(fs: Any, timeout: Any = None, return_when: Any = "ALL_COMPLETED") -> Any:
        waits.append((timeout, return_when))
        return futures.wait(fs, timeout=timeout, return_when=return_when)

    monkeypatch.setattr(executors, "ProcessPoolExecutor", RecordingPool)
    monkeypatch.setattr(executors, "wait", recording_wait)
    MARK[0] = "changed in the parent"
    ticks: list[int] = []
    try:
        # two tasks, three jobs asked: a pool of two (no idle third worker), not a run here
        got = sorted(run_tasks(where_and_how, [(0,), (1,)], 3, on_tick=lambda: ticks.append(1)))
    finally:
        MARK[0] = "as imported"
    assert [g[0] for g in got] == [0, 1]
    # in workers, not here (one worker may take both tasks while the other is still importing)
    assert os.getpid() not in {g[1] for g in got}
    assert {g[2:] for g in got} == {("1", 1, "as imported")}  # spawned, one thread each
    assert [p["max_workers"] for p in pools] == [2]
    # the progress bar's polls: wake at the first finished task, or every half second
    assert waits and set(waits) == {(0.5, futures.FIRST_COMPLETED)}
    assert len(ticks) == len(waits) >= 1  # once per wake of the wait


def test_one_task_or_one_job_runs_here() -> None:
    assert run_tasks(where_and_how, [(0,)], 2).__next__()[1] == os.getpid()
    assert {r[1] for r in run_tasks(where_and_how, [(0,), (1,)])} == {os.getpid()}  # default: 1


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


def test_run_on_sends_the_tasks_to_the_executor_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """serial runs here whatever n_jobs says; pool passes n_jobs on; ray goes to Ray with its
    address, its CPUs and the progress ticks."""
    calls: list[tuple[object, ...]] = []

    def pool(fn: Any, tasks: Any, n_jobs: Any = 1, *, on_tick: Any = None) -> Any:
        calls.append(("pool", n_jobs, on_tick))
        return (fn(*t) for t in tasks)

    def ray(
        fn: Any, tasks: Any, address: Any = None, n_jobs: Any = -1, *, on_tick: Any = None
    ) -> Any:
        calls.append(("ray", n_jobs, address, on_tick))
        return (fn(*t) for t in tasks)

    monkeypatch.setattr(executors, "run_tasks", pool)
    monkeypatch.setattr(executors, "run_on_ray", ray)

    def tick() -> None:
        pass

    assert list(run_on("serial", operator.add, [(1, 2)], 4)) == [3]
    assert list(run_on("pool", operator.add, [(1, 2), (3, 4)], 4, on_tick=tick)) == [3, 7]
    assert list(run_on("ray", operator.add, [(1, 2)], 3, ray_address="auto", on_tick=tick)) == [3]
    assert calls == [("pool", 1, None), ("pool", 4, tick), ("ray", 3, "auto", tick)]
    with pytest.raises(ConfigError, match="executor 'dask' is unknown; choose one of serial, pool"):
        list(run_on("dask", operator.add, [(1, 2)]))  # type: ignore[arg-type]


@pytest.mark.slow  # a local Ray runtime starts (about 5 s)
def test_ray_runs_every_task_in_one_thread_workers_in_one_runtime() -> None:
    """Tasks run in Ray's worker processes with one thread each; several walks share the runtime
    that ``executor_runtime`` holds, which stops at the end of the block; a task's error
    reaches the caller as itself."""
    import ray
    import torch

    ticks: list[int] = []
    with executor_runtime("ray", None, 2):
        pids = list(run_on("ray", os.getpid, [(), (), ()], 2, on_tick=lambda: ticks.append(1)))
        assert len(pids) == 3 and os.getpid() not in pids
        assert len(ticks) >= 3  # after each finished task, and while waiting
        assert list(run_on("ray", torch.get_num_threads, [()], 2)) == [1]
        assert list(run_on("ray", os.getenv, [("OMP_NUM_THREADS",), ("MKL_NUM_THREADS",)])) == [
            "1",
            "1",
        ]
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            list(run_on("ray", operator.truediv, [(1, 0)], 2))
        assert ray.is_initialized()  # the same runtime throughout the block
    assert not ray.is_initialized()

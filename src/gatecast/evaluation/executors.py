"""Where walk-forward tasks run: in this process, one after another, in a local process pool, or on Ray.

:func:`run_on` is the one dispatch every walk (single series, panel, sweep trials) goes through.
Ray is imported only when ``executor="ray"`` is chosen (``pip install gatecast[ray]``).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from gatecast.errors import ConfigError
from gatecast.types import EXECUTORS, Executor, check_choice

#: Every worker (pool or Ray) computes with one thread.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def resolve_jobs(n_jobs: int | None) -> int:
    """``None`` or ``-1``: every core this process may use; otherwise ``n_jobs`` (>= 1)."""
    if n_jobs is None or n_jobs == -1:
        try:
            return max(len(os.sched_getaffinity(0)), 1)
        except AttributeError:  # macOS, Windows
            return os.cpu_count() or 1
    if n_jobs < 1:
        raise ConfigError(f"n_jobs={n_jobs}: must be >= 1, or -1 for every core")
    return int(n_jobs)


def _init_worker() -> None:
    # One thread per worker: n_jobs workers x torch's default thread count oversubscribes the cores.
    os.environ.update(ONE_THREAD)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def run_on(
    executor: Executor,
    fn: Callable[..., Any],
    tasks: Iterable[tuple[Any, ...]],
    n_jobs: int | None = 1,
    *,
    ray_address: str | None = None,
    on_tick: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """Run ``fn(*task)`` for each task on ``executor`` and yield the results as they finish.

    ``serial``: here, in order (``n_jobs`` unused). ``pool``: :func:`run_tasks` with ``n_jobs``
    workers (1: here, in order). ``ray``: :func:`run_on_ray`, ``n_jobs`` CPUs of a local runtime
    or the cluster at ``ray_address``. A pool or Ray worker computes with one thread, so their
    numbers are each other's; ``serial`` (and a pool of one) keeps this process's threads.
    """
    check_choice(executor, EXECUTORS, "executor")
    if executor == "ray":
        yield from run_on_ray(fn, list(tasks), ray_address, n_jobs, on_tick=on_tick)
    else:
        yield from run_tasks(fn, tasks, 1 if executor == "serial" else n_jobs, on_tick=on_tick)


def executor_runtime(
    executor: Executor, ray_address: str | None = None, n_jobs: int | None = -1
) -> AbstractContextManager[None]:
    """What a run of several walks holds open around them: one Ray runtime for ``ray`` (so
    it starts once, not once per walk), nothing for the other executors."""
    return ray_runtime(ray_address, n_jobs) if executor == "ray" else nullcontext()


def run_tasks(
    fn: Callable[..., Any],
    tasks: Iterable[tuple[Any, ...]],
    n_jobs: int | None = 1,
    *,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.5,
) -> Iterator[Any]:
    """Run ``fn(*task)`` for each task and yield the results as they finish (any order).

    ``n_jobs=1`` runs them here, in order. Otherwise a ``ProcessPoolExecutor`` with the ``spawn``
    start method (safe with torch and on every OS; ``fn`` must be a module-level function and each
    task picklable) and one torch thread per worker. ``on_tick`` is called after each finished
    task and every ``tick_seconds`` while waiting (a progress bar polls the run folder there).
    """
    jobs = resolve_jobs(n_jobs)
    tasks = list(tasks)
    if jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(*task)
            if on_tick is not None:
                on_tick()
        return
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=ctx, initializer=_init_worker
    ) as pool:
        pending: set[Future[Any]] = {pool.submit(fn, *task) for task in tasks}
        try:
            while pending:
                done, pending = wait(pending, timeout=tick_seconds, return_when=FIRST_COMPLETED)
                if on_tick is not None:
                    on_tick()
                for fut in done:
                    yield fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


# -- Ray: a local runtime or a cluster, one CPU and one torch thread per task -------------------
def _call(fn: Callable[..., Any], *args: Any) -> Any:
    _init_worker()
    return fn(*args)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "--executor ray needs Ray: pip install 'gatecast[ray]' (or choose --executor pool)"
        ) from exc
    return ray


@contextmanager
def ray_runtime(address: str | None = None, n_jobs: int | None = -1) -> Iterator[None]:
    """A Ray runtime for the ``with`` block: ``address=None`` starts a local one with ``n_jobs``
    CPUs (-1: every core) and shuts it down at the end; an address (``auto``,
    ``ray://host:10001``) joins that cluster, whose nodes must have gatecast installed. A runtime
    already started in this process is used as it is (and left running)."""
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,  # the library never prints; Ray's INFO lines would
        "runtime_env": {"env_vars": ONE_THREAD},
    }
    if address is None:
        # a small object store: tasks carry a few MB of prices at most
        kwargs |= {"num_cpus": resolve_jobs(n_jobs), "object_store_memory": 200 * 1024**2}
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"cannot start or join Ray (address={address!r}): {exc}; check --ray-address "
            f"or leave it out for a local runtime"
        ) from exc
    try:
        yield
    finally:
        ray.shutdown()


def run_on_ray(
    fn: Callable[..., Any],
    tasks: list[tuple[Any, ...]],
    address: str | None = None,
    n_jobs: int | None = -1,
    *,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.5,
) -> Iterator[Any]:
    """Run ``fn(*task)`` for each task as a Ray task (1 CPU, one torch thread each) and yield the
    results as they finish; in the runtime of :func:`ray_runtime` (started here if none is).
    ``on_tick`` as in :func:`run_tasks`."""
    with ray_runtime(address, n_jobs):
        ray = _import_ray()
        remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        pending = [remote.remote(fn, *task) for task in tasks]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=tick_seconds)
                if on_tick is not None:
                    on_tick()
                for ref in done:
                    yield ray.get(ref)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

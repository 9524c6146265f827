"""Where walk-forward tasks run: in this process, one after another, or in a local process pool."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from gatecast.errors import ConfigError


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
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


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

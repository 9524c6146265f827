"""Tasks on Ray, the third executor beside the serial and pool ones of executors.py: a local runtime or a cluster, one CPU and one torch thread per task.

Ray is imported only here, and only when ``--executor ray`` is chosen (``pip install gatecast[ray]``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gatecast.errors import ConfigError
from gatecast.evaluation.executors import resolve_jobs

#: Every Ray worker computes with one thread, as a pool worker does.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    os.environ.update(ONE_THREAD)
    import torch

    torch.set_num_threads(1)
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
) -> Iterator[Any]:
    """Run ``fn(*task)`` for each task as a Ray task (1 CPU, one torch thread each) and yield the
    results as they finish; in the runtime of :func:`ray_runtime` (started here if none is)."""
    with ray_runtime(address, n_jobs):
        ray = _import_ray()
        remote = ray.remote(num_cpus=1, max_retries=0)(_call)
        pending = [remote.remote(fn, *task) for task in tasks]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

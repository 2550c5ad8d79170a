"""Map a function over sample indices on Dask: a local cluster, a running scheduler, or in-process.

Every synthetic sample is a pure function of (seed, index), so results do not depend on how the indices are
spread over workers; they are returned in index order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from angiogen.errors import InputError

SCHEDULERS_IN_PROCESS = ("synchronous", "threads")


@contextmanager
def dask_session(scheduler: str = "local", workers: int = 2) -> Iterator[Any]:
    """A Dask client for several :func:`map_indexed` calls (one cluster start-up), or the scheduler name itself.

    Args:
        scheduler: "local" (a LocalCluster of ``workers`` processes), "synchronous" or "threads" (this process,
            yields the name), or the address of a running Dask scheduler ("tcp://host:8786").
        workers: worker processes of the local cluster (>= 1).

    Raises:
        InputError: a bad worker count or an unreachable scheduler.
    """
    if int(workers) != workers or workers < 1:
        raise InputError(f"--workers must be a positive whole number, got {workers}")
    if scheduler in SCHEDULERS_IN_PROCESS:
        yield scheduler
        return
    from dask.distributed import Client, LocalCluster

    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker",
                 "distributed.core", "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=int(workers) > 1,
                               dashboard_address=":0")
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as error:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from error
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def map_indexed(
    function: Callable[[int], Any],
    indices: Sequence[int],
    session: Any = "synchronous",
    progress: Callable[[int, int], None] | None = None,
) -> list[Any]:
    """``[function(i) for i in indices]`` computed on Dask, in index order.

    Args:
        function: a picklable function of one index (e.g. a ``functools.partial`` of a module-level function).
        indices: the sample indices.
        session: what :func:`dask_session` yielded: a client, or "synchronous" / "threads".
        progress: called as ``progress(done, total)`` after each index.
    """
    import dask

    tasks = [dask.delayed(function, pure=True)(index) for index in indices]
    results: dict[int, Any] = {}
    if isinstance(session, str):
        for position, task in enumerate(tasks):
            results[position] = dask.compute(task, scheduler=session)[0]
            if progress:
                progress(position + 1, len(tasks))
        return [results[position] for position in range(len(tasks))]
    from dask.distributed import as_completed

    futures = session.compute(tasks)
    position_of = {future.key: position for position, future in enumerate(futures)}
    for done, future in enumerate(as_completed(futures), start=1):
        results[position_of[future.key]] = future.result()
        if progress:
            progress(done, len(tasks))
    return [results[position] for position in range(len(tasks))]

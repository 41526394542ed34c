"""Where tile tasks run: threads on this machine (default) or a Dask ``distributed`` cluster.

Both executors run the same picklable tasks. The local one runs tiles on threads (the encoder
keeps its own threads, :func:`tsmap.tasks.encode_tile`, so a tile's result does not depend on how
many there are); the cluster one ships the task object to every worker once (``scatter``) and
then only tiles travel per call.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re

from .errors import InputError

#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx|inproc)://[^\s/]+")


class LocalExecutor:
    """Tiles on a thread pool in this process; memory is bounded by the tiles in flight."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.slots = self.workers

    def __enter__(self) -> "LocalExecutor":
        self._pool = cf.ThreadPoolExecutor(self.workers, thread_name_prefix="tsmap-tile")
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def share(self, obj):
        return obj

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def wait_any(self, futures):
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return done

    def cancel(self, futures) -> None:
        for f in futures:
            f.cancel()


class ClusterExecutor:
    """Tiles on a Dask cluster through a ``distributed.Client`` (or the scheduler at an address)."""

    def __init__(self, client) -> None:
        from distributed import Client

        self._own = not isinstance(client, Client)
        self.client = connect(client) if self._own else client
        self.slots = max(1, sum(self.client.nthreads().values()))

    def __enter__(self) -> "ClusterExecutor":
        return self

    def __exit__(self, *exc) -> None:
        if self._own:
            self.client.close()

    def share(self, obj):
        return self.client.scatter(obj, broadcast=True, hash=False)

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait_any(self, futures):
        from distributed import wait

        return wait(futures, return_when="FIRST_COMPLETED").done

    def cancel(self, futures) -> None:
        self.client.cancel(list(futures))


def connect(address: str):
    """A ``distributed.Client`` of the scheduler at ``address``; one line naming the address when it is not reachable
    within :data:`CONNECT_TIMEOUT_S` (Dask's own default waits 30 s, then raises a traceback)."""
    from distributed import Client

    if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
        raise InputError(f"--scheduler {address!r} is not a Dask scheduler address; give one like tcp://HOST:8786")
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:g} s ({type(exc).__name__}); "
            "start it, check the address (--scheduler), or omit --scheduler to run here"
        ) from None


def make_executor(client=None, *, workers: int | None = None):
    """A :class:`ClusterExecutor` for a Client or scheduler address, else a :class:`LocalExecutor`."""
    return LocalExecutor(workers) if client is None else ClusterExecutor(client)

"""Job queues: run now (tests), on a background thread (one machine), or on RQ workers (Redis).

Every queue merges a request into a waiting job with the same key, so a burst of
changes to one route costs one re-plan that sees all of them.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("lastmile.jobs")

Runner = Callable[..., None]  # runner(job_name, *args) runs lastmile_portal.jobs.<job_name>


class InlineJobQueue:
    """Run each job immediately in the caller's thread (deterministic tests).

    With ``raise_errors`` (under TESTING) a failing job raises into the caller, so the
    test that ran it fails instead of passing with a logged traceback.
    """

    name = "inline"

    def __init__(self, runner: Runner, raise_errors: bool = False) -> None:
        self._runner = runner
        self._raise = raise_errors

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None:
        """Run the job now; errors are logged, as a real queue would, or raised in tests."""
        try:
            self._runner(job, *args)
        except Exception:
            if self._raise:
                raise
            log.exception("job %s failed", job)


class ThreadJobQueue:
    """Run jobs one at a time on a daemon thread; a pending ``key`` is not queued twice."""

    name = "thread"

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._queue: queue.Queue[tuple[str, tuple[Any, ...], str | None]] = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lastmile-jobs", daemon=True)
        self._thread.start()

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None:
        """Queue the job; drop it if one with the same ``key`` is still waiting."""
        if key is not None:
            with self._lock:
                if key in self._pending:
                    return
                self._pending.add(key)
        self._queue.put((job, args, key))

    def join(self) -> None:
        """Wait until every queued job has run (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            job, args, key = self._queue.get()
            if key is not None:
                # Released before running, so a change arriving mid-run queues a fresh job.
                with self._lock:
                    self._pending.discard(key)
            try:
                self._runner(job, *args)
            except Exception:
                log.exception("job %s failed", job)
            finally:
                self._queue.task_done()


PENDING_PREFIX = "lastmile:pending:"
LOCK_PREFIX = "lastmile:lock:"
QUEUE_NAME = "lastmile"
JOB_TIMEOUT_S = 600


class RqJobQueue:
    """Send jobs to RQ workers through Redis (``JOB_BACKEND=rq``)."""

    name = "rq"

    def __init__(self, redis_url: str, queue_name: str = QUEUE_NAME) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(queue_name, connection=self.redis)

    def enqueue(self, job: str, *args: Any, key: str | None = None) -> None:
        """Queue the job for a worker unless one with the same ``key`` is still waiting."""
        # The mark expires after the job's own timeout: a job lost before it ran (a worker
        # killed, a queue flushed) must not keep that route from ever being re-planned.
        if key is not None and not self.redis.set(
            PENDING_PREFIX + key, "1", nx=True, ex=JOB_TIMEOUT_S
        ):
            return
        try:
            self.queue.enqueue(
                "lastmile_portal.jobs.run_queued",
                job,
                key,
                *args,
                job_timeout=JOB_TIMEOUT_S,
                result_ttl=300,
            )
        except Exception:
            if key is not None:
                self.redis.delete(PENDING_PREFIX + key)  # nothing is waiting after all
            raise


@contextlib.contextmanager
def claim(key: str | None) -> Iterator[None]:
    """Inside an RQ job: release the pending mark, then hold the key's lock while running.

    The lock keeps one solve in flight per route even with many workers; the pending
    mark is dropped first so a change arriving during the solve queues another run.
    """
    if key is None:
        yield
        return
    from rq import get_current_job

    current = get_current_job()
    connection = current.connection if current is not None else None
    if connection is None:
        yield
        return
    connection.delete(PENDING_PREFIX + key)
    with connection.lock(LOCK_PREFIX + key, timeout=900, blocking_timeout=900):
        yield


def run_worker(redis_url: str, burst: bool = False, queue_name: str = QUEUE_NAME) -> None:
    """Run an RQ worker in this process (no fork: the app's engine and sockets stay valid)."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    connection = Redis.from_url(redis_url)
    worker = SimpleWorker([Queue(queue_name, connection=connection)], connection=connection)
    worker.work(burst=burst, with_scheduler=False)

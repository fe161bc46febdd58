"""Job queues for one machine: run now (tests) or on a background thread (dev)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("lastmile.jobs")


class InlineJobQueue:
    """Run each job immediately in the caller's thread (deterministic tests)."""

    name = "inline"

    def enqueue(self, func: Callable[..., Any], *args: Any, key: str | None = None) -> None:
        """Run ``func(*args)`` now; errors are logged, not raised, as a real queue would."""
        try:
            func(*args)
        except Exception:
            log.exception("job %s failed", getattr(func, "__name__", func))


class ThreadJobQueue:
    """Run jobs one at a time on a daemon thread; a pending ``key`` is not queued twice."""

    name = "thread"

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...], str | None]] = (
            queue.Queue()
        )
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="lastmile-jobs", daemon=True)
        self._thread.start()

    def enqueue(self, func: Callable[..., Any], *args: Any, key: str | None = None) -> None:
        """Queue ``func(*args)``; drop it if an identical ``key`` is still waiting."""
        if key is not None:
            with self._lock:
                if key in self._pending:
                    return
                self._pending.add(key)
        self._queue.put((func, args, key))

    def join(self) -> None:
        """Wait until every queued job has run (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            func, args, key = self._queue.get()
            if key is not None:
                # Released before running, so a change arriving mid-run queues a fresh job.
                with self._lock:
                    self._pending.discard(key)
            try:
                func(*args)
            except Exception:
                log.exception("job %s failed", getattr(func, "__name__", func))
            finally:
                self._queue.task_done()

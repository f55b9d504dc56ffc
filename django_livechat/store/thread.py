"""The writer thread: every write of the hot path, one at a time, on a connection of its own.

``database_sync_to_async`` runs every call on one shared thread, reads and writes alike: a
commit (an fsync with ``synchronous=FULL``) then holds up every join's reads, and a burst of
reads holds up the commits that acknowledge messages. The group commits (messages, reactions
and edits, connection rows) and the stored read positions run here instead, on one thread per
process with its own database connection: writes queue behind writes only, and reads go on
beside them (SQLite in WAL mode and PostgreSQL let readers run while one writer writes). One
thread, so that the process's writes never wait for each other's locks.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="livechat-writer")
        return _executor


def _run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    # As database_sync_to_async does: drop a connection that is broken or past CONN_MAX_AGE.
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


_notify_executor: ThreadPoolExecutor | None = None


def on_notify_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``func`` as a coroutine function that runs it on the notification sender's own thread
    (one per process): a slow mail server or push service holds up no other database work."""

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        global _notify_executor
        with _lock:
            if _notify_executor is None:
                _notify_executor = ThreadPoolExecutor(1, thread_name_prefix="livechat-notify")
        call = functools.partial(_run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_notify_executor, call)

    return run


def on_writer_thread(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``func`` (sync, database) as a coroutine function that runs it on the writer thread."""

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        call = functools.partial(_run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_writer(), call)

    return run

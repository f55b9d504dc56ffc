"""SQLite in WAL mode: checkpoint the write-ahead log in a thread, not in a message's commit.

SQLite checkpoints by itself in the commit that takes the log past 1,000 pages
(``wal_autocheckpoint``): that commit copies the log into the database file and fsyncs it.
Measured here, such a commit took 10-15 ms, ten times a usual one, and every message waiting
for the writer waited with it: that was most of the p99 latency of ``make bench``.

So each process's writer (:class:`Checkpoints`, beside the group commit) runs a ``PASSIVE``
checkpoint after a commit, at most every ``SQLITE_CHECKPOINT_INTERVAL`` seconds, on a
connection of its own in a worker thread: the log rarely reaches the size at which a commit
would checkpoint (SQLite's own checkpoint stays as the safety net). A PASSIVE checkpoint never
waits for readers or writers, and commits go on while it runs. No writes, no checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from django.db import connections, router

from django_livechat.conf import conf
from django_livechat.models import Message

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper


class WalCheckpointer:
    """Checkpoints the SQLite database file at ``path``."""

    def __init__(self, path: str) -> None:
        self.uri = Path(path).resolve().as_uri() + "?mode=rw"  # never creates a database

    @classmethod
    def for_database(cls, alias: str) -> WalCheckpointer | None:
        """A checkpointer for the database ``alias``, or None if it is not an SQLite file."""
        connection = connections[alias]
        if connection.vendor != "sqlite" or cast("SQLiteWrapper", connection).is_in_memory_db():
            return None
        return cls(str(connection.settings_dict["NAME"]))

    def checkpoint(self) -> tuple[int, int] | None:
        """One PASSIVE checkpoint: (frames in the log, frames copied to the database).

        None when the database is not in WAL mode (nothing to do). Blocking: run it in a
        thread. A connection per call, opened and closed in the calling thread.
        """
        db = sqlite3.connect(self.uri, uri=True, isolation_level=None, timeout=0)
        try:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                return None
            _busy, log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(log), int(copied)
        finally:
            db.close()


class Checkpoints:
    """The writer's checkpoints: after a commit, one in a thread if the interval has passed."""

    def __init__(self) -> None:
        self._checkpointer: WalCheckpointer | None = None
        self._off = False  # not an SQLite file, not in WAL mode, or the interval is 0
        self._next = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def after_commit(self) -> None:
        if self._off or (self._task is not None and not self._task.done()):
            return
        now = time.monotonic()
        if now < self._next:
            return
        interval = conf.SQLITE_CHECKPOINT_INTERVAL
        if self._checkpointer is None:
            self._checkpointer = WalCheckpointer.for_database(router.db_for_write(Message))
        if not interval or self._checkpointer is None:
            self._off = True
            return
        self._next = now + interval
        self._task = asyncio.create_task(self._run(self._checkpointer), name="livechat-checkpoint")

    async def _run(self, checkpointer: WalCheckpointer) -> None:
        try:
            done = await asyncio.to_thread(checkpointer.checkpoint)
        except Exception:  # locked or unreachable now: SQLite's own checkpoint still runs
            if not self._failing:
                logger.warning("livechat: WAL checkpoint failed; will retry", exc_info=True)
            self._failing = True
            return
        if self._failing:
            logger.info("livechat: WAL checkpoint works again")
        self._failing = False
        if done is None:  # not in WAL mode: nothing to do
            self._off = True

"""SQLite in WAL mode: checkpoint the write-ahead log in a thread, not in a message's commit.

SQLite checkpoints by itself in the commit that takes the log past 1,000 pages
(``wal_autocheckpoint``): that commit copies the log into the database file and fsyncs it.
Measured here, such a commit took 10-15 ms, ten times a usual one, and every message waiting
for the writer waited with it: that was most of the p99 latency of ``make bench``.

So each process's hub runs a ``PASSIVE`` checkpoint every ``SQLITE_CHECKPOINT_INTERVAL``
seconds, on a connection of its own in a worker thread: the log rarely reaches the size at
which a commit would checkpoint (SQLite's own checkpoint stays as the safety net). A PASSIVE
checkpoint never waits for readers or writers, and commits go on while it runs.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, cast

from django.db import connections

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

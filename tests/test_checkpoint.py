"""SQLite WAL checkpoints in a thread, off the writer's commits."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connections

from django_livechat.checkpoint import WalCheckpointer


def make_database(path, mode: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA journal_mode={mode}")
    db.execute("PRAGMA wal_autocheckpoint=0")  # only our checkpoints run
    db.execute("CREATE TABLE t (x TEXT)")
    for _ in range(50):
        db.execute("INSERT INTO t VALUES (?)", ["x" * 2000])
    return db


def test_checkpoint_copies_the_log_into_the_database(tmp_path):
    path = tmp_path / "chat.sqlite3"
    db = make_database(path, "wal")
    try:
        log, copied = WalCheckpointer(str(path)).checkpoint()
        assert log > 0 and copied == log  # nobody was reading: everything was copied
        db.execute("INSERT INTO t VALUES ('y')")  # the writer goes on afterwards
        assert db.execute("SELECT count(*) FROM t").fetchone() == (51,)
    finally:
        db.close()


def test_checkpoint_does_nothing_outside_wal_mode(tmp_path):
    path = tmp_path / "chat.sqlite3"
    make_database(path, "delete").close()
    assert WalCheckpointer(str(path)).checkpoint() is None


def test_checkpoint_never_creates_a_database(tmp_path):
    with pytest.raises(sqlite3.OperationalError):
        WalCheckpointer(str(tmp_path / "missing.sqlite3")).checkpoint()
    assert not (tmp_path / "missing.sqlite3").exists()


def test_for_database_only_for_an_sqlite_file():
    connection = connections["default"]
    checkpointer = WalCheckpointer.for_database("default")
    if connection.vendor != "sqlite":
        assert checkpointer is None
    else:
        assert (checkpointer is None) == connection.is_in_memory_db()

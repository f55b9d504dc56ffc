"""SQLite WAL checkpoints in a thread, off the writer's commits."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from channels.db import database_sync_to_async
from django.db import connections
from django.test import override_settings

from django_livechat.checkpoint import WalCheckpointer
from django_livechat.writer import get_connection_writer, get_writer
from tests.conftest import receive_type


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


def skip_unless_sqlite_file() -> None:
    connection = connections["default"]
    if connection.vendor != "sqlite" or connection.is_in_memory_db():
        pytest.skip("the WAL checkpointer is for an SQLite file (pass 1 runs it)")


@database_sync_to_async
def journal_mode(mode: str) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(f"PRAGMA journal_mode={mode}")


@pytest.mark.django_db(transaction=True)
@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "SQLITE_CHECKPOINT_INTERVAL": 0.05})
async def test_the_writer_checkpoints_an_sqlite_wal_database_after_its_commits(room, clients):
    skip_unless_sqlite_file()

    async def post(communicator, client_id: str) -> None:
        await communicator.send_json_to({"type": "message", "body": "x", "client_id": client_id})
        await receive_type(communicator, "message")

    await journal_mode("wal")
    try:
        communicator, _ = await clients.connect()
        checkpoints = get_writer().checkpoints
        tasks = set()
        for i in range(5):
            await post(communicator, f"w{i}")
            tasks.add(checkpoints._task)
            await asyncio.sleep(0.06)
        tasks.discard(None)
        assert len(tasks) >= 2  # one per interval with commits, each in a task of its own
        await asyncio.wait_for(asyncio.gather(*tasks), 2)
        assert not checkpoints._failing and not checkpoints._off
        await journal_mode("delete")  # no log: checkpoints stop
        await post(communicator, "w5")
        await asyncio.wait_for(checkpoints._task, 2)
        assert checkpoints._off
    finally:
        await journal_mode("delete")


@pytest.mark.django_db(transaction=True)
@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True, "SQLITE_CHECKPOINT_INTERVAL": 0.05})
async def test_connection_rows_alone_make_the_log_checkpointed(room, clients):
    """A burst of joins and no message: the connection writer's commits grow the log too."""
    skip_unless_sqlite_file()
    await journal_mode("wal")
    try:
        checkpoints = get_connection_writer().checkpoints
        assert checkpoints is get_writer().checkpoints  # one per event loop
        await clients.connect()
        assert checkpoints._task is not None  # started after the join's commit
        await asyncio.wait_for(checkpoints._task, 2)
        assert not checkpoints._failing and not checkpoints._off
    finally:
        await journal_mode("delete")

"""Group commit: what is submitted while a transaction runs is stored together in the next.

:class:`GroupCommit` does it for any kind of item; :class:`MessageWriter` for messages and
:class:`ConnectionWriter` for the rows of sockets joining and leaving. One of each per event
loop. Under load a single database transaction (one thread hop, one commit, one fsync) stores
hundreds of items; idle, an item is written at once. Each caller gets its result only after
the transaction that holds its item has committed.
On SQLite in WAL mode the writers also checkpoint the log, off the commits (``checkpoint``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from typing import Generic, TypeVar

from django.db import InterfaceError, OperationalError

from django_livechat import changes, events, store
from django_livechat.checkpoint import Checkpoints
from django_livechat.conf import conf

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
_checkpoints: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Checkpoints] = (
    weakref.WeakKeyDictionary()
)
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Items submitted while a batch is being committed go in the next batch, in order; each
    caller gets its own item's result (or exception) once the batch's transaction is over."""

    name = "livechat-group-commit"

    def __init__(self) -> None:
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=self.name)
        return await future

    async def _drain(self) -> None:
        while self._queue:
            await self._drain_once()

    async def _drain_once(self) -> None:
        """Commit the next batch and answer its callers."""
        size = conf.WRITE_BATCH_SIZE
        batch, self._queue = self._queue[:size], self._queue[size:]
        results = await self.commit([item for item, _ in batch])
        self.after_commit()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def commit(self, items: list[Item]) -> Sequence[Result | Exception]:
        """One result or exception per item; never raises."""
        raise NotImplementedError

    @property
    def checkpoints(self) -> Checkpoints:
        """The WAL checkpoints of this event loop's writers (messages and connection rows
        both grow the log)."""
        loop = asyncio.get_running_loop()
        checkpoints = _checkpoints.get(loop)
        if checkpoints is None:
            checkpoints = _checkpoints[loop] = Checkpoints()
        return checkpoints

    def after_commit(self) -> None:
        """Called after each batch."""
        self.checkpoints.after_commit()


class MessageWriter(GroupCommit[store.NewMessage, store.Written]):
    """New messages, in one transaction per batch (``store.write_messages``)."""

    name = "livechat-writer"

    async def write(self, item: store.NewMessage) -> store.Written:
        """Store ``item`` (in some batch) and return its result once committed."""
        return await self.submit(item)

    async def commit(self, items: list[store.NewMessage]) -> list[store.Written | Exception]:
        """When the batch's transaction fails, nothing of it is stored: its messages are then
        stored one by one, each in its own transaction, so that only one the database refuses
        fails, not the others of the batch (of any room). Not when the database is unreachable
        (OperationalError, InterfaceError): all fail."""
        try:
            return list(await store.awrite_messages(items))
        except Exception as exc:
            if len(items) == 1 or isinstance(exc, OperationalError | InterfaceError):
                return [exc] * len(items)
            logger.warning("livechat: a batch of %d failed (%r); one by one now", len(items), exc)
        try:
            return await store.awrite_each(items)
        except Exception as exc:  # never leave a caller unanswered
            return [exc] * len(items)


class ConnectionWriter(GroupCommit[store.Join | str, store.Joined | bool]):
    """Connection rows: the joins and leaves of a burst of sockets in one transaction
    (``store.record_connections``), so that connects per second are not bound by one commit
    (one fsync) each."""

    name = "livechat-connections"

    async def join(self, join: store.Join) -> store.Joined:
        """Record a join; raises its :class:`~django_livechat.permissions.Refused`."""
        joined = await self.submit(join)
        assert isinstance(joined, store.Joined)
        return joined

    async def leave(self, channel_name: str) -> bool:
        """Forget a closed connection; True when its identity has none left in the room."""
        return bool(await self.submit(channel_name))

    async def commit(self, items: list[store.Join | str]) -> list[store.Joined | bool | Exception]:
        try:
            return await store.arecord_connections(items)
        except Exception as exc:  # the database: every caller hears it
            return [exc] * len(items)


class ChangeWriter(GroupCommit[changes.Change, changes.Outcome]):
    """Reactions and edits, in one transaction per batch on the writer thread
    (``changes.apply``): a burst of them costs one commit, not one each, and leaves Channels'
    database thread to the reads.

    What each reader sends is coalesced before it reaches the room: batches start at most one
    per ``CHANGE_INTERVAL`` (the first after a quiet interval at once), and the changes of one
    message in a batch are one ``updated`` frame. Ten readers reacting to a message within a
    second cost its room one frame per member, not ten."""

    name = "livechat-changes"

    def __init__(self) -> None:
        super().__init__()
        self._next = 0.0  # loop time before which no batch starts

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            wait = self._next - loop.time()
            if wait > 0:  # what arrives meanwhile joins this batch
                await asyncio.sleep(wait)
            self._next = loop.time() + conf.CHANGE_INTERVAL
            await super()._drain_once()

    async def change(self, item: changes.Change) -> list[events.Event]:
        """Store ``item`` and return its events once committed; raises its refusal."""
        outcome = await self.submit(item)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def commit(self, items: list[changes.Change]) -> list[changes.Outcome | Exception]:
        try:
            return list(await store.aapply_changes(items))
        except Exception as exc:
            if len(items) == 1 or isinstance(exc, OperationalError | InterfaceError):
                return [exc] * len(items)
            logger.warning("livechat: %d changes failed (%r); one by one now", len(items), exc)
        results: list[changes.Outcome | Exception] = []
        for item in items:
            try:
                results += await store.aapply_changes([item])
            except Exception as exc:  # never leave a caller unanswered
                results.append(exc)
        return results


_change_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChangeWriter] = (
    weakref.WeakKeyDictionary()
)


def get_change_writer() -> ChangeWriter:
    """The reaction and edit writer of the running event loop."""
    return _change_writers.setdefault(asyncio.get_running_loop(), ChangeWriter())


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MessageWriter] = (
    weakref.WeakKeyDictionary()
)


def get_writer() -> MessageWriter:
    """The message writer of the running event loop."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = MessageWriter()
    return writer


_connection_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionWriter] = (
    weakref.WeakKeyDictionary()
)


def get_connection_writer() -> ConnectionWriter:
    """The connection-row writer of the running event loop."""
    return _connection_writers.setdefault(asyncio.get_running_loop(), ConnectionWriter())

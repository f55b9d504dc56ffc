"""Group commit: messages submitted while a transaction runs are stored together in the next.

One :class:`MessageWriter` per event loop. Under load a single database transaction (one thread
hop, one commit, one fsync) stores hundreds of messages; idle, a message is written at once.
Each caller gets its result only after the transaction that holds its message has committed.
On SQLite in WAL mode the writer also checkpoints the log, off the commits (``checkpoint``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from django.db import InterfaceError, OperationalError

from django_livechat import store
from django_livechat.checkpoint import Checkpoints
from django_livechat.conf import conf

logger = logging.getLogger(__name__)


class MessageWriter:
    def __init__(self) -> None:
        self._queue: list[tuple[store.NewMessage, asyncio.Future[store.Written]]] = []
        self._task: asyncio.Task[None] | None = None
        self.checkpoints = Checkpoints()

    async def write(self, item: store.NewMessage) -> store.Written:
        """Store ``item`` (in some batch) and return its result once committed."""
        future: asyncio.Future[store.Written] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="livechat-writer")
        return await future

    async def _drain(self) -> None:
        while self._queue:
            size = conf.WRITE_BATCH_SIZE
            batch, self._queue = self._queue[:size], self._queue[size:]
            results = await self._store([item for item, _ in batch])
            self.checkpoints.after_commit()
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    @staticmethod
    async def _store(items: list[store.NewMessage]) -> list[store.Written | Exception]:
        """One result (or exception) per item. When the batch's transaction fails, nothing of
        it is stored: its messages are then stored one by one, each in its own transaction, so
        that only one the database refuses fails, not the others of the batch (of any room).
        Not when the database is unreachable (OperationalError, InterfaceError): all fail."""
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


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MessageWriter] = (
    weakref.WeakKeyDictionary()
)


def get_writer() -> MessageWriter:
    """The writer of the running event loop."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = MessageWriter()
    return writer

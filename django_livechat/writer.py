"""Group commit: messages submitted while a transaction runs are stored together in the next.

One :class:`MessageWriter` per event loop. Under load a single database transaction (one thread
hop, one commit, one fsync) stores hundreds of messages; idle, a message is written at once.
Each caller gets its result only after the transaction that holds its message has committed.
"""

from __future__ import annotations

import asyncio
import weakref

from django_livechat import store
from django_livechat.conf import conf


class MessageWriter:
    def __init__(self) -> None:
        self._queue: list[tuple[store.NewMessage, asyncio.Future[store.Written]]] = []
        self._task: asyncio.Task[None] | None = None

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
            try:
                results = await store.awrite_messages([item for item, _ in batch])
            except Exception as exc:  # the whole transaction failed: nothing of it is stored
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


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

"""Per room and process: the reads that every joining connection makes, made once for many.

A joining connection reads what its welcome shows: the latest messages, who is here, how far
the furthest readers read. The same for every joiner of a room; read for each join, the
presence scan alone is N rows per join, N^2 to fill a room of N. A joiner registers in the
room's feed first (whatever happens after that reaches it live), so any read that *starts*
after its registration serves it as well as its own would. That is the group commit again, for
reads: one read at a time per room and kind; the joiners that ask meanwhile share the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from django_livechat.fanout.feed import RoomFeed

T = TypeVar("T")


class SharedRead:
    """One kind of read of one room: the one under way, and the next one's waiters."""

    __slots__ = ("running", "waiting")

    def __init__(self) -> None:
        self.running: asyncio.Future[Any] | None = None
        self.waiting: asyncio.Future[Any] | None = None  # the next read's result


async def shared_read(feed: RoomFeed, kind: str, read: Callable[[], Awaitable[T]]) -> T:
    """``read()`` for a member already registered in ``feed``: the read that starts next,
    shared with every member that asks for the same ``kind`` until it starts (so ``read`` is
    the same for every caller of a ``kind``)."""
    shared = feed.shared.get(kind)
    if shared is None:
        shared = feed.shared[kind] = SharedRead()
    if shared.running is None:
        _start(feed, kind, shared, read, None)
        result = shared.running
    else:
        if shared.waiting is None:
            shared.waiting = asyncio.get_running_loop().create_future()
        result = shared.waiting
    assert result is not None
    return await asyncio.shield(result)


def _start(
    feed: RoomFeed,
    kind: str,
    shared: SharedRead,
    read: Callable[[], Awaitable[Any]],
    into: asyncio.Future[Any] | None,
) -> None:
    running = asyncio.ensure_future(read())
    shared.running = running

    def done(task: asyncio.Future[Any]) -> None:
        error = None if task.cancelled() else task.exception()  # retrieved, whoever waits
        if into is not None and not into.done():
            if task.cancelled():
                into.cancel()
            elif error is not None:
                into.set_exception(error)
            else:
                into.set_result(task.result())
        shared.running = None
        if shared.waiting is not None:  # asked meanwhile: registered before the next starts
            waiting, shared.waiting = shared.waiting, None
            _start(feed, kind, shared, read, waiting)
        elif feed.shared.get(kind) is shared:
            del feed.shared[kind]

    running.add_done_callback(done)

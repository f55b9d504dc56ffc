"""What every livechat consumer shares."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, markcoroutinefunction
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.db import DatabaseError

from django_livechat import events, limits, protocol
from django_livechat.conf import conf
from django_livechat.layers import (
    RETRY_DELAY_CAP,
    fallback_channel_name,
    receive_retrying,
    subscribed,
)
from django_livechat.protocol import Close

logger = logging.getLogger(__name__)


class ConsumerLife:
    """What every livechat consumer shares, sync or async: its channel layer, how it outlives
    a layer outage, and a cleanup that always runs.

    - The layer is ``LIVECHAT["CHANNEL_LAYER"]``, the one the notices are sent on.
    - In ``AsyncConsumer.__call__`` an exception from ``channel_layer.new_channel`` or
      ``channel_layer.receive`` (Redis restarted or down) ends the consumer and drops the socket;
      here the connection goes on without the layer and the receive retries with backoff (at
      most 1 s apart) until the layer is back. A group joined with :meth:`join_group` while the
      layer is down is joined once it is back, and the consumer is then dispatched a
      ``livechat.layer_back`` event: what was announced meanwhile never reached it.
    - ``disconnect()`` runs exactly once, whatever ends the consumer: the client's close, an
      exception in a handler, a cancellation (daphne cancels a consumer that outlives its
      socket by 10 s; a server shutting down cancels them all), and a cancellation does not cut
      it short. Without this, a consumer that died in ``connect()`` left its presence row, its
      per-address count and its place in the room's feed for the life of the process.
    - A frame sent to a client that is gone is dropped (uvicorn raises ``ClientDisconnected``,
      an ``OSError``; daphne drops it), and so is any frame after a close: the server queues a
      ``websocket.disconnect`` for the consumer, which cleans up then.

    A subclass that sets ``layer_channel = False`` gets no layer channel of its own (it is
    reached through the process's hub, see ``fanout.Member``); its ``channel_name`` is then a
    unique name that only identifies the connection.
    """

    layer_channel = True
    closed = False  # closed or closing: nothing more is sent to the client
    _ending: asyncio.Future[None] | None = None  # the disconnect, once started
    _groups: set[str] | None = None  # joined with join_group(), left when the consumer ends
    _rejoin: asyncio.Task[None] | None = None
    _inbox: asyncio.Queue[dict[str, Any]] | None = None  # events of the consumer's own tasks

    # What the consumer class that comes after this mixin provides.
    _sync: bool
    base_send: Any  # the ASGI send (async_to_sync'ed for a sync consumer)
    channel_layer: Any
    channel_name: str
    dispatch: Callable[[dict[str, Any]], Awaitable[None]]

    groups: Any = ()  # Channels' groups joined at connect: none (no list per instance)
    _send: Any  # the server's ASGI send

    @property
    def channel_layer_alias(self) -> str:
        return conf.CHANNEL_LAYER

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Any:
        """Channels' ``as_asgi``, whose ``app`` returns the consumer's coroutine rather than
        awaiting it: one suspended coroutine less per socket."""

        def app(scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
            return cls(**initkwargs)(scope, receive, send)

        markcoroutinefunction(app)
        app.consumer_class = cls  # type: ignore[attr-defined]
        app.consumer_initkwargs = initkwargs  # type: ignore[attr-defined]
        functools.update_wrapper(app, cls, updated=())
        return app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self._send = send
        self.base_send = async_to_sync(self._send_to_client) if self._sync else self._send_to_client
        sources = [receive]
        if self.channel_layer is not None and self.layer_channel:
            self.channel_name = await self._new_channel()
            self._inbox = asyncio.Queue()
            sources += [self._layer_receive, self._inbox.get]
        else:
            self.channel_name = f"livechat.connection.{uuid.uuid4().hex}"
        try:
            if len(sources) == 1:  # no layer channel: no task nor asyncio.wait per frame
                while True:  # (about 4.6 KiB less per idle socket, measured under uvicorn)
                    await self._dispatch(await receive())
            else:
                await await_many_dispatch(sources, self._dispatch)
        except StopConsumer:
            pass
        finally:
            await self._end(1006)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.disconnect":
            await self._end(message.get("code", 1005))
            raise StopConsumer()
        await self.dispatch(message)

    async def _end(self, code: int) -> None:
        """Run ``disconnect()`` once; a cancellation of the consumer leaves it running."""
        if self._ending is None:
            self.closed = True
            # A fresh context: a cancellation that lands in a sync consumer's handler can leave
            # the handler thread's asgiref executor (about to quit) in this task's context, and
            # a sync disconnect() would be sent to it ("CurrentThreadExecutor already quit").
            self._ending = asyncio.get_running_loop().create_task(
                self._disconnect(code), context=contextvars.Context()
            )
        await asyncio.shield(self._ending)

    async def _disconnect(self, code: int) -> None:
        if self._rejoin is not None:
            self._rejoin.cancel()
        try:
            await self.dispatch({"type": "websocket.disconnect", "code": code})
        except StopConsumer:
            pass
        except Exception:
            logger.exception("livechat: the cleanup of a closed connection failed")
        for group in self._groups or ():
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer is down: the group expires, stray events are ignored
                logger.warning("livechat: could not leave %s", group, exc_info=True)

    async def _send_to_client(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if message["type"] == "websocket.close":
            self.closed = True
        try:
            await self._send(message)
        except OSError:  # uvicorn's ClientDisconnected: the client has gone
            self.closed = True

    # -- the channel layer ------------------------------------------------------------------

    async def _new_channel(self) -> str:
        try:
            name: str = await self.channel_layer.new_channel()
        except Exception:
            logger.warning("livechat: no layer channel yet; will subscribe later", exc_info=True)
            return fallback_channel_name(self.channel_layer)
        return name

    async def _layer_receive(self) -> dict[str, Any]:
        self._receive_failures = 0
        return await receive_retrying(
            self.channel_layer, self._layer_channel, self._receive_failed, self._receive_works
        )

    async def _layer_channel(self) -> str:
        return self.channel_name

    def _receive_failed(self) -> None:
        if not self._receive_failures:  # once per outage, not once per retry
            logger.warning("livechat: layer receive failed; retrying", exc_info=True)
        self._receive_failures += 1
        self._join_groups_later()  # a restarted Redis forgot them

    def _receive_works(self) -> None:
        logger.info(
            "livechat: layer receive works again after %d failure(s)", self._receive_failures
        )

    async def join_group(self, group: str) -> None:
        """Join a layer group, now or (the layer is down) as soon as the layer is back."""
        if self._groups is None:
            self._groups = set()
        self._groups.add(group)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("livechat: could not join %s; will retry", group, exc_info=True)
            self._join_groups_later()

    def _join_groups_later(self) -> None:
        if self._groups and self._ending is None and (self._rejoin is None or self._rejoin.done()):
            self._rejoin = asyncio.create_task(self._join_groups_again())

    async def _join_groups_again(self) -> None:
        delay = 0.1
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_DELAY_CAP)
            if not subscribed(self.channel_layer, self.channel_name):
                continue  # the receive subscribes it first, or group events would be dropped
            try:
                for group in list(self._groups or ()):
                    await self.channel_layer.group_add(group, self.channel_name)
            except Exception:
                continue
            logger.info("livechat: layer groups joined again")
            if self._inbox is not None:
                self._inbox.put_nowait(events.layer_back())
            return


class LiveChatConsumer(ConsumerLife, AsyncWebsocketConsumer):
    """An ``AsyncWebsocketConsumer`` with :class:`ConsumerLife`, that skips a thread hop.

    - Channels' ``AsyncConsumer.dispatch`` closes old database connections in a thread before
      every handler. Our async consumers never use the ORM outside ``database_sync_to_async``
      (which closes them itself), so that hop per frame and per event is skipped.
    - A database error while a client frame is handled closes the socket with 4503
      (``unavailable``: retry with backoff) rather than crashing the consumer.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except DatabaseError:
            if message["type"] != "websocket.receive":
                raise
            # The database is unreachable while a frame is handled (a history or read frame):
            # close with 4503 (the client retries with backoff and resumes with ?after)
            # instead of letting the consumer crash into a bare 1006/1011.
            logger.warning("livechat: database error while handling a frame", exc_info=True)
            await self.close(code=Close.UNAVAILABLE)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=protocol.encode(frame))

    # -- the per-address connection cap -----------------------------------------------------

    client_ip: str | None = None
    _counted = False  # counted in limits.connections (released on disconnect)

    async def take_connection(self) -> bool:
        """Count this socket against ``MAX_CONNECTIONS_PER_IP``; one too many is closed with
        4429 (False)."""
        self.client_ip = limits.client_ip(self.scope)
        if self.client_ip is not None:
            if not limits.connections.take(self.client_ip):
                await self.close(code=Close.TOO_MANY_CONNECTIONS)
                return False
            self._counted = True
        return True

    def release_connection(self) -> None:
        """Give the count back (once), in ``disconnect``."""
        if self._counted and self.client_ip is not None:
            self._counted = False
            limits.connections.release(self.client_ip)

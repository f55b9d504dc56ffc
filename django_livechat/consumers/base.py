"""What every livechat consumer shares."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.db import DatabaseError

from django_livechat import protocol
from django_livechat.conf import conf
from django_livechat.fanout import fallback_channel_name, forget_failed_subscription
from django_livechat.protocol import Close

logger = logging.getLogger(__name__)


class LiveChatConsumer(AsyncWebsocketConsumer):
    """An ``AsyncWebsocketConsumer`` that survives channel layer outages and skips a thread hop.

    - Channels' ``AsyncConsumer.dispatch`` closes old database connections in a thread before
      every handler. Our async consumers never use the ORM outside ``database_sync_to_async``
      (which closes them itself), so that hop per frame and per event is skipped.
    - A database error while a client frame is handled closes the socket with 4503
      (``unavailable``: retry with backoff) rather than crashing the consumer.
    - In ``AsyncConsumer.__call__`` an exception from ``channel_layer.new_channel`` or
      ``channel_layer.receive`` (Redis restarted or down) ends the consumer and drops the socket;
      here the connection goes on without the layer (messages still arrive through the room's
      hub, which reads the database) and the receive retries with backoff (at most 1 s apart)
      until the layer is back.

    A subclass that sets ``layer_channel = False`` gets no layer channel of its own (it is
    reached through the process's hub, see ``fanout.Member``); its ``channel_name`` is then a
    unique name that only identifies the connection.
    """

    layer_channel = True

    @property
    def channel_layer_alias(self) -> str:  # type: ignore[override]
        return conf.CHANNEL_LAYER

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [receive]
        if self.channel_layer is not None and self.layer_channel:
            self.channel_name = await self._new_channel()
            sources.append(self._layer_receive)
        else:
            self.channel_name = f"livechat.connection.{uuid.uuid4().hex}"
        with contextlib.suppress(StopConsumer):
            await await_many_dispatch(sources, self.dispatch)

    async def _new_channel(self) -> str:
        try:
            return await self.channel_layer.new_channel()
        except Exception:
            logger.warning("livechat: no layer channel yet; will subscribe later", exc_info=True)
            return fallback_channel_name(self.channel_layer)

    async def _layer_receive(self) -> dict[str, Any]:
        delay = 0.1
        failures = 0
        while True:
            try:
                message = await self.channel_layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                if not failures:  # once per outage, not once per retry
                    logger.warning("livechat: layer receive failed; retrying", exc_info=True)
                failures += 1
                forget_failed_subscription(self.channel_layer, self.channel_name)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if failures:
                logger.info("livechat: layer receive works again after %d failure(s)", failures)
            return message

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

"""Build ``CHANNEL_LAYERS`` from an environment URL; outlive a layer that fails.

::

    CHANNEL_LAYERS = channel_layers_from_env()   # reads REDIS_URL

No ``REDIS_URL`` (or an empty one) gives the in-memory layer, for one process. A ``redis://`` or
``rediss://`` URL gives channels-redis' ``RedisPubSubChannelLayer``: see docs/deployment.md for
why it is the default over ``RedisChannelLayer`` (``flavour="core"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import environ

try:
    from channels_redis.pubsub import RedisPubSubChannelLayer
except ImportError:  # channels-redis is optional
    RedisPubSubChannelLayer = None

IN_MEMORY = "channels.layers.InMemoryChannelLayer"
REDIS_PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
REDIS_CORE = "channels_redis.core.RedisChannelLayer"
CORE_SOCKET_TIMEOUT = 10  # seconds; above RedisChannelLayer's 5 s BZPOPMIN
RETRY_DELAY_CAP = 1.0  # seconds between layer retries at most: a recovered layer is used soon


def channel_layers_from_url(
    url: str | None, *, flavour: Literal["pubsub", "core"] = "pubsub", prefix: str = "livechat"
) -> dict[str, dict[str, Any]]:
    """Return a ``CHANNEL_LAYERS`` dict for ``url`` (``None`` or ``""`` for in-memory)."""
    if not url:
        return {"default": {"BACKEND": IN_MEMORY}}
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://, not {url!r}")
    if flavour == "pubsub":
        return {"default": {"BACKEND": REDIS_PUBSUB, "CONFIG": {"hosts": [url], "prefix": prefix}}}
    if flavour == "core":
        # Its receive() blocks in BZPOPMIN for 5 s; redis-py 8's read timeout is 5 s too, so
        # an idle receive would fail with a timeout without a longer one.
        host = {"address": url, "socket_timeout": CORE_SOCKET_TIMEOUT}
        config = {"hosts": [host], "prefix": prefix, "capacity": 1000, "expiry": 60}
        return {"default": {"BACKEND": REDIS_CORE, "CONFIG": config}}
    raise ValueError(f"flavour must be 'pubsub' or 'core', not {flavour!r}")


def channel_layers_from_env(
    var: str = "REDIS_URL",
    *,
    env: environ.Env | None = None,
    flavour: Literal["pubsub", "core"] = "pubsub",
    prefix: str = "livechat",
) -> dict[str, dict[str, Any]]:
    """Read ``var`` with django-environ and return ``CHANNEL_LAYERS`` for it."""
    env = env or environ.Env()
    return channel_layers_from_url(env.str(var, default=""), flavour=flavour, prefix=prefix)


# -- outliving a layer that fails (channels-redis workarounds) ------------------------------


def _is_pubsub(layer: Any) -> bool:
    return RedisPubSubChannelLayer is not None and isinstance(layer, RedisPubSubChannelLayer)


def fallback_channel_name(layer: Any) -> str:
    """A channel name for ``layer`` when ``new_channel()`` failed (Redis down).

    Only RedisPubSubChannelLayer fails there (it subscribes at once); any unique name works with
    it, and ``receive()`` subscribes that name once Redis is back. Other layers re-raise.
    """
    if not _is_pubsub(layer):
        raise RuntimeError("the channel layer could not create a channel")
    return f"{layer.prefix}specific.{uuid.uuid4().hex}"


def forget_failed_subscription(layer: Any, channel: str) -> None:
    """After a failed ``receive()``: RedisPubSubChannelLayer registered the channel before it
    tried to subscribe it, and never tries again; forget it so that the next receive does."""
    if _is_pubsub(layer):
        with contextlib.suppress(Exception):
            layer.channels.pop(channel, None)


def subscribed(layer: Any, channel: str) -> bool:
    """False while RedisPubSubChannelLayer has not subscribed ``channel`` (events to it, and to
    its groups, would be dropped); True for other layers."""
    return not _is_pubsub(layer) or channel in layer.channels


async def receive_retrying(
    layer: Any,
    channel: Callable[[], Awaitable[str]],
    failed: Callable[[], None],
    works_again: Callable[[], None],
) -> dict[str, Any]:
    """The next message of ``await channel()`` on ``layer``, however long the layer fails.

    A failed receive (Redis restarted or down) calls ``failed()`` and is retried with backoff, at
    most ``RETRY_DELAY_CAP`` apart; the first success after failures calls ``works_again()``.
    """
    delay = 0.0
    while True:
        name = None
        try:
            name = await channel()
            message: dict[str, Any] = await layer.receive(name)
        except asyncio.CancelledError:
            raise
        except Exception:
            failed()
            if name is not None:
                forget_failed_subscription(layer, name)
            delay = min(delay * 2 or 0.1, RETRY_DELAY_CAP)
            await asyncio.sleep(delay)
            continue
        if delay:
            works_again()
        return message

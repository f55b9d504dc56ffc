"""Build ``CHANNEL_LAYERS`` from an environment URL.

::

    CHANNEL_LAYERS = channel_layers_from_env()   # reads REDIS_URL

No ``REDIS_URL`` (or an empty one) gives the in-memory layer, for one process. A ``redis://`` or
``rediss://`` URL gives channels-redis' ``RedisPubSubChannelLayer``: see docs/deployment.md for
why it is the default over ``RedisChannelLayer`` (``flavour="core"``).
"""

from __future__ import annotations

from typing import Any, Literal

import environ

IN_MEMORY = "channels.layers.InMemoryChannelLayer"
REDIS_PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
REDIS_CORE = "channels_redis.core.RedisChannelLayer"
CORE_SOCKET_TIMEOUT = 10  # seconds; above RedisChannelLayer's 5 s BZPOPMIN


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

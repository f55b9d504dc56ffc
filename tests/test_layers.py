"""CHANNEL_LAYERS from an environment URL."""

from __future__ import annotations

import asyncio
import os

import environ
import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from django_livechat.layers import (
    CORE_SOCKET_TIMEOUT,
    IN_MEMORY,
    REDIS_CORE,
    REDIS_PUBSUB,
    channel_layers_from_env,
    channel_layers_from_url,
)


@pytest.mark.parametrize("url", [None, ""])
def test_no_url_gives_the_in_memory_layer(url):
    assert channel_layers_from_url(url) == {"default": {"BACKEND": IN_MEMORY}}


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.example.com:6380/1", "unix:///r.sock"]
)
def test_redis_url_gives_the_pubsub_layer_with_hosts(url):
    layers = channel_layers_from_url(url)
    assert layers == {
        "default": {"BACKEND": REDIS_PUBSUB, "CONFIG": {"hosts": [url], "prefix": "livechat"}}
    }


def test_prefix():
    layers = channel_layers_from_url("redis://r:6379/0", prefix="site2")
    assert layers["default"]["CONFIG"]["prefix"] == "site2"


def test_core_flavour_gives_redis_channel_layer():
    layers = channel_layers_from_url("redis://r:6379/0", flavour="core")
    assert layers["default"]["BACKEND"] == REDIS_CORE
    assert layers["default"]["CONFIG"]["hosts"] == [
        {"address": "redis://r:6379/0", "socket_timeout": CORE_SOCKET_TIMEOUT}
    ]


async def test_core_layer_receive_outlasts_its_blocking_pop():
    """An idle receive() of the core layer waits past its 5 s BZPOPMIN, then gets a message."""
    url = os.environ.get("LIVECHAT_TEST_REDIS_URL")
    if not url:
        pytest.skip("needs Redis: set LIVECHAT_TEST_REDIS_URL (pass 2 runs it)")
    config = channel_layers_from_url(url, flavour="core", prefix="livechat-idle-test")
    layer = RedisChannelLayer(**config["default"]["CONFIG"])
    channel = await layer.new_channel()
    try:
        receive = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(layer.brpop_timeout + 1.5)  # one empty BZPOPMIN, and some
        assert not receive.done() or receive.exception() is None
        await layer.send(channel, {"type": "late"})
        assert (await asyncio.wait_for(receive, 10))["type"] == "late"
    finally:
        await layer.flush()


@pytest.mark.parametrize(
    "url", ["http://r:6379", "postgres://db/x", "127.0.0.1:6379", "redis:/r", " redis://r"]
)
def test_bad_scheme_is_a_value_error(url):
    with pytest.raises(ValueError, match="redis://"):
        channel_layers_from_url(url)


def test_unknown_flavour_is_a_value_error():
    with pytest.raises(ValueError, match="flavour"):
        channel_layers_from_url("redis://r:6379/0", flavour="cluster")


def test_backend_paths_are_the_real_classes():
    assert f"{InMemoryChannelLayer.__module__}.InMemoryChannelLayer" == IN_MEMORY
    assert f"{RedisPubSubChannelLayer.__module__}.RedisPubSubChannelLayer" == REDIS_PUBSUB
    assert f"{RedisChannelLayer.__module__}.RedisChannelLayer" == REDIS_CORE


@pytest.mark.parametrize(
    ("flavour", "cls"), [("pubsub", RedisPubSubChannelLayer), ("core", RedisChannelLayer)]
)
def test_config_is_accepted_by_the_backend(flavour, cls):
    """The CONFIG keys are real keyword arguments of the backend (no connection is made)."""
    config = channel_layers_from_url("redis://127.0.0.1:6379/0", flavour=flavour)["default"]
    cls(**config["CONFIG"])


def test_from_env_reads_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    layers = channel_layers_from_env(env=environ.Env())
    assert layers["default"]["BACKEND"] == REDIS_PUBSUB
    assert layers["default"]["CONFIG"]["hosts"] == ["redis://cache:6379/2"]


def test_from_env_with_the_default_env(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/3")
    assert channel_layers_from_env()["default"]["CONFIG"]["hosts"] == ["redis://cache:6379/3"]


@pytest.mark.parametrize("value", [None, ""])
def test_from_env_without_redis_url_is_in_memory(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", value)
    assert channel_layers_from_env(env=environ.Env()) == {"default": {"BACKEND": IN_MEMORY}}


def test_from_env_other_variable_flavour_and_prefix(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CHAT_REDIS", "rediss://cache:6380/0")
    layers = channel_layers_from_env("CHAT_REDIS", flavour="core", prefix="p")
    assert layers["default"]["BACKEND"] == REDIS_CORE
    assert layers["default"]["CONFIG"]["hosts"][0]["address"] == "rediss://cache:6380/0"
    assert layers["default"]["CONFIG"]["prefix"] == "p"


def test_from_env_bad_url_is_a_value_error(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "memcached://cache:11211")
    with pytest.raises(ValueError):
        channel_layers_from_env(env=environ.Env())


async def test_receive_retrying_outlives_a_failing_layer():
    """The one retry loop of the hub and the consumers: failures are reported, then the
    recovery once, and the message that finally arrives is returned."""
    from django_livechat.layers import receive_retrying

    class Flaky:
        calls = 0

        async def receive(self, channel):
            self.calls += 1
            if self.calls <= 2:
                raise ConnectionError("Redis is down")
            return {"type": "x", "channel": channel}

    async def channel():
        return "livechat.test!1"

    events: list[str] = []
    message = await receive_retrying(
        Flaky(), channel, lambda: events.append("failed"), lambda: events.append("back")
    )
    assert message == {"type": "x", "channel": "livechat.test!1"}
    assert events == ["failed", "failed", "back"]

"""Token buckets with a fake clock, the process-wide limiters, and the client address."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_livechat import limits
from django_livechat.conf import Rate, conf
from django_livechat.limits import RateLimiter


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def allowed(limiter: RateLimiter, key: str, times: int) -> int:
    return sum(limiter.allow(key) for _ in range(times))


def test_burst_of_count_then_refused():
    limiter = RateLimiter(Rate(3, 3), clock=Clock())
    assert [limiter.allow("u:1") for _ in range(5)] == [True, True, True, False, False]


def test_refill_is_continuous():
    clock = Clock()
    limiter = RateLimiter(Rate(10, 5), clock=clock)  # 2 tokens per second
    assert allowed(limiter, "u:1", 10) == 10
    clock.advance(0.49)
    assert not limiter.allow("u:1")  # 0.98 of a token: not yet
    clock.advance(0.02)
    assert limiter.allow("u:1")
    assert not limiter.allow("u:1")
    clock.advance(2.0)
    assert allowed(limiter, "u:1", 10) == 4


def test_refused_attempts_do_not_use_tokens():
    clock = Clock()
    limiter = RateLimiter(Rate(2, 2), clock=clock)
    assert allowed(limiter, "k", 2) == 2
    assert allowed(limiter, "k", 50) == 0
    clock.advance(1.0)
    assert limiter.allow("k")


def test_refill_stops_at_the_burst():
    clock = Clock()
    limiter = RateLimiter(Rate(3, 1), clock=clock)
    assert allowed(limiter, "k", 3) == 3
    clock.advance(3600)
    assert allowed(limiter, "k", 10) == 3


def test_keys_have_their_own_buckets():
    limiter = RateLimiter(Rate(2, 10), clock=Clock())
    assert allowed(limiter, "u:1", 5) == 2
    assert allowed(limiter, "u:2", 5) == 2


def test_sweep_drops_idle_full_buckets_only():
    clock = Clock()
    limiter = RateLimiter(Rate(5, 10), clock=clock)
    limiter.allow("idle")
    clock.advance(55)
    limiter.allow("recent")
    assert set(limiter._buckets) == {"idle", "recent"}
    clock.advance(6)  # 61 s since the limiter started: the next call sweeps
    limiter.allow("active")
    # "idle" was untouched for 61 s (>= 10 s: full again), "recent" for 6 s (still refilling).
    assert set(limiter._buckets) == {"recent", "active"}


def test_sweeping_does_not_change_what_is_allowed():
    clock = Clock()
    limiter = RateLimiter(Rate(3, 10), clock=clock)
    assert allowed(limiter, "k", 3) == 3
    clock.advance(61)  # refilled and swept
    assert allowed(limiter, "k", 5) == 3


def test_a_burst_of_100_at_one_instant_allows_exactly_the_default_count():
    rate = conf.RATE_LIMIT
    assert rate == Rate(10, 5.0)
    limiter = RateLimiter(rate, clock=Clock())
    assert allowed(limiter, "u:1", 100) == rate.count


# -- the process-wide limiters -------------------------------------------------------------


def test_limiter_is_shared_for_a_kind_and_rate():
    assert limits.limiter() is limits.limiter("message")
    assert limits.limiter("message").rate == conf.RATE_LIMIT
    assert limits.limiter("ip").rate == conf.IP_RATE_LIMIT
    assert limits.limiter("typing").rate == limits.TYPING_RATE
    assert limits.limiter("ip") is not limits.limiter("message")


@pytest.mark.parametrize("off", ["off", None, ""])
def test_limiter_is_none_when_the_rate_is_off(off):
    with override_settings(LIVECHAT={"RATE_LIMIT": off, "IP_RATE_LIMIT": off}):
        assert limits.limiter("message") is None
        assert limits.limiter("ip") is None
        assert limits.limiter("typing") is not None  # typing has a fixed allowance


def test_limiter_follows_override_settings():
    default = limits.limiter("message")
    with override_settings(LIVECHAT={"RATE_LIMIT": "2/1"}):
        strict = limits.limiter("message")
        assert strict.rate == Rate(2, 1.0)
        assert allowed(strict, "u:1", 5) == 2
    assert limits.limiter("message") is default
    assert default.rate == Rate(10, 5.0)


def test_reset_forgets_buckets():
    limiter = limits.limiter("message")
    assert allowed(limiter, "u:1", 20) == 10
    limits.reset()
    assert limits.limiter("message") is not limiter
    assert limits.limiter("message").allow("u:1")


def test_unknown_kind():
    with pytest.raises(KeyError):
        limits.limiter("upload")


# -- client_ip -----------------------------------------------------------------------------


def scope(peer="10.0.0.9", forwarded: bytes | None = None):
    headers = [(b"host", b"testserver")]
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded))
    return {"client": (peer, 5000) if peer else None, "headers": headers}


def test_client_ip_is_the_peer_without_trusted_proxies():
    assert limits.client_ip(scope(forwarded=b"1.2.3.4")) == "10.0.0.9"  # forgeable: ignored
    assert limits.client_ip(scope(peer=None)) is None
    assert limits.client_ip({}) is None


@override_settings(LIVECHAT={"TRUSTED_PROXIES": 1})
def test_client_ip_behind_one_proxy_is_the_last_forwarded_hop():
    assert limits.client_ip(scope(forwarded=b"6.6.6.6, 1.2.3.4")) == "1.2.3.4"
    assert limits.client_ip(scope(forwarded=b"1.2.3.4")) == "1.2.3.4"
    assert limits.client_ip(scope()) == "10.0.0.9"  # no header: the peer


@override_settings(LIVECHAT={"TRUSTED_PROXIES": 2})
def test_client_ip_behind_two_proxies():
    assert limits.client_ip(scope(forwarded=b"6.6.6.6,1.2.3.4, 172.16.0.1")) == "1.2.3.4"
    assert limits.client_ip(scope(forwarded=b"172.16.0.1")) == "10.0.0.9"  # too few hops


@override_settings(LIVECHAT={"TRUSTED_PROXIES": 1})
def test_client_ip_reads_several_forwarded_lines_as_one_list():
    """A proxy that appends its own X-Forwarded-For line: the client's line cannot win."""
    headers = [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"1.2.3.4")]
    assert limits.client_ip({"client": ("10.0.0.9", 1), "headers": headers}) == "1.2.3.4"


def test_request_ip_follows_trusted_proxies(rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4")
    assert limits.request_ip(request) == "10.0.0.9"
    with override_settings(LIVECHAT={"TRUSTED_PROXIES": 1}):
        assert limits.request_ip(request) == "1.2.3.4"

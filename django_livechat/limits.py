"""Rate limits: a token bucket per identity, in the memory of one server process."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from django_livechat.conf import Rate, conf

logger = logging.getLogger(__name__)

TYPING_RATE = Rate(count=5, seconds=1)
READ_RATE = Rate(count=5, seconds=1)  # the JS client sends at most one per READ_INTERVAL
REACT_RATE = Rate(count=5, seconds=1)  # reactions given or taken back
HISTORY_RATE = Rate(count=10, seconds=1)  # far above what the JS client asks (load older, gaps)
# New support conversations per client address: a script cannot fill the staff's queue.
SUPPORT_RATE = Rate(count=5, seconds=600)


class RateLimiter:
    """Token buckets keyed by identity: ``rate.count`` burst, refilled at ``rate.per_second``.

    Idle buckets are dropped once they are full again, so memory follows active identities.
    """

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, stamp)
        self._last_sweep = clock()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when there is none left."""
        now = self.clock()
        tokens, stamp = self._buckets.get(key, (float(self.rate.count), now))
        tokens = min(float(self.rate.count), tokens + (now - stamp) * self.rate.per_second)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if now - self._last_sweep > 60:
            self._sweep(now)
        return allowed

    def _sweep(self, now: float) -> None:
        full_after = self.rate.seconds
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        self._last_sweep = now


_limiters: dict[tuple[str, Rate], RateLimiter] = {}


def reset() -> None:
    """Forget every bucket and connection count (for tests)."""
    _limiters.clear()
    connections.open.clear()


def limiter(kind: str = "message") -> RateLimiter | None:
    """The process-wide limiter for ``kind``: "message", "ip", "typing", "read", "history",
    "react", "support"."""
    rate = {
        "message": conf.RATE_LIMIT,
        "ip": conf.IP_RATE_LIMIT,
        "typing": TYPING_RATE,
        "read": READ_RATE,
        "history": HISTORY_RATE,
        "react": REACT_RATE,
        "support": SUPPORT_RATE,
    }[kind]
    if rate is None:
        return None
    try:
        return _limiters[(kind, rate)]
    except KeyError:
        return _limiters.setdefault((kind, rate), RateLimiter(rate))


def allow(kind: str, key: str | None) -> bool:
    """Whether ``key`` may act now under the limiter for ``kind`` (always, without a key or a
    configured rate)."""
    bucket = limiter(kind)
    return key is None or bucket is None or bucket.allow(key)


class ConnectionCount:
    """Open room connections per client address, in this server process."""

    def __init__(self) -> None:
        self.open: collections.Counter[str] = collections.Counter()
        self.warned = False

    def take(self, address: str) -> bool:
        """Count one more connection from ``address``; False (not counted) at the limit."""
        if self.open[address] >= conf.MAX_CONNECTIONS_PER_IP:
            if not self.warned:
                self.warned = True
                logger.warning(
                    "livechat: %s has MAX_CONNECTIONS_PER_IP open connections; more are refused "
                    "(4429). Behind a proxy, set TRUSTED_PROXIES, or every client has its address.",
                    address,
                )
            return False
        self.open[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


connections = ConnectionCount()


def client_ip(scope: dict[str, Any]) -> str | None:
    """The client's address: the socket peer, or with ``TRUSTED_PROXIES = n`` the n-th
    address from the right of X-Forwarded-For (what the nearest trusted proxy saw).
    None when the server does not say (then no per-IP limit applies)."""
    peer = (scope.get("client") or (None, 0))[0]
    # Several X-Forwarded-For lines are one list, in order (RFC 9110): a proxy may append a line.
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
    ]
    return _through_proxies(peer, ",".join(forwarded))


def request_ip(request: Any) -> str | None:
    """:func:`client_ip` for a Django HTTP request (``REMOTE_ADDR``, ``X-Forwarded-For``)."""
    meta = request.META
    return _through_proxies(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR", ""))


def _through_proxies(peer: str | None, forwarded: str) -> str | None:
    depth = conf.TRUSTED_PROXIES
    if depth <= 0:
        return peer
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if len(hops) >= depth:
        return hops[-depth]
    return peer

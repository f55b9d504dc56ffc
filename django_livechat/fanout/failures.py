"""Per process: the hub's failing steps, logged once with a traceback, then reminded now and
then, and said once when they work again (a layer or database outage is not a log flood)."""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("django_livechat.fanout.hub")  # the hub's steps: its logger, as before

STILL_FAILING_EVERY = 60.0  # seconds between reminders that a failure goes on


class Failures:
    """Logs the first failure of a step with its traceback, then a reminder now and then, and
    one line when it works again."""

    def __init__(self) -> None:
        self._failing: dict[str, list[float]] = {}  # what -> [since, count, last logged]

    def failed(self, what: str) -> None:
        now = time.monotonic()
        state = self._failing.get(what)
        if state is None:
            self._failing[what] = [now, 1, now]
            logger.warning("livechat: %s failed; will retry", what, exc_info=True)
            return
        state[1] += 1
        if now - state[2] >= STILL_FAILING_EVERY:
            state[2] = now
            logger.warning(
                "livechat: %s still failing (%d failures in %.0f s)", what, state[1], now - state[0]
            )

    def succeeded(self, what: str) -> None:
        state = self._failing.pop(what, None) if self._failing else None
        if state is not None:
            logger.info(
                "livechat: %s works again, after %d failure(s) in %.1f s",
                what,
                state[1],
                time.monotonic() - state[0],
            )

    def __contains__(self, what: str) -> bool:
        return what in self._failing

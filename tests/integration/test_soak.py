"""A short soak (tests/integration/soak.py; ``make soak`` runs the long one): 10,000 messages
through uvicorn and daphne while each of them and Redis is SIGKILLed and started again, clients
reconnect at random, a staff client deletes messages and locks a room for a while."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.harness import staff_cookie
from tests.integration.soak import Plan, Soak

pytestmark = pytest.mark.integration


async def test_short_soak_loses_duplicates_and_reorders_nothing(database, private_redis, servers):
    secret = {"SECRET_KEY": "integration-soak-" + uuid.uuid4().hex}  # one session signer
    a = await servers.start("uvicorn", database.url, private_redis.url, name="a", **secret)
    b = await servers.start("daphne", database.url, private_redis.url, name="b", **secret)
    staff = staff_cookie(database.url, secret["SECRET_KEY"])
    plan = Plan(
        messages=10_000,
        rooms=10,
        per_room=4,
        churn=4.0,  # each client reconnects every 4 s on average
        deletions=10,
        timeout=150,
        settle=30,
        memory_growth=None,  # too short to tell; make soak checks it
    )
    soak = Soak(plan, database, [a, b], private_redis, staff)
    report = await soak.run()
    print("\n[short soak] " + "\n".join(report.lines()))
    assert report.failures() == {}
    # Everything the soak claims to do happened.
    assert soak.faults_done == [action for _, action in soak._schedule()]
    assert (a.starts, b.starts) == (2, 2)
    assert report.counts["stored"] == report.counts["acknowledged"] == plan.messages
    assert report.counts["deleted"] >= 5
    assert report.counts["connections"] > 2 * len(soak.everyone)  # churn and kills
    assert report.rss and all(len(samples) == 2 for samples in report.rss.values())

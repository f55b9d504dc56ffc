"""The example site's settings, as the benchmark serves them.

Everything comes from ``example_site/example_site/settings.py`` (with ``DEBUG=false`` and
``LIVECHAT_RATE_LIMIT=off`` in the environment). Two things are set here:

- ``IP_RATE_LIMIT`` off unless ``LIVECHAT_IP_RATE_LIMIT`` says otherwise: every benchmark client
  connects from 127.0.0.1, and the example site's default ("30/5" per address) would refuse
  almost every message; and ``MAX_CONNECTIONS_PER_IP`` high, for the same reason;
- the Redis layer's ``prefix``, unique per run (``BENCH_LAYER_PREFIX``), so that a run never
  sees another run's (or a test's) pub/sub traffic.
"""

import os

from django_livechat.layers import channel_layers_from_url
from example_site.settings import *  # noqa: F403
from example_site.settings import LIVECHAT

LIVECHAT = {
    **LIVECHAT,
    "IP_RATE_LIMIT": os.environ.get("LIVECHAT_IP_RATE_LIMIT", "off"),
    "MAX_CONNECTIONS_PER_IP": 100_000,  # the idle scenario opens 3,000 sockets from 127.0.0.1
}
CHANNEL_LAYERS = channel_layers_from_url(
    os.environ.get("REDIS_URL", ""), prefix=os.environ.get("BENCH_LAYER_PREFIX", "livechat")
)

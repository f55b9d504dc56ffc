"""Settings of the integration tests' server processes: example_site's, with test knobs.

The servers run with ``DJANGO_SETTINGS_MODULE=tests.integration.settings`` and
``PYTHONPATH=<repo>/example_site:<repo>``. Everything example_site reads from the environment
still applies (DATABASE_URL, REDIS_URL, LIVECHAT_RATE_LIMIT, DEBUG, SECRET_KEY, ALLOWED_HOSTS);
on top of it:

- ``LIVECHAT_IT_LAYER``: ``pubsub`` (default) or ``core``, the channels-redis layer;
- ``LIVECHAT_IT_PREFIX``: the layer's key prefix, so that runs sharing one Redis stay apart;
- ``LIVECHAT_IT_GROUP_EXPIRY``: ``group_expiry`` of the core layer, in seconds;
- ``LIVECHAT_IT_<NAME>`` for the LIVECHAT timings below (seconds);
- ``LIVECHAT_IT_<NAME>`` for the LIVECHAT counts below: ``MAX_CONNECTIONS_PER_IP``,
  ``MAX_CONNECTIONS_PER_IDENTITY``, ``PRESENCE_LIST_MAX``, ``READ_LIST_MAX``.
"""

import os

from django_livechat.layers import channel_layers_from_url
from example_site.settings import *  # noqa: F403
from example_site.settings import LIVECHAT

CHANNEL_LAYERS = channel_layers_from_url(
    os.environ.get("REDIS_URL", ""),
    flavour=os.environ.get("LIVECHAT_IT_LAYER", "pubsub"),
    prefix=os.environ.get("LIVECHAT_IT_PREFIX", "livechat"),
)
if os.environ.get("LIVECHAT_IT_GROUP_EXPIRY"):
    CHANNEL_LAYERS["default"]["CONFIG"]["group_expiry"] = int(
        os.environ["LIVECHAT_IT_GROUP_EXPIRY"]
    )

TIMINGS = (
    "PRESENCE_HEARTBEAT",
    "PRESENCE_TIMEOUT",
    "RECONCILE_INTERVAL",
    "GAP_GRACE",
    "GROUP_REFRESH_INTERVAL",
)
LIMITS = (
    "MAX_CONNECTIONS_PER_IP",
    "MAX_CONNECTIONS_PER_IDENTITY",
    "PRESENCE_LIST_MAX",
    "READ_LIST_MAX",
)

LIVECHAT = {
    **LIVECHAT,
    # Every client of the tests connects from 127.0.0.1: a per-address limit would refuse them.
    "IP_RATE_LIMIT": os.environ.get("LIVECHAT_IT_IP_RATE_LIMIT", "off"),
    **{
        name: float(os.environ[f"LIVECHAT_IT_{name}"])
        for name in TIMINGS
        if os.environ.get(f"LIVECHAT_IT_{name}")
    },
    **{
        name: int(os.environ[f"LIVECHAT_IT_{name}"])
        for name in LIMITS
        if os.environ.get(f"LIVECHAT_IT_{name}")
    },
}

# Plain http:// on loopback: no redirect to https (DEBUG=false turns it on in example_site).
SECURE_SSL_REDIRECT = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_livechat": {"handlers": ["console"], "level": "INFO"},
        # "read from the database" lines: what the layer did not bring (counted by the tests)
        "django_livechat.fanout": {"level": "DEBUG"},
        "channels_redis": {"handlers": ["console"], "level": "INFO"},
    },
}

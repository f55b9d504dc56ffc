"""Settings of the baseline project: the tutorial's, with the same channel layer as the example
site (in-memory, or ``RedisPubSubChannelLayer`` from ``REDIS_URL``) and the same middleware."""

import os

from django_livechat.layers import channel_layers_from_url

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "benchmark-baseline-only")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
]
ASGI_APPLICATION = "benchmarks.baseline.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BASELINE_DB", ":memory:"),
    }
}
CHANNEL_LAYERS = channel_layers_from_url(
    os.environ.get("REDIS_URL", ""), prefix=os.environ.get("BENCH_LAYER_PREFIX", "baseline")
)
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

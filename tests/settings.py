"""Test settings: SQLite + in-memory layer, or PostgreSQL + Redis when the env asks for them.

LIVECHAT_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/livechat
LIVECHAT_TEST_REDIS_URL=redis://127.0.0.1:6379/0
"""

import os
import tempfile
import uuid
from pathlib import Path

import environ

from django_livechat.layers import channel_layers_from_url

BASE_DIR = Path(__file__).resolve().parent
env = environ.Env()

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_livechat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"
ASGI_APPLICATION = "tests.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
# Attachments: a directory of this process (tests that store files point MEDIA_ROOT at their
# tmp_path: the ``media`` fixture of conftest.py).
MEDIA_ROOT = str(Path(tempfile.gettempdir()) / f"livechat-test-media-{os.getpid()}")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

DATABASE_URL = os.environ.get("LIVECHAT_TEST_DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": env.db_url_config(DATABASE_URL)}
    DATABASES["default"]["TEST"] = {"NAME": f"test_livechat_{os.getpid()}"}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(BASE_DIR / "db.sqlite3"),
            # A file, not :memory:, so the thread of database_sync_to_async sees the same data.
            "TEST": {"NAME": str(BASE_DIR / f"test-{os.getpid()}.sqlite3")},
            # As example_site and the docs say (check W003): the writer thread and the
            # database thread write at once; deferred transactions fail with "database is locked".
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
        }
    }

REDIS_URL = os.environ.get("LIVECHAT_TEST_REDIS_URL")
CHANNEL_LAYERS = channel_layers_from_url(
    REDIS_URL,
    flavour=os.environ.get("LIVECHAT_TEST_LAYER", "pubsub"),
    prefix=f"lctest{uuid.uuid4().hex[:8]}",
)

LIVECHAT = {
    "ALLOW_ANONYMOUS": True,
    "RECONCILE_INTERVAL": 0.2,
    "GAP_GRACE": 0.1,
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

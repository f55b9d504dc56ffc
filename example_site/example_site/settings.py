"""Settings of the example site: every value comes from the environment, with defaults that run.

Defaults: SQLite next to this file, the in-memory channel layer, DEBUG on. For several
processes, set DATABASE_URL (PostgreSQL) and REDIS_URL (channels-redis); see docs/deployment.md.
"""

from pathlib import Path

import environ

from django_livechat.layers import channel_layers_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, True),
    SECRET_KEY=(str, "django-insecure-example-site-only-change-me"),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost"]),
    DATABASE_URL=(str, f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
    REDIS_URL=(str, ""),
    REDIS_LAYER=(str, "pubsub"),
    LIVECHAT_RATE_LIMIT=(str, "10/5"),
    LIVECHAT_IP_RATE_LIMIT=(str, "30/5"),
    LIVECHAT_TRUSTED_PROXIES=(int, 0),
    CSRF_TRUSTED_ORIGINS=(list, []),
    MEDIA_ROOT=(str, str(BASE_DIR / "media")),
    # Web Push: `manage.py livechat_vapid` makes the keys; empty keys turn push off.
    LIVECHAT_VAPID_PUBLIC_KEY=(str, ""),
    LIVECHAT_VAPID_PRIVATE_KEY=(str, ""),
    LIVECHAT_VAPID_SUBJECT=(str, "mailto:admin@example.com"),
    LIVECHAT_NOTIFY_DELAY=(float, 600),
    LIVECHAT_NOTIFY_INTERVAL=(float, 3600),
    LIVECHAT_NOTIFY_POLL=(float, 30),
    LIVECHAT_SITE_URL=(str, "http://127.0.0.1:8000"),
)

DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",  # first: its runserver serves ASGI, WebSockets included
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_livechat",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_site.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "example_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The site's own templates come first: templates/django_livechat/base.html overrides
        # the app's layout, which is how a host restyles the chat.
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL")}
# Keep connections open between the consumers' database calls: opening and closing one per
# call costs a connection (and, on SQLite, a WAL checkpoint) per message.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; the writer commits in groups (see writer.py).
    # The chat's hub checkpoints the log in a thread (LIVECHAT["SQLITE_CHECKPOINT_INTERVAL"]);
    # SQLite's own checkpoint, which stalls the commit that runs it, is left for a log of 10,000
    # pages (40 MB) instead of 1,000: it happens a tenth as often. synchronous=FULL: a message is
    # acknowledged once its commit is on disk (NORMAL would lose the last commits on a power cut).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["init_command"] = (
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=10000;"
    )
    # Transactions take the write lock when they begin: one that read first and then writes
    # would otherwise fail at once ("database is locked") when another commit came in between.
    options["transaction_mode"] = "IMMEDIATE"

CHANNEL_LAYERS = channel_layers_from_env("REDIS_URL", env=env, flavour=env("REDIS_LAYER"))

LIVECHAT = {
    "ALLOW_ANONYMOUS": True,
    "RATE_LIMIT": env("LIVECHAT_RATE_LIMIT"),
    "IP_RATE_LIMIT": env("LIVECHAT_IP_RATE_LIMIT"),
    "TRUSTED_PROXIES": env("LIVECHAT_TRUSTED_PROXIES"),  # 1 behind one nginx
    "VAPID_PUBLIC_KEY": env("LIVECHAT_VAPID_PUBLIC_KEY"),
    "VAPID_PRIVATE_KEY": env("LIVECHAT_VAPID_PRIVATE_KEY"),
    "VAPID_SUBJECT": env("LIVECHAT_VAPID_SUBJECT"),
    # Notifications: an unread direct message or mention is e-mailed (and pushed) after this many
    # seconds (10 in `make demo`'s docs: LIVECHAT_NOTIFY_DELAY=10).
    "NOTIFY_DELAY": env("LIVECHAT_NOTIFY_DELAY"),
    "NOTIFY_INTERVAL": env("LIVECHAT_NOTIFY_INTERVAL"),
    "NOTIFY_POLL": env("LIVECHAT_NOTIFY_POLL"),
}
# The links of the notification e-mails are made absolute with it.
LIVECHAT_SITE_URL = env("LIVECHAT_SITE_URL")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Chat attachments (LIVECHAT["ATTACHMENT_STORAGE"], "default"). No MEDIA_URL is served: the
# files are served by django_livechat's views, to the room's readers only.
MEDIA_ROOT = env("MEDIA_ROOT")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/chat/inbox/"
LOGOUT_REDIRECT_URL = "/"

# E-mail (the notification digests, the offline notice): EMAIL_URL, e.g. smtp://127.0.0.1:2525
# for a local server (`python -m aiosmtpd -n -l 127.0.0.1:2525`); the console by default.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="chat@example.com")

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_livechat": {"handlers": ["console"], "level": "INFO"}},
}

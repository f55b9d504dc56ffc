"""System checks: each id comes from its bad setting, not from good ones, and says the fix."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_livechat import checks

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:6379/0"]},
    }
}
RUNSERVER = ["manage.py", "runserver"]


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def all_checks(argv=None):
    return (
        checks.check_channel_layers()
        + checks.check_asgi_application()
        + checks.check_runserver(argv=argv)
        + checks.check_settings()
    )


@override_settings(CHANNEL_LAYERS=REDIS, LIVECHAT={})
def test_good_settings_give_nothing():
    assert all_checks(argv=RUNSERVER) == []


# -- channel layers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "livechat"),
    [
        ({}, {}),
        (None, {}),
        (REDIS, {"CHANNEL_LAYER": "chat"}),  # the app's alias is missing
    ],
)
def test_e001_missing_channel_layer(layers, livechat):
    with override_settings(CHANNEL_LAYERS=layers, LIVECHAT=livechat):
        result = checks.check_channel_layers()
    assert ids(result) == ["django_livechat.E001"]
    assert isinstance(result[0], Error) and result[0].hint


def test_e001_not_raised_for_a_custom_alias_that_exists():
    layers = {"chat": IN_MEMORY["default"]}
    with override_settings(CHANNEL_LAYERS=layers, LIVECHAT={"CHANNEL_LAYER": "chat"}, DEBUG=True):
        assert checks.check_channel_layers() == []


def test_w001_in_memory_layer_without_debug():
    with override_settings(CHANNEL_LAYERS=IN_MEMORY, DEBUG=False):
        result = checks.check_channel_layers()
    assert ids(result) == ["django_livechat.W001"]
    assert isinstance(result[0], Warning) and result[0].hint


@pytest.mark.parametrize(("layers", "debug"), [(IN_MEMORY, True), (REDIS, False)])
def test_w001_not_raised_with_debug_or_redis(layers, debug):
    with override_settings(CHANNEL_LAYERS=layers, DEBUG=debug):
        assert checks.check_channel_layers() == []


# -- ASGI application ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_e002_no_asgi_application(value):
    with override_settings(ASGI_APPLICATION=value):
        result = checks.check_asgi_application()
    assert ids(result) == ["django_livechat.E002"]
    assert result[0].hint


def test_e002_not_raised_when_set():
    assert settings.ASGI_APPLICATION
    assert checks.check_asgi_application() == []


# -- runserver -----------------------------------------------------------------------------

APPS_WITHOUT_DAPHNE = [app for app in settings.INSTALLED_APPS if app != "daphne"]


def test_e003_runserver_without_daphne():
    with override_settings(INSTALLED_APPS=APPS_WITHOUT_DAPHNE):
        result = checks.check_runserver(argv=RUNSERVER)
    assert ids(result) == ["django_livechat.E003"]
    assert result[0].hint


def test_e004_daphne_after_staticfiles():
    apps = APPS_WITHOUT_DAPHNE + ["daphne"]
    assert apps.index("django.contrib.staticfiles") < apps.index("daphne")
    with override_settings(INSTALLED_APPS=apps):
        result = checks.check_runserver(argv=RUNSERVER)
    assert ids(result) == ["django_livechat.E004"]
    assert result[0].hint


def test_runserver_check_passes_with_daphne_first():
    assert settings.INSTALLED_APPS[0] == "daphne"
    assert checks.check_runserver(argv=RUNSERVER) == []


@pytest.mark.parametrize("argv", [["manage.py", "migrate"], ["manage.py"], [], ["pytest"]])
def test_runserver_check_is_silent_for_other_commands(argv):
    with override_settings(INSTALLED_APPS=APPS_WITHOUT_DAPHNE):
        assert checks.check_runserver(argv=argv) == []


def test_runserver_check_reads_sys_argv_by_default(monkeypatch):
    with override_settings(INSTALLED_APPS=APPS_WITHOUT_DAPHNE):
        monkeypatch.setattr("sys.argv", RUNSERVER)
        assert ids(checks.check_runserver()) == ["django_livechat.E003"]
        monkeypatch.setattr("sys.argv", ["manage.py", "shell"])
        assert checks.check_runserver() == []


# -- the LIVECHAT dict ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [["ALLOW_ANONYMOUS"], "yes", 1])
def test_e005_livechat_not_a_dict(value):
    with override_settings(LIVECHAT=value):
        result = checks.check_settings()
        assert ids(result) == ["django_livechat.E005"]
        assert result[0].hint
        # The layer check must not crash on it either.
        assert "django_livechat.E001" not in ids(checks.check_channel_layers())


def test_e006_unknown_key():
    with override_settings(LIVECHAT={"MAX_BODY_LENGHT": 10, "ALLOW_ANONYMOUS": True}):
        result = checks.check_settings()
    assert ids(result) == ["django_livechat.E006"]
    assert "MAX_BODY_LENGHT" in result[0].msg
    assert "MAX_BODY_LENGTH" in result[0].hint  # the hint lists the known keys


@pytest.mark.parametrize(
    ("livechat", "check_id"),
    [
        ({"RATE_LIMIT": "fast"}, "E007"),
        ({"IP_RATE_LIMIT": "0/5"}, "E007"),
        ({"RATE_LIMIT": ["10/5"]}, "E007"),
        ({"TRUSTED_PROXIES": -1}, "E008"),
        ({"TRUSTED_PROXIES": "1"}, "E008"),
        ({"TRUSTED_PROXIES": True}, "E008"),
        ({"SQLITE_CHECKPOINT_INTERVAL": -1}, "E009"),
        ({"SQLITE_CHECKPOINT_INTERVAL": "0.5"}, "E009"),
        ({"MAX_BODY_LENGTH": 0}, "E010"),
        ({"MAX_FRAME_BYTES": -5}, "E010"),
        ({"WELCOME_MESSAGES": "50"}, "E010"),
        ({"HISTORY_PAGE_SIZE": None}, "E010"),
        ({"RECONCILE_INTERVAL": False}, "E010"),
        ({"WRITE_BATCH_SIZE": 0}, "E010"),
        ({"MAX_CONNECTIONS_PER_IDENTITY": 0}, "E010"),
        ({"MAX_CONNECTIONS_PER_IP": -1}, "E010"),
        ({"PUSH_SERVICES": None}, "E012"),
        ({"PUSH_SERVICES": ["https://fcm.googleapis.com/"]}, "E012"),
        ({"PUSH_SERVICES": [""]}, "E012"),
        ({"PUSH_SERVICES": {"fcm.googleapis.com": True}}, "E012"),
    ],
)
def test_bad_values_each_have_their_check_id(livechat, check_id):
    with override_settings(LIVECHAT=livechat):
        result = checks.check_settings()
    assert ids(result) == [f"django_livechat.{check_id}"]
    assert isinstance(result[0], Error) and result[0].hint


@pytest.mark.parametrize(
    "path", ["django_livechat.nowhere.users", "no_such_module", "django_livechat.conf.DEFAULTS"]
)
def test_e011_direct_message_users_must_import_a_callable(path):
    with override_settings(LIVECHAT={"DIRECT_MESSAGE_USERS": path}):
        result = checks.check_settings()
    assert ids(result) == ["django_livechat.E011"]
    assert path in result[0].msg and "QuerySet" in result[0].hint


@pytest.mark.parametrize("value", [None, "django_livechat.conf.parse_rate", len])
def test_e011_not_raised_for_a_callable_or_none(value):
    with override_settings(LIVECHAT={"DIRECT_MESSAGE_USERS": value}):
        assert checks.check_settings() == []


def test_every_bad_value_is_reported():
    with override_settings(LIVECHAT={"RATE_LIMIT": "x", "MAX_BODY_LENGTH": 0, "GAP_GRACE": -1}):
        assert sorted(ids(checks.check_settings())) == [
            "django_livechat.E007",
            "django_livechat.E010",
            "django_livechat.E010",
        ]


def test_check_ids_are_unique_to_one_check():
    """Silencing one check id must not silence another check."""
    import re
    from pathlib import Path

    source = Path(checks.__file__).read_text()
    found = re.findall(r'id="(django_livechat\.[EW]\d{3})"', source)
    assert found and len(found) == len(set(found))


@pytest.mark.parametrize(
    "livechat",
    [
        {},
        {"RATE_LIMIT": None, "IP_RATE_LIMIT": "off"},
        {"RATE_LIMIT": "1/0.5", "TRUSTED_PROXIES": 2, "GAP_GRACE": 0.05},
        {"SQLITE_CHECKPOINT_INTERVAL": 0},
        {"SQLITE_CHECKPOINT_INTERVAL": None},
    ],
)
def test_check_settings_accepts_good_values(livechat):
    with override_settings(LIVECHAT=livechat):
        assert checks.check_settings() == []


def test_w002_presence_timeout_below_twice_the_heartbeat():
    with override_settings(LIVECHAT={"PRESENCE_HEARTBEAT": 10, "PRESENCE_TIMEOUT": 19}):
        result = checks.check_settings()
    assert ids(result) == ["django_livechat.W002"]
    assert isinstance(result[0], Warning) and result[0].hint


def test_w002_not_raised_at_exactly_twice():
    with override_settings(LIVECHAT={"PRESENCE_HEARTBEAT": 10, "PRESENCE_TIMEOUT": 20}):
        assert checks.check_settings() == []


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_w003_sqlite_with_deferred_transactions():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"}
    with override_settings(DATABASES={"default": sqlite}):
        result = checks.check_sqlite()
    assert ids(result) == ["django_livechat.W003"]
    assert "IMMEDIATE" in result[0].hint


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_w003_not_raised_for_immediate_sqlite_or_postgresql():
    immediate = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "x.sqlite3",
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
    postgres = {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}
    with override_settings(DATABASES={"default": immediate, "other": postgres}):
        assert checks.check_sqlite() == []


# -- registration --------------------------------------------------------------------------


@pytest.mark.django_db  # Django 6.1's model checks ask the database's features
def test_checks_are_registered_and_run_by_manage_py_check():
    with override_settings(ASGI_APPLICATION=None), pytest.raises(SystemCheckError) as info:
        call_command("check")
    assert "django_livechat.E002" in str(info.value)


@pytest.mark.django_db  # Django 6.1's model checks ask the database's features
def test_manage_py_check_prints_warnings():
    out, err = StringIO(), StringIO()
    with override_settings(LIVECHAT={"PRESENCE_HEARTBEAT": 10, "PRESENCE_TIMEOUT": 11}):
        call_command("check", stdout=out, stderr=err)
    assert "django_livechat.W002" in out.getvalue() + err.getvalue()


@pytest.mark.parametrize("value", ["fcm.googleapis.com", [".push.example.com"], ()])
def test_e012_not_raised_for_host_names(value):
    with override_settings(LIVECHAT={"PUSH_SERVICES": value}):
        assert checks.check_settings() == []

"""The ``LIVECHAT`` settings: defaults, typed properties, and no cache between overrides."""

from __future__ import annotations

import pytest
from django.test import override_settings

from django_livechat.conf import DEFAULTS, Rate, Settings, conf, parse_rate

PROPERTIES = sorted(name for name, value in vars(Settings).items() if isinstance(value, property))


def test_every_default_has_a_property_and_every_property_a_default():
    assert set(PROPERTIES) == set(DEFAULTS)


@override_settings(LIVECHAT={})
def test_defaults_when_livechat_is_empty():
    assert conf.ALLOW_ANONYMOUS is False
    assert Rate(10, 5.0) == conf.RATE_LIMIT
    assert Rate(30, 5.0) == conf.IP_RATE_LIMIT
    assert conf.TRUSTED_PROXIES == 0
    assert conf.MAX_CONNECTIONS_PER_IDENTITY == 20
    assert conf.MAX_CONNECTIONS_PER_IP == 200
    assert conf.MAX_BODY_LENGTH == 2000
    assert conf.MAX_FRAME_BYTES == 16384
    assert conf.WELCOME_MESSAGES == 50
    assert conf.BACKLOG_PAGE_SIZE == 500
    assert conf.HISTORY_PAGE_SIZE == 100
    assert conf.PRESENCE_HEARTBEAT == 15.0
    assert conf.PRESENCE_TIMEOUT == 45.0
    assert conf.RECONCILE_INTERVAL == 2.0
    assert conf.GAP_GRACE == 0.5
    assert conf.GROUP_REFRESH_INTERVAL == 600.0
    assert conf.WRITE_BATCH_SIZE == 500
    assert conf.SQLITE_CHECKPOINT_INTERVAL == 0.5
    assert conf.CHANNEL_LAYER == "default"
    assert conf.SUPPORT_ALLOW_ANONYMOUS is True
    assert conf.SUPPORT_EMAILS is None
    assert conf.SUPPORT_HOURS_TEXT == ""


def test_defaults_when_livechat_is_not_set(settings):
    del settings.LIVECHAT
    assert conf.ALLOW_ANONYMOUS is False
    assert DEFAULTS["MAX_BODY_LENGTH"] == conf.MAX_BODY_LENGTH


def test_tests_settings_are_seen():
    """tests/settings.py sets three keys; the others keep their defaults."""
    assert conf.ALLOW_ANONYMOUS is True
    assert conf.RECONCILE_INTERVAL == 0.2
    assert conf.GAP_GRACE == 0.1
    assert conf.MAX_BODY_LENGTH == 2000


USER_VALUES = {
    "ALLOW_ANONYMOUS": (1, True),
    "RATE_LIMIT": ("3/2", Rate(3, 2.0)),
    "IP_RATE_LIMIT": ("off", None),
    "TRUSTED_PROXIES": (2, 2),
    "MAX_CONNECTIONS_PER_IDENTITY": (3, 3),
    "MAX_CONNECTIONS_PER_IP": (4, 4),
    "MAX_BODY_LENGTH": (10, 10),
    "MAX_FRAME_BYTES": (100, 100),
    "WELCOME_MESSAGES": (5, 5),
    "BACKLOG_PAGE_SIZE": (7, 7),
    "HISTORY_PAGE_SIZE": (9, 9),
    "READ_INTERVAL": (2, 2.0),
    "INBOX_INTERVAL": (3, 3.0),
    "READ_LIST_MAX": (6, 6),
    "PRESENCE_INTERVAL": (0.25, 0.25),
    "PRESENCE_LIST_MAX": (8, 8),
    "PRESENCE_HEARTBEAT": (1, 1.0),
    "PRESENCE_TIMEOUT": (3, 3.0),
    "RECONCILE_INTERVAL": (0.5, 0.5),
    "GAP_GRACE": (1, 1.0),
    "GROUP_REFRESH_INTERVAL": (30, 30.0),
    "WRITE_BATCH_SIZE": (4, 4),
    "SQLITE_CHECKPOINT_INTERVAL": (None, 0.0),
    "CHANNEL_LAYER": ("other", "other"),
    "SUPPORT_ALLOW_ANONYMOUS": (0, False),
    "SUPPORT_EMAILS": (("a@example.com", "b@example.com"), ["a@example.com", "b@example.com"]),
    "SUPPORT_HOURS_TEXT": ("Mon-Fri", "Mon-Fri"),
    "DIRECT_MESSAGE_USERS": ("django_livechat.conf.parse_rate", parse_rate),
    "EDIT_WINDOW": (60, 60.0),
    "CHANGE_INTERVAL": (2, 2.0),
    "NOTIFY_DELAY": (5, 5.0),
    "NOTIFY_INTERVAL": (60, 60.0),
    "NOTIFY_POLL": (0, 0.0),
    "RETENTION_DAYS": (30, 30),
    "VAPID_PUBLIC_KEY": ("pub", "pub"),
    "VAPID_PRIVATE_KEY": ("priv", "priv"),
    "VAPID_SUBJECT": ("mailto:a@example.com", "mailto:a@example.com"),
    "PUSH_SERVICES": (
        [" Push.Example.com. ", ".notify.windows.com"],
        ("push.example.com", ".notify.windows.com"),
    ),
    "EDIT_BY_MODERATORS": (1, True),
    "ATTACHMENT_MAX_BYTES": (1000, 1000),
    "ATTACHMENT_DAILY_BYTES": (5000, 5000),
    "ATTACHMENTS_PER_MESSAGE": (2, 2),
    "ATTACHMENTS_ALLOW_ANONYMOUS": (1, True),
    "ATTACHMENT_STORAGE": ("files", "files"),
}


def test_user_values_cover_every_property():
    assert set(USER_VALUES) == set(PROPERTIES)


@pytest.mark.parametrize("name", PROPERTIES)
def test_each_property_reads_the_user_value_with_its_type(name):
    raw, expected = USER_VALUES[name]
    with override_settings(LIVECHAT={name: raw}):
        value = getattr(conf, name)
        assert value == expected
        assert type(value) is type(expected)


def test_override_settings_changes_conf_with_no_cache_to_clear():
    before = conf.MAX_BODY_LENGTH
    with override_settings(LIVECHAT={"MAX_BODY_LENGTH": 12, "RATE_LIMIT": "1/1"}):
        assert conf.MAX_BODY_LENGTH == 12
        assert Rate(1, 1.0) == conf.RATE_LIMIT
        with override_settings(LIVECHAT={"MAX_BODY_LENGTH": 13}):
            assert conf.MAX_BODY_LENGTH == 13
            assert Rate(10, 5.0) == conf.RATE_LIMIT  # the inner dict replaces the outer one
        assert conf.MAX_BODY_LENGTH == 12
    assert before == conf.MAX_BODY_LENGTH


def test_a_fresh_settings_object_agrees_with_conf():
    with override_settings(LIVECHAT={"WELCOME_MESSAGES": 3}):
        assert Settings().WELCOME_MESSAGES == conf.WELCOME_MESSAGES == 3


def test_support_emails_given_as_one_string_is_one_address():
    """A plain string (a common slip for a one-item list) must not become a list of letters."""
    with override_settings(LIVECHAT={"SUPPORT_EMAILS": "ops@example.com"}):
        assert conf.SUPPORT_EMAILS == ["ops@example.com"]


def test_support_hours_text_none_is_empty():
    with override_settings(LIVECHAT={"SUPPORT_HOURS_TEXT": None}):
        assert conf.SUPPORT_HOURS_TEXT == ""


# -- parse_rate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/5", Rate(10, 5.0)),
        ("1/0.5", Rate(1, 0.5)),
        (" 3 / 2s ", Rate(3, 2.0)),
        ("100/60s", Rate(100, 60.0)),
    ],
)
def test_parse_rate_accepts(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", [None, "", "  ", "off", "OFF", " Off ", "none"])
def test_parse_rate_off(text):
    assert parse_rate(text) is None


@pytest.mark.parametrize(
    "garbage",
    [
        "10",
        "ten/5",
        "10/",
        "/5",
        "10/5/3",
        "0/5",
        "10/0",
        "10/0.0",
        "-1/5",
        "10/-5",
        "10 per 5",
        "10/5m",
        "1.5/5",
        "yes",
        10,
        True,
    ],
)
def test_parse_rate_rejects_garbage_with_value_error(garbage):
    with pytest.raises(ValueError, match="is not a rate"):
        parse_rate(garbage)


@pytest.mark.parametrize("unhashable", [["10/5"], {"count": 10}])
def test_parse_rate_rejects_unhashable_values_with_value_error(unhashable):
    """The check of E007 catches ValueError only: anything else would crash `manage.py check`."""
    with pytest.raises(ValueError):
        parse_rate(unhashable)


def test_rate_per_second():
    assert Rate(10, 5).per_second == 2.0
    assert Rate(1, 0.5).per_second == 2.0


# -- DIRECT_MESSAGE_USERS ------------------------------------------------------------------


def test_direct_message_users_is_none_by_default_and_imports_a_path():
    assert conf.DIRECT_MESSAGE_USERS is None
    with override_settings(LIVECHAT={"DIRECT_MESSAGE_USERS": "django_livechat.conf.parse_rate"}):
        assert conf.DIRECT_MESSAGE_USERS is parse_rate
    with override_settings(LIVECHAT={"DIRECT_MESSAGE_USERS": parse_rate}):  # or the callable
        assert conf.DIRECT_MESSAGE_USERS is parse_rate


@pytest.mark.parametrize(
    "bad", ["django_livechat.conf.nothing", "nowhere.at_all", "django_livechat.conf.DEFAULTS"]
)
def test_direct_message_users_that_does_not_import_raises_import_error(bad):
    with override_settings(LIVECHAT={"DIRECT_MESSAGE_USERS": bad}), pytest.raises(ImportError):
        _ = conf.DIRECT_MESSAGE_USERS

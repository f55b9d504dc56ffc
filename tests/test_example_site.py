"""The example site as deployed: `check --deploy` is clean with production env values."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

SITE = Path(__file__).resolve().parents[1] / "example_site"


def manage(*args, **env):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_site.settings",
        "PYTHONPATH": str(SITE.parent),
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SITE,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_deploy(redis_url: str):
    """``check --deploy`` of example_site with production values and ``REDIS_URL``."""
    return manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(60),
        ALLOWED_HOSTS="chat.example.com",
        REDIS_URL=redis_url,
    )


def test_check_deploy_is_clean_with_production_values():
    result = check_deploy("redis://127.0.0.1:6379/0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_in_memory_layer_in_production_is_flagged():
    result = check_deploy("")
    assert result.returncode != 0
    assert "django_livechat.W001" in result.stdout + result.stderr


def test_environment_reaches_the_layer_flavour_and_the_proxy_setting():
    script = (
        "from django.conf import settings; from django_livechat.conf import conf; "
        "print(settings.CHANNEL_LAYERS['default']['BACKEND'], conf.TRUSTED_PROXIES)"
    )
    result = manage(
        "shell",
        "-c",
        script,
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_LAYER="core",
        LIVECHAT_TRUSTED_PROXIES="1",
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]  # after shell's own auto-import notice
    assert last.split() == ["channels_redis.core.RedisChannelLayer", "1"]


def test_demo_users_are_staff_and_three_non_staff_users(tmp_path):
    """``make demo``'s accounts: staff/staff, and alice, bob and carol (password = name) for
    private rooms and direct messages."""
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "DEBUG": "true"}
    assert manage("migrate", "--noinput", **database).returncode == 0
    result = manage("demo_users", **database)
    assert result.returncode == 0, result.stderr
    assert manage("demo_users", **database).stdout.count("(exists)") == 4  # run twice: kept
    script = (
        "from django.contrib.auth import get_user_model; "
        "print(sorted((u.username, u.is_staff, u.check_password(u.username)) "
        "for u in get_user_model().objects.all()))"
    )
    listed = manage("shell", "-c", script, **database).stdout.strip().splitlines()[-1]
    assert listed == str(
        [
            ("alice", False, True),
            ("bob", False, True),
            ("carol", False, True),
            ("staff", True, True),
        ]
    )


def test_demo_users_log_in_on_the_sites_own_page_and_land_in_their_inbox(tmp_path):
    """Non-staff users cannot use the admin's log-in: the example site has its own."""
    database = f"sqlite:///{tmp_path}/db.sqlite3"
    env = {
        "DATABASE_URL": database,
        "DEBUG": "true",
        "REDIS_URL": "",
        "ALLOWED_HOSTS": "testserver",
    }
    assert manage("migrate", "--noinput", "-v0", **env).returncode == 0
    assert manage("demo_users", **env).returncode == 0
    script = (
        "from django.test import Client; c = Client(); "
        "r = c.post('/accounts/login/', {'username': 'alice', 'password': 'alice'}); "
        "print(r.status_code, r['Location']); "
        "r = c.get('/chat/inbox/'); print(r.status_code, b'data-livechat-inbox' in r.content)"
    )
    out = manage("shell", "-c", script, **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-4:] == ["302", "/chat/inbox/", "200", "True"]

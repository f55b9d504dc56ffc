"""The zh_Hans catalogue: shipped, compiled, and used by templates and error frames."""

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from django_livechat import protocol


@pytest.mark.django_db
def test_room_page_in_simplified_chinese(client, room):
    response = client.get(reverse("livechat:room", args=["lobby"]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert "发送" in html  # the Send button
    assert 'data-i18n-typing-one="%(names)s 正在输入…"' in html  # placeholders survive
    assert 'data-i18n-unlock="解锁聊天室"' in html  # the staff's lock button


def test_error_frames_are_translated():
    with translation.override("zh-hans"), pytest.raises(protocol.ProtocolError) as error:
        protocol.parse('{"type": "message", "body": " ", "client_id": "c1"}')
    assert error.value.detail == "消息不能为空。"


@pytest.mark.django_db
def test_inbox_page_in_simplified_chinese(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("li", password="pw"))
    response = client.get(reverse("livechat:inbox"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert "<h1>我的聊天</h1>" in html
    assert 'data-i18n-kind-direct="私信"' in html
    assert 'data-i18n-unread="未读：%(n)s"' in html


def test_message_feature_errors_are_translated():
    with translation.override("zh-hans"), pytest.raises(protocol.ProtocolError) as error:
        protocol.parse('{"type": "react", "id": 1, "emoji": "a"}')
    assert error.value.detail == "emoji 必须是一个表情符号。"


@pytest.mark.django_db
def test_console_history_strings_in_simplified_chinese(client, django_user_model):
    staff = django_user_model.objects.create_user("zhang", password="pw", is_staff=True)
    client.force_login(staff)
    response = client.get(reverse("livechat:console"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    html = response.content.decode()
    assert 'data-revisions-url="/chat/rooms/__slug__/messages/0/revisions/"' in html
    assert 'data-i18n-history-version="版本 %(n)s"' in html  # placeholders survive
    assert 'data-i18n-history-replaced="%(time)s 由 %(name)s 替换"' in html
    assert ">历史</button>" in html  # the History button (msgctxt)
    assert "此消息的早期版本" in html  # the panel's title


def catalogue_ids(path) -> dict[str, str]:
    """msgid -> msgstr of a .po file (plural forms by their singular; "" for a fuzzy entry,
    which ``compilemessages`` leaves out)."""
    entries: dict[str, str] = {}
    fuzzy: set[str] = set()
    key, field, flagged = None, None, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,"):
            flagged = "fuzzy" in line
        elif line.startswith(("msgid ", "msgstr ", "msgstr[0] ")):
            field, _, rest = line.partition(" ")
            if field == "msgid":
                key = rest[1:-1]
                entries[key] = ""
            elif key is not None:  # the msgid is whole now
                entries[key] = rest[1:-1]
                if flagged:
                    fuzzy.add(key)
                flagged = False
        elif line.startswith('"') and key is not None:
            if field == "msgid":
                entries[key + line[1:-1]] = entries.pop(key)
                key += line[1:-1]
            elif field in ("msgstr", "msgstr[0]"):
                entries[key] += line[1:-1]
        else:
            field = "plural" if line.startswith("msgid_plural") else None
    entries.pop("", None)
    return {k: ("" if k in fuzzy else v) for k, v in entries.items()}


def test_every_string_of_the_code_is_in_the_catalogue_and_translated(tmp_path):
    """``makemessages`` run on a copy of the package finds no string the shipped catalogue
    lacks or leaves untranslated (``make messages`` updates it)."""
    if shutil.which("xgettext") is None:
        pytest.skip("xgettext (GNU gettext) is not installed: cannot extract the strings")
    package = Path(__file__).resolve().parent.parent / "django_livechat"
    copy = tmp_path / "django_livechat"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shipped = catalogue_ids(copy / "locale/zh_Hans/LC_MESSAGES/django.po")
    (copy / "locale/zh_Hans/LC_MESSAGES/django.po").unlink()
    here = Path.cwd()
    try:
        os.chdir(copy)
        call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    finally:
        os.chdir(here)
    extracted = catalogue_ids(copy / "locale/zh_Hans/LC_MESSAGES/django.po")
    missing = sorted(set(extracted) - {k for k, v in shipped.items() if v})
    assert missing == [], f"not in the zh_Hans catalogue, untranslated or fuzzy: {missing}"

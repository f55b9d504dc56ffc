"""The zh_Hans catalogue: shipped, compiled, and used by templates and error frames."""

import pytest
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

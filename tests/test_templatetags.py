"""{% load livechat %}: embedding a room, the support widget, the limits."""

import pytest
from django.http import HttpResponse
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory, override_settings

pytestmark = pytest.mark.django_db


def render(source, **context):
    return Template("{% load livechat %}" + source).render(Context(context))


def test_room_by_slug_or_instance(room):
    for html in (render('{% livechat_room "lobby" %}'), render("{% livechat_room r %}", r=room)):
        assert 'data-ws-path="/ws/livechat/rooms/lobby/"' in html
        assert 'data-history-url="/chat/rooms/lobby/history/"' in html
        assert 'maxlength="2000"' in html


@override_settings(LIVECHAT={"ALLOW_ANONYMOUS": True})
def test_embedding_a_room_gives_an_anonymous_visitor_a_session(room):
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.template import RequestContext

    request = RequestFactory().get("/any-page/")
    SessionMiddleware(lambda r: None).process_request(request)
    request.user = AnonymousUser()
    assert request.session.session_key is None
    Template('{% load livechat %}{% livechat_room "lobby" %}').render(RequestContext(request))
    assert request.session.session_key  # one identity for every socket of this visitor
    response = SessionMiddleware(lambda r: None).process_response(request, HttpResponse())
    assert response.cookies["sessionid"].value == request.session.session_key


def test_room_title_is_escaped(db):
    from django_livechat.models import Room

    Room.objects.create(slug="x", title="<b>bold</b>")
    html = render('{% livechat_room "x" %}')
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html


@override_settings(DEBUG=True)
def test_unknown_room_is_an_error_while_debugging(db):
    with pytest.raises(TemplateSyntaxError):
        render('{% livechat_room "nope" %}')


@override_settings(DEBUG=False)
def test_unknown_room_renders_nothing_in_production(db):
    assert "data-livechat-room" not in render('{% livechat_room "nope" %}')


def test_support_widget_carries_urls_token_and_page():
    request = RequestFactory().get("/pricing/?plan=pro")
    html = render("{% livechat_support_widget %}", request=request, csrf_token="tok123")
    assert 'data-start-url="/chat/support/start/"' in html
    assert 'data-current-url="/chat/support/current/"' in html
    assert 'data-csrf-token="tok123"' in html
    assert 'data-page="/pricing/?plan=pro"' in html


@override_settings(LIVECHAT={"MAX_BODY_LENGTH": 777})
def test_room_widget_and_console_share_one_conversation_markup(room):
    from django.template.loader import render_to_string

    request = RequestFactory().get("/")
    pages = {
        "room": render('{% livechat_room "lobby" %}'),
        "widget": render("{% livechat_support_widget %}", request=request, csrf_token="t"),
        "console": render_to_string("django_livechat/console.html", {"room_ws_prefix": "/ws/"}),
    }
    for name, html in pages.items():
        for hook in ("status", "older", "messages", "typing", "notice", "form", "input"):
            assert html.count(f"data-livechat-{hook}") == 1, (name, hook)
        assert html.count("<template data-livechat-message-template>") == 1, name
        assert 'maxlength="777"' in html, name


@override_settings(LIVECHAT={"EDIT_BY_MODERATORS": True, "ATTACHMENTS_PER_MESSAGE": 3})
def test_limits_carry_edit_by_moderators_and_upload_limits_to_the_page(room):
    from django_livechat.templatetags.livechat import livechat_limits

    assert livechat_limits()["edit_by_moderators"] is True
    html = render('{% livechat_room "lobby" %}')
    assert 'data-edit-by-moderators="true"' in html
    assert 'data-attachments-per-message="3"' in html
    assert 'data-attachment-max-bytes="' in html
    with override_settings(LIVECHAT={}):
        assert livechat_limits()["edit_by_moderators"] is False
        assert 'data-edit-by-moderators="false"' in render('{% livechat_room "lobby" %}')

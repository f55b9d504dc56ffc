"""The attachment endpoints (django_livechat/attachment_views.py): upload (CSRF, size refused
unread, anonymous, outsiders, sanctions, quota, bad images) and serving (readers only, unsent
uploads to their uploader only; images inline, anything else a download; nosniff and a
sandboxing CSP), and the Attachment admin."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from PIL import Image

from django_livechat import identity, membership, store
from django_livechat.models import Attachment, Message, Room, Sanction

pytestmark = pytest.mark.django_db

CSP = "sandbox; default-src 'none'"
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def livechat(**values):
    return override_settings(LIVECHAT={**settings.LIVECHAT, **values})


def make_user(name, **extra):
    return get_user_model().objects.create_user(name, password="pw", **extra)


@pytest.fixture
def people(room, media):
    """ann owns the private room "team" where mem is a member; out is in no room of theirs."""
    found = {name: make_user(name) for name in ("ann", "mem", "out")}
    found["team"] = membership.create_room("Team", found["ann"], [found["mem"]], slug="team")
    found["lobby"] = room
    return found


def client_for(user=None, **kwargs):
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def png(size=(800, 600)):
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, "PNG")
    return out.getvalue()


def upload_url(slug="lobby"):
    return reverse("livechat:attachments", args=[slug])


def post_file(client, data, name="photo.png", content_type="image/png", slug="lobby", **extra):
    return client.post(
        upload_url(slug), {"file": SimpleUploadedFile(name, data, content_type)}, **extra
    )


def is_error(response, status, code):
    body = response.json()
    return (response.status_code, body["type"], body["code"]) == (status, "error", code) and body[
        "detail"
    ]


def content(response):
    return b"".join(response.streaming_content)


def files_in(media):
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def send_with_message(attachment, room, body="here"):
    """Link ``attachment`` to a new message of ``room``, as the message frame will."""
    store.write_messages(
        [store.NewMessage(room.pk, identity.for_session("x" * 32), body, f"c-{attachment.pk}")]
    )
    message = Message.objects.get(room=room, client_id=f"c-{attachment.pk}")
    Attachment.objects.filter(pk=attachment.pk).update(message=message)
    return message


def assert_served_safely(response):
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == CSP
    assert response["Cache-Control"] == "private"


# -- upload ------------------------------------------------------------------------------


def test_upload_answers_201_with_the_description(people, media):
    response = post_file(client_for(people["ann"]), png())

    assert response.status_code == 201
    attachment = Attachment.objects.get()
    body = response.json()
    assert body == {
        "id": attachment.pk,
        "name": "photo.png",
        "size": attachment.size,
        "type": "image/png",
        "url": f"/chat/rooms/lobby/attachments/{attachment.pk}/",
        "thumbnail": f"/chat/rooms/lobby/attachments/{attachment.pk}/thumbnail/",
        "width": 800,
        "height": 600,
    }
    assert attachment.key == identity.user_key(people["ann"].pk)
    assert attachment.room == people["lobby"] and attachment.message is None


def test_upload_is_csrf_protected(people, media):
    client = client_for(people["ann"], enforce_csrf_checks=True)
    assert post_file(client, b"data", name="a.txt").status_code == 403
    assert not Attachment.objects.exists()

    client.cookies["csrftoken"] = "a" * 32
    response = post_file(client, b"data", name="a.txt", HTTP_X_CSRFTOKEN="a" * 32)
    assert response.status_code == 201


def test_a_50_mb_body_is_refused_unread(people, media):
    """The body declares 50 MB but holds 100 bytes: reading it (the CSRF check's request.POST,
    request.FILES) would fail on the missing bytes; it is refused from CONTENT_LENGTH."""
    client = client_for(people["ann"], enforce_csrf_checks=True)
    response = client.post(
        upload_url(),
        b"x" * 100,
        content_type="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )
    assert is_error(response, 413, "file_too_large")
    assert "10.0" in response.json()["detail"]  # "at most 10.0 MB"
    assert not Attachment.objects.exists() and not files_in(media)


def test_a_real_body_over_the_limit_is_refused(people, media):
    client = client_for(people["ann"])
    with livechat(ATTACHMENT_MAX_BYTES=1000):
        assert is_error(post_file(client, b"y" * 200_000, name="a.bin"), 413, "file_too_large")
        # within the multipart allowance: the file's own size refuses it
        assert is_error(post_file(client, b"y" * 1001, name="a.bin"), 413, "file_too_large")
        assert post_file(client, b"y" * 1000, name="a.bin").status_code == 201
    assert Attachment.objects.count() == 1 and len(files_in(media)) == 1


def test_no_file_or_an_empty_one_is_invalid(people, media):
    client = client_for(people["ann"])
    assert is_error(client.post(upload_url(), {"other": "x"}), 400, "invalid_file")
    assert is_error(post_file(client, b"", name="empty.txt"), 400, "invalid_file")
    malformed = client.post(
        upload_url(),
        b"garbage",
        content_type="multipart/form-data",  # no boundary
    )
    assert is_error(malformed, 400, "invalid_file")


def test_a_decompression_bomb_is_invalid(people, media):
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    assert len(out.getvalue()) < 100_000

    response = post_file(client_for(people["ann"]), out.getvalue(), name="bomb.png")

    assert is_error(response, 400, "invalid_file")
    assert not Attachment.objects.exists() and not files_in(media)


def test_anonymous_needs_a_login_unless_allowed(people, media):
    anonymous = Client()
    response = post_file(anonymous, b"data", name="a.txt")
    assert is_error(response, 401, "login_required")
    assert not Attachment.objects.exists()

    with livechat(ATTACHMENTS_ALLOW_ANONYMOUS=True):
        response = post_file(anonymous, b"data", name="a.txt")
        assert response.status_code == 201
        # a private room stays closed to guests
        assert is_error(post_file(anonymous, b"data", slug="team"), 404, "not_found")
    attachment = Attachment.objects.get()
    assert attachment.key.startswith("g:")  # the session's identity, as its socket's
    assert anonymous.get(response.json()["url"]).status_code == 200  # its uploader
    assert Client().get(response.json()["url"]).status_code == 404  # another guest


def test_outsiders_and_unknown_rooms_get_404(people, media):
    out = client_for(people["out"])
    assert is_error(post_file(out, b"data", slug="team"), 404, "not_found")
    assert is_error(post_file(out, b"data", slug="nowhere"), 404, "not_found")
    assert post_file(client_for(people["mem"]), b"data", slug="team").status_code == 201


def test_muted_banned_and_locked(people, media):
    ann = client_for(people["ann"])
    earlier = post_file(ann, b"earlier", name="e.txt").json()["url"]
    send_with_message(Attachment.objects.get(), people["lobby"])
    mute = Sanction.objects.create(
        kind=Sanction.Kind.MUTE, key=identity.user_key(people["ann"].pk), room=people["lobby"]
    )
    assert is_error(post_file(ann, b"data"), 403, "muted")
    mute.delete()
    Room.objects.filter(slug="lobby").update(locked=True)
    assert is_error(post_file(ann, b"data"), 403, "room_locked")
    Room.objects.filter(slug="lobby").update(locked=False)
    Sanction.objects.create(
        kind=Sanction.Kind.BAN, key=identity.user_key(people["ann"].pk), room=people["lobby"]
    )
    assert is_error(post_file(ann, b"data"), 403, "banned")
    # a banned identity may not read the room, nor its files
    assert is_error(ann.get(earlier), 404, "not_found")
    assert client_for(people["out"]).get(earlier).status_code == 200
    assert Attachment.objects.count() == 1


def test_daily_quota(people, media):
    ann = client_for(people["ann"])
    with livechat(ATTACHMENT_DAILY_BYTES=150):
        assert post_file(ann, b"a" * 100, name="a.txt").status_code == 201
        assert is_error(post_file(ann, b"b" * 100, name="b.txt"), 429, "quota_exceeded")
        assert post_file(client_for(people["mem"]), b"c" * 100, name="c.txt").status_code == 201
    assert Attachment.objects.count() == 2


def test_errors_are_translated(people, media):
    response = post_file(Client(), b"data", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert is_error(response, 401, "login_required")
    assert response.json()["detail"] == "请登录后发送文件。"


def test_upload_refuses_get(people, media):
    assert client_for(people["ann"]).get(upload_url()).status_code == 405


# -- serving -----------------------------------------------------------------------------


def test_an_image_is_served_inline_with_its_type(people, media):
    ann = client_for(people["ann"])
    described = post_file(ann, png()).json()

    response = ann.get(described["url"])

    assert_served_safely(response)
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    data = content(response)
    assert Image.open(io.BytesIO(data)).size == (800, 600) and len(data) == described["size"]

    thumb = ann.get(described["thumbnail"])
    assert_served_safely(thumb)
    assert thumb["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(content(thumb))).size == (400, 300)


def test_html_named_png_is_a_download(people, media):
    ann = client_for(people["ann"])
    described = post_file(ann, HTML, name="x.png", content_type="image/png").json()
    assert described["type"] == "application/octet-stream" and "thumbnail" not in described

    response = ann.get(described["url"])

    assert_served_safely(response)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="x.png"' in response["Content-Disposition"]
    assert content(response) == HTML
    attachment = Attachment.objects.get()
    thumb_url = reverse("livechat:attachment-thumbnail", args=["lobby", attachment.pk])
    assert is_error(ann.get(thumb_url), 404, "not_found")


def test_svg_with_a_script_is_a_download(people, media):
    ann = client_for(people["ann"])
    described = post_file(ann, SVG, name="logo.svg", content_type="image/svg+xml").json()

    response = ann.get(described["url"])

    assert_served_safely(response)
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_non_unicode_name_is_sent_with_filename_star(people, media):
    ann = client_for(people["ann"])
    described = post_file(ann, b"notes", name="报告 1.txt", content_type="text/plain").json()
    response = ann.get(described["url"])
    assert "filename*=utf-8''" in response["Content-Disposition"]
    assert described["name"] == "报告 1.txt"


def test_a_non_member_gets_404(people, media):
    mem = client_for(people["mem"])
    described = post_file(mem, png(), slug="team").json()
    send_with_message(Attachment.objects.get(), people["team"])
    assert client_for(people["ann"]).get(described["url"]).status_code == 200  # a member

    out = client_for(people["out"])
    for url in (described["url"], described["thumbnail"]):
        assert is_error(out.get(url), 404, "not_found")
        assert Client().get(url).status_code == 404  # anonymous


def test_an_unsent_upload_is_served_to_its_uploader_only(people, media):
    ann, mem = client_for(people["ann"]), client_for(people["mem"])
    described = post_file(mem, png(), slug="team").json()

    assert mem.get(described["url"]).status_code == 200
    assert mem.get(described["thumbnail"]).status_code == 200
    assert is_error(ann.get(described["url"]), 404, "not_found")
    assert is_error(ann.get(described["thumbnail"]), 404, "not_found")

    send_with_message(Attachment.objects.get(), people["team"])
    assert ann.get(described["url"]).status_code == 200


def test_an_attachment_of_another_room_is_not_found_through_this_one(people, media):
    mem = client_for(people["mem"])
    post_file(mem, b"secret", name="s.txt", slug="team")
    attachment = Attachment.objects.get()
    send_with_message(attachment, people["team"])

    url = reverse("livechat:attachment", args=["lobby", attachment.pk])
    assert is_error(client_for(people["out"]).get(url), 404, "not_found")
    assert is_error(mem.get(url), 404, "not_found")


def test_a_deleted_message_s_attachment_is_not_served(people, media):
    ann = client_for(people["ann"])
    described = post_file(ann, b"doc", name="d.txt").json()
    message = send_with_message(Attachment.objects.get(), people["lobby"])
    assert client_for(people["out"]).get(described["url"]).status_code == 200  # a public room
    Message.objects.filter(pk=message.pk).update(deleted=message.created)
    assert is_error(ann.get(described["url"]), 404, "not_found")


def test_a_file_gone_from_storage_is_404(people, media):
    ann = client_for(people["ann"])
    described = post_file(ann, b"doc", name="d.txt").json()
    Attachment.objects.get().delete_files()
    assert is_error(ann.get(described["url"]), 404, "not_found")


# -- admin -------------------------------------------------------------------------------


def test_attachment_admin_pages_render_and_delete_files(
    admin_client, people, media, django_capture_on_commit_callbacks
):
    ann = client_for(people["ann"])
    post_file(ann, png())
    post_file(ann, HTML, name="page.html", content_type="text/html")
    image, page = Attachment.objects.order_by("pk")
    message = send_with_message(image, people["lobby"])

    changelist = admin_client.get(reverse("admin:django_livechat_attachment_changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 2
    assert b"page.html" in changelist.content

    change = admin_client.get(reverse("admin:django_livechat_attachment_change", args=[image.pk]))
    assert change.status_code == 200
    assert f"/chat/rooms/lobby/attachments/{image.pk}/".encode() in change.content

    message_page = admin_client.get(
        reverse("admin:django_livechat_message_change", args=[message.pk])
    )
    assert message_page.status_code == 200
    assert b"photo.png" in message_page.content

    assert len(files_in(media)) == 3  # the image, its thumbnail, the page
    with django_capture_on_commit_callbacks(execute=True):  # files go once committed
        response = admin_client.post(
            reverse("admin:django_livechat_attachment_delete", args=[page.pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    assert list(Attachment.objects.all()) == [image]
    assert len(files_in(media)) == 2

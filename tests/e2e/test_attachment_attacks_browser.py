"""Attachments under attack, in real Chromium against a real server (issue 15): what a
hostile uploader tries (an HTML page named .png, an SVG with a script, a 50 MB upload, a
decompression bomb) and a non-member fetching a file's URL. Uploads are made by the page
itself (``fetch`` with ``FormData`` and its CSRF token), as the bundled client does."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from tests.e2e.test_private_browser import log_in, shell

pytestmark = pytest.mark.e2e

UPLOAD = """async ([slug, name, type, b64, size]) => {
  const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken='));
  const bytes = b64 ? Uint8Array.from(atob(b64), c => c.charCodeAt(0)) : new Uint8Array(size);
  const form = new FormData();
  form.append('file', new Blob([bytes], {type}), name);
  const response = await fetch(`/chat/rooms/${slug}/attachments/`, {
    method: 'POST', body: form, credentials: 'same-origin',
    headers: {'X-CSRFToken': token ? token.split('=')[1] : ''},
  });
  return {status: response.status, body: await response.json()};
}"""

SEND = """async ([slug, ids]) => {
  const ws = new WebSocket(`ws://${location.host}/ws/livechat/rooms/${slug}/`);
  const clientId = 'att' + Math.random().toString(36).slice(2);
  return await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('no acknowledgement')), 10000);
    ws.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === 'welcome') {
        ws.send(JSON.stringify({type: 'message', body: '', client_id: clientId, attachments: ids}));
      } else if (frame.client_id === clientId) {
        ws.close();
        resolve(frame);
      }
    };
  });
}"""


def upload(page, slug, name, type_, data: bytes = b"", size: int = 0):
    b64 = base64.b64encode(data).decode() if data else ""
    return page.evaluate(UPLOAD, [slug, name, type_, b64, size])


def png(width=64, height=48, mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, "PNG")
    return out.getvalue()


def team_room(server) -> str:
    return shell(
        server,
        "from django.contrib.auth import get_user_model as g; from django_livechat import api; "
        "from django_livechat.models import Room; u = g().objects; "
        "r = Room.objects.filter(slug='att-team').first() or api.create_room('Att team', "
        "u.get(username='alice'), [u.get(username='bob')], slug='att-team'); print(r.slug)",
    )


def test_hostile_files_are_downloads_and_bombs_and_oversized_uploads_are_refused(server, contexts):
    slug = team_room(server)
    alice = log_in(contexts(), server, "alice", f"/chat/rooms/{slug}/")
    dialogs = []
    alice.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    html = b"<html><body><script>alert('html')</script>hi</body></html>"
    posed = upload(alice, slug, "cat.png", "image/png", html)
    assert posed["status"] == 201, posed
    assert posed["body"]["type"] == "application/octet-stream" and "thumbnail" not in posed["body"]
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg")</script></svg>'
    vector = upload(alice, slug, "logo.svg", "image/svg+xml", svg)
    assert vector["status"] == 201 and vector["body"]["type"] == "application/octet-stream"

    for answer in (posed, vector):  # the browser downloads them; nothing renders or runs
        # Chromium turns the navigation into a download: goto raises, nothing renders.
        with alice.expect_download() as download, pytest.raises(Exception):  # noqa: B017
            alice.goto(server.url + answer["body"]["url"])
        assert download.value.suggested_filename == answer["body"]["name"]
    headers = alice.evaluate(
        "async (url) => { const r = await fetch(url); return [r.headers.get('content-type'),"
        " r.headers.get('x-content-type-options'), r.headers.get('content-disposition')]; }",
        posed["body"]["url"],
    )
    assert headers[0] == "application/octet-stream" and headers[1] == "nosniff"
    assert headers[2].startswith("attachment")

    alice.goto(f"{server.url}/chat/rooms/{slug}/")
    huge = upload(alice, slug, "huge.bin", "application/octet-stream", size=50 * 1024 * 1024)
    assert huge["status"] == 413 and huge["body"]["code"] == "file_too_large"
    bomb = upload(alice, slug, "bomb.png", "image/png", png(20000, 20000, "1"))
    assert bomb["status"] == 400 and bomb["body"]["code"] == "invalid_file"
    assert dialogs == []


def test_only_the_rooms_readers_fetch_a_sent_image(server, contexts):
    slug = team_room(server)
    alice = log_in(contexts(), server, "alice", f"/chat/rooms/{slug}/")
    image = upload(alice, slug, "photo.png", "image/png", png(800, 600))
    assert image["status"] == 201, image
    body = image["body"]
    assert (body["width"], body["height"], body["type"]) == (800, 600, "image/png")
    sent = alice.evaluate(SEND, [slug, [body["id"]]])
    assert sent["attachments"][0]["id"] == body["id"]

    bob = log_in(contexts(), server, "bob", f"/chat/rooms/{slug}/")
    size = bob.evaluate(
        "async (url) => { const img = new Image(); img.src = url; await img.decode();"
        " return [img.naturalWidth, img.naturalHeight]; }",
        body["thumbnail"],
    )
    assert max(size) <= 400 and size[0] > 0
    carol = log_in(contexts(), server, "carol", "/chat/inbox/")
    for url in (body["url"], body["thumbnail"]):
        status = carol.evaluate("async (url) => (await fetch(url)).status", url)
        assert status == 404
    anonymous = contexts().new_page()
    anonymous.goto(server.url + "/chat/")
    assert anonymous.evaluate("async (url) => (await fetch(url)).status", body["url"]) == 404

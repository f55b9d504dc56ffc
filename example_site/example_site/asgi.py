"""The example site's ASGI application: HTTP to Django, WebSockets to django_livechat."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_site.settings")
# Initialize Django (and the app registry) before importing anything that uses models.
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.DEBUG:  # let uvicorn/daphne serve static files too, as runserver does (dev only)
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from django_livechat.middleware import LiveChatAuthMiddleware  # noqa: E402
from django_livechat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            LiveChatAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)

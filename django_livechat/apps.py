from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveChatConfig(AppConfig):
    name = "django_livechat"
    label = "django_livechat"
    verbose_name = _("Live chat")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from django_livechat import checks, push_views

        checks.register()
        user_logged_out.connect(push_views.forget_on_logout, dispatch_uid="livechat_push_logout")

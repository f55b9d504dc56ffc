"""The example site's rooms: a lobby exists after ``migrate``."""

from django.db import migrations

ROOMS = [("lobby", "Lobby"), ("random", "Random")]


def create_rooms(apps, schema_editor):
    Room = apps.get_model("django_livechat", "Room")
    for slug, title in ROOMS:
        Room.objects.get_or_create(slug=slug, defaults={"title": title})


def delete_rooms(apps, schema_editor):
    Room = apps.get_model("django_livechat", "Room")
    Room.objects.filter(slug__in=[slug for slug, _ in ROOMS], last_seq=0).delete()


class Migration(migrations.Migration):
    dependencies = [("django_livechat", "0001_initial")]
    operations = [migrations.RunPython(create_rooms, delete_rooms)]

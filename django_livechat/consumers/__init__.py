from django_livechat.consumers.echo import EchoConsumer
from django_livechat.consumers.inbox import InboxConsumer
from django_livechat.consumers.room import RoomConsumer
from django_livechat.consumers.staff import StaffConsumer

__all__ = ["EchoConsumer", "InboxConsumer", "RoomConsumer", "StaffConsumer"]

"""Members' notifications: the sender (`jifen notify`) of the outbox's events to the SMS
gateway's webhook. The events are written by their causes (the host's batch statement, the
back office, the expiry warning run in back_office/rules), never here."""

from notifications.config import NotifyConfig
from notifications.service import run_notify

__all__ = ["NotifyConfig", "run_notify"]

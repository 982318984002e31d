"""Errors of the notification sender.

    NotifyError            the sender cannot go on (its supervisor restarts it)
    ├── DeliveryFailed     one attempt at the webhook failed: refused, unreachable or too slow
    │                      (the sender backs off and tries the same event again)
    └── PartitionsChanged  central lists partitions other than those the sender started with
                           (it ends, and its restart reads every partition's URL again)
"""


class NotifyError(Exception):
    pass


class DeliveryFailed(NotifyError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PartitionsChanged(NotifyError):
    pass

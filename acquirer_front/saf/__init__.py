"""Store-and-forward of reversal advices (0420): the front's own durable queue (issue 8).

    entries   what a row carries: the 0420 to send and why it is owed
    store     rows committed in batches, before the front counts on them
    sender    pending rows sent to the host with backoff until it settles them
    queue     the two over one small pool: the service run_front starts
    listing   the rows for operators (`jifen saf list`), PANs masked
"""

from acquirer_front.saf.entries import Origin, SafEntry, is_reversible, reversal_of
from acquirer_front.saf.listing import SafRow, list_saf
from acquirer_front.saf.queue import StoreAndForward
from acquirer_front.saf.sender import SafSender
from acquirer_front.saf.store import SafStore

__all__ = [
    "Origin", "SafEntry", "SafRow", "SafSender", "SafStore", "StoreAndForward",
    "is_reversible", "list_saf", "reversal_of",
]

"""The account host: the single writer of balances and the journal.

One task owns every balance; requests from the switch are queued, applied in batches to the
in-memory state, written to PostgreSQL in one statement per batch, and answered only after
that commit.
"""

from account_host.config import HostConfig
from account_host.service import run_host

__all__ = ["HostConfig", "run_host"]

"""Store-and-forward as one service of the front: the store, its sender and their small pool.

Pending rows left by an earlier run (a crash, a restart) are simply due: the sender's first
round, right at start, resumes them.
"""

from __future__ import annotations

import anyio
import asyncpg

from acquirer_front.config import FrontConfig
from acquirer_front.errors import DATABASE_ERRORS, DatabaseUnavailableError
from acquirer_front.saf.sender import Link, SafSender
from acquirer_front.saf.store import SafStore
from proto.keys import Purpose, load_kek, open_data_keys


class StoreAndForward:
    def __init__(self, config: FrontConfig, pool: asyncpg.Pool, seal_key: bytes) -> None:
        self._config = config
        self._pool = pool
        self._seal_key = seal_key
        self._sender: SafSender | None = None
        self.store = SafStore(
            pool, seal_key=seal_key, batch_max=config.saf_store_batch_max,
            queue_max=config.saf_store_queue_max,
            timeout_s=config.database_timeout_s, on_stored=self._wake_sender,
            backoff_s_min=config.saf_backoff_s_min, backoff_s_max=config.saf_backoff_s_max,
        )

    @classmethod
    async def open(cls, config: FrontConfig, database_url: str) -> StoreAndForward:
        """KeyStoreError when the saf_seal data key does not open under the KEK."""
        kek = load_kek(config.kek_file, config.kek_env)
        try:
            pool = await asyncpg.create_pool(
                database_url, min_size=1, max_size=config.saf_pool_size_max,
                timeout=config.database_timeout_s,
            )
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(f"cannot open the store-and-forward queue: {exc}") \
                from exc
        try:
            async with pool.acquire(timeout=config.database_timeout_s) as connection:
                keys = await open_data_keys(connection, kek, [Purpose.SAF_SEAL])
        except BaseException:
            pool.terminate()
            raise
        return cls(config, pool, keys[Purpose.SAF_SEAL])

    async def run(self, link: Link) -> None:
        """Commit new rows and send pending ones over `link` until cancelled."""
        self._sender = SafSender(self._pool, link, self._config, seal_key=self._seal_key)
        async with anyio.create_task_group() as group:
            group.start_soon(self.store.run)
            group.start_soon(self._sender.run)

    async def aclose(self) -> None:
        """Close politely even while being cancelled, within the timeout; else drop."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.database_timeout_s):
            await self._pool.close()
        self._pool.terminate()

    def _wake_sender(self) -> None:
        if self._sender is not None:
            self._sender.wake()

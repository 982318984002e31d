"""Changes made while the host runs (cards issued, merchants edited), heard on a LISTEN
connection of its own and handed to the writer through its queue, so that only the writer
mutates the state.

Changes (`proto.changes`) name a table: cards (new cards: those above the highest id seen, less
an overlap), one card (that card changed, e.g. reported lost), merchants, alliances,
business_days (a date sealed by clearing: read with the alliances), card_ranges (all cards read
again), gift_catalogue, terminals (read whole: the host checks field 41 again rather than trust
its link peer), earn_rules (every version, compiled again), risk_settings and risk_baselines
(account_host/risk/loading.py), host_commands (the pending back-office commands, queued after
the cards they name, which are read first). After (re)connecting, the listener catches up on
all of them, since notifications sent while it was away are lost; an idle connection is probed
so that a lost one is noticed, and the probe reads the risk review queue for its gauges.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import asyncpg
import structlog
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from account_host import metrics
from account_host.commands.item import Command
from account_host.commands.outcomes import CommandOutcomes
from account_host.commands.reading import (
    COMMANDS_PER_READ,
    PENDING_IDS_PER_READ,
    named_cards,
    pending_ids,
    read_pending,
)
from account_host.config import HostConfig
from account_host.database import DATABASE_ERRORS, connect
from account_host.earning.loading import (
    counted_partly,
    load_earn_rules,
    read_earn_counters,
    read_referrals,
)
from account_host.errors import HostDatabaseError
from account_host.loading import (
    load_alliances,
    load_cards,
    load_gifts,
    load_merchants,
    load_terminals,
)
from account_host.lottery.loading import load_campaigns
from account_host.queue_items import (
    NewAlliances,
    NewCards,
    NewEarnRules,
    NewGifts,
    NewLottery,
    NewMerchants,
    NewRisk,
    NewTerminals,
    QueueItem,
)
from account_host.risk.loading import read_queue, read_risk
from proto.changes import CHANNEL, Change, Table, decode_change, encode_change

log = structlog.get_logger("account_host.changes")

# Card ids are drawn before their transactions commit, so two issuing sessions may commit out
# of id order; each 'cards' notification reads this many ids below the highest seen again.
CARD_IDS_OVERLAP = 1_000
# Distinct notifications waiting to be read (mostly one card each); beyond it everything is
# read again instead, which is always correct.
PENDING_CHANGES_MAX = 10_000
_EVERYTHING = frozenset(Change(table) for table in (
    Table.CARD_RANGES, Table.MERCHANTS, Table.TERMINALS, Table.ALLIANCES, Table.GIFT_CATALOGUE,
    Table.EARN_RULES, Table.LOTTERY, Table.HOST_COMMANDS, Table.RISK_SETTINGS))
# What a (re)connected listener reads, since notifications sent while it was away are lost.
_MISSED = frozenset(Change(table) for table in (
    Table.CARDS, Table.MERCHANTS, Table.TERMINALS, Table.ALLIANCES, Table.GIFT_CATALOGUE,
    Table.EARN_RULES, Table.LOTTERY, Table.HOST_COMMANDS, Table.RISK_SETTINGS))


class ChangeListener:
    def __init__(
        self, config: HostConfig, database_url: str, queue: MemoryObjectSendStream[QueueItem],
        highest_card_id: int,
    ) -> None:
        self._config = config
        self._database_url = database_url
        self._queue = queue
        self._highest_card_id = highest_card_id
        self._pending: set[Change] = set()
        self._wake = anyio.Event()
        # The writer's peer for commands: a batch of them that did not land is read again.
        self.command_outcomes = CommandOutcomes(self._read_commands_again)
        # Whether the LISTEN connection is open (it reconnects by itself, and probes an idle
        # one): the host's view of its database, for readiness and jifen_host_database_up.
        self.connected = False
        # Alliances whose risk queue gauges were set: set to 0 when their queue empties.
        self._queue_alliances: set[str] = set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        backoff_s = self._config.reconnect_backoff_s_min
        application_name = f"jifen-host-listen:{self._config.name}"[:63]
        while True:
            try:
                connection = await connect(self._database_url, application_name,
                                           self._config.connect_timeout_s)
                try:
                    await self._listen(connection)
                finally:
                    self.connected = False
                    connection.terminate()
            except (HostDatabaseError, *DATABASE_ERRORS) as exc:
                # Only the database: the rows read decode as the schema's constraints say
                # (an alliance's unknown time zone is logged by load_alliances), so anything
                # else is a bug, which ends the host; restarted, it reads every change again.
                log.warning("listen_connection_lost", error=repr(exc), retry_in_s=backoff_s)
            await anyio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self._config.reconnect_backoff_s_max)

    def _read_commands_again(self) -> None:
        self._pending.add(Change(Table.HOST_COMMANDS))
        self._wake.set()

    def _on_notification(
        self, _connection: object, _pid: int, _channel: str, payload: object
    ) -> None:
        assert isinstance(payload, str), "asyncpg hands a NOTIFY payload as a str"
        change = decode_change(payload)
        if change is None:
            log.warning("unknown_change_ignored", payload=payload[:100])
            return
        if len(self._pending) >= PENDING_CHANGES_MAX:
            log.warning("changes_overflow", pending=len(self._pending))
            self._pending = set(_EVERYTHING)
        else:
            self._pending.add(change)
        self._wake.set()

    async def _listen(self, connection: asyncpg.Connection) -> None:
        timeout_s = self._config.database_timeout_s
        with anyio.fail_after(timeout_s):
            await connection.add_listener(CHANNEL, self._on_notification)
        connection.add_termination_listener(lambda _connection: self._wake.set())
        self.connected = True
        # whatever was missed meanwhile
        self._pending |= _MISSED
        while True:
            if connection.is_closed():
                raise HostDatabaseError("the LISTEN connection was closed")
            if self._pending:
                changes, self._pending = self._pending, set()
                await self._read(connection, changes)
                continue
            with anyio.move_on_after(self._config.listen_probe_interval_s) as idle:
                await self._wake.wait()
            self._wake = anyio.Event()
            if idle.cancelled_caught:
                with anyio.fail_after(timeout_s):
                    await self._probe(connection)

    async def _probe(self, connection: asyncpg.Connection) -> None:
        """The idle connection's probe, which reads the risk review queue for its gauges (one
        grouped read of the open rows' partial index): the host is the long-running process
        that reads this database."""
        queue = await read_queue(connection)
        partition = self._config.name    # a host's name is its partition's
        for code in self._queue_alliances - queue.keys():
            metrics.RISK_REVIEWS_OPEN.labels(alliance=code, partition=partition).set(0)
            metrics.RISK_REVIEW_OLDEST_AGE.labels(alliance=code, partition=partition).set(0)
        for code, (count, age_s) in queue.items():
            metrics.RISK_REVIEWS_OPEN.labels(alliance=code, partition=partition).set(count)
            metrics.RISK_REVIEW_OLDEST_AGE.labels(alliance=code, partition=partition).set(
                age_s)
        self._queue_alliances |= queue.keys()

    async def _read(self, connection: asyncpg.Connection, changes: set[Change]) -> None:
        """Read what changed and queue it for the writer."""
        config = self._config
        tables = {change.table for change in changes if change.row_id is None}
        with anyio.fail_after(config.load_timeout_s):
            # A new merchant may be in a new alliance: its business date needs the alliance.
            # A sealed date moves the alliance's business date on (Alliance.sealed_through).
            if tables & {Table.ALLIANCES, Table.MERCHANTS, Table.BUSINESS_DAYS}:
                await self._queue.send(NewAlliances(await load_alliances(connection)))
            if Table.MERCHANTS in tables:
                await self._queue.send(NewMerchants(await load_merchants(connection)))
            # Any change of a terminal (a row id or none) reads them all: a small table.
            if any(change.table is Table.TERMINALS for change in changes):
                await self._queue.send(NewTerminals(await load_terminals(connection)))
            if Table.GIFT_CATALOGUE in tables:
                await self._queue.send(NewGifts(await load_gifts(connection, config.name)))
            if Table.LOTTERY in tables:
                await self._queue.send(NewLottery(await load_campaigns(connection, config.name)))
            if Table.EARN_RULES in tables:
                await self._queue.send(await self._earn_rules(connection))
            if tables & {Table.RISK_SETTINGS, Table.RISK_BASELINES}:
                timezones = {alliance.id: alliance.timezone
                             for alliance in await load_alliances(connection)}
                await self._queue.send(NewRisk(await read_risk(connection, timezones,
                                                               datetime.now(UTC))))
            if Table.CARD_RANGES in tables:
                cards = await load_cards(connection, config.name, limit=config.cards_max)
            elif Table.CARDS in tables:
                cards = await load_cards(
                    connection, config.name, limit=config.cards_max,
                    above_id=max(0, self._highest_card_id - CARD_IDS_OVERLAP))
            else:
                cards = []
            card_ids = [change.row_id for change in changes
                        if change.table is Table.CARDS and change.row_id is not None]
            if card_ids:
                cards += await load_cards(connection, config.name, only_ids=card_ids,
                                          limit=len(card_ids))
            if cards:
                self._highest_card_id = max(self._highest_card_id,
                                            max(loaded.card.id for loaded in cards))
                referrals = await read_referrals(connection,
                                                 [loaded.card.id for loaded in cards])
                await self._queue.send(NewCards(cards, referrals))
        if Table.HOST_COMMANDS in tables:
            # Timed a page at a time: waiting for room in the writer's queue is back-pressure
            # (a merchant's file brings 10^5), not a database that does not answer.
            await self._read_commands(connection)
        log.debug("changes_read", changes=sorted(map(encode_change, changes))[:10],
                  cards=len(cards))

    async def _earn_rules(self, connection: asyncpg.Connection) -> NewEarnRules:
        """Every version, and the day's and month's points of the cards where the version
        now in force counts them and did not all month (earned before it did, they count)."""
        versions = await load_earn_rules(connection)
        timezones = {alliance.id: alliance.timezone
                     for alliance in await load_alliances(connection)}
        now = datetime.now(UTC)
        counters = await read_earn_counters(
            connection, counted_partly(versions, timezones, now), now)
        return NewEarnRules(versions, counters)

    async def _read_commands(self, connection: asyncpg.Connection) -> None:
        """Every pending command of this host's cards, a page at a time, each queued after
        the cards it names (read again: the writer must hold them, in their latest state). A
        command read while its batch is in flight is read again and applied once (its id is
        in the state's commands_taken). One queued and not answered yet is not read again:
        the pending ids come first (an index-only page), then the commands of those not
        queued, a thousand at a time, as long as there is room (CommandOutcomes): the rest
        is read when the writer has answered half of it, and the listener hears other
        changes meanwhile."""
        config = self._config
        outcomes = self.command_outcomes
        above_id = 0
        while True:
            with anyio.fail_after(config.load_timeout_s):
                ids = await pending_ids(connection, above_id=above_id)
            if not ids:
                return
            fresh = [command_id for command_id in ids if command_id not in outcomes.queued]
            if len(fresh) > outcomes.room:
                # The rest once the writer has answered half of what is queued (read again).
                fresh = fresh[:outcomes.room]
                outcomes.starved = True
            for start in range(0, len(fresh), COMMANDS_PER_READ):
                with anyio.fail_after(config.load_timeout_s):
                    commands = await read_pending(
                        connection, config.name, ids=fresh[start:start + COMMANDS_PER_READ])
                await self._queue_commands(connection, commands)
            if len(ids) < PENDING_IDS_PER_READ or outcomes.starved:
                return
            above_id = ids[-1]

    async def _queue_commands(self, connection: asyncpg.Connection,
                              commands: list[Command]) -> None:
        """`commands` for the writer, after the cards they name (read again)."""
        card_ids = named_cards(commands)
        if card_ids:
            with anyio.fail_after(self._config.load_timeout_s):
                cards = await load_cards(connection, self._config.name, only_ids=card_ids,
                                         limit=len(card_ids))
            await self._queue.send(NewCards(cards))
        queued = self.command_outcomes.queued
        for command in commands:
            queued.add(command.correlation_id)
            await self._queue.send((self.command_outcomes, command))

"""The switch process: card-range routes, one link per account host, front links served.

A drain (`proto.drain`, the first SIGTERM): the front links' server stops accepting, tells each
front it is closing (the front then holds its new requests until a switch is back), and closes
each front link once every request that came on it is answered: the hosts' answers to what was
forwarded go through as usual. Then the host links close, with nothing pending on them. A host
that drains in turn tells this switch `Closing`: its link reports down, and its cards get 91
at once, as while it is down, until the host is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import anyio
import structlog
from anyio.abc import TaskStatus

from proto.drain import Drain
from proto.health import LinkState, Readiness
from proto.link_metrics import open_connections
from proto.links import LinkClient, LinkServerLimits, serve_links
from proto.tls import ClientTls, ServerTls
from switch import metrics
from switch.config import SwitchConfig
from switch.forwarder import Forwarder
from switch.key_memory import KeyMemory
from switch.key_restore import KeyRestore
from switch.reload import FeedState, follow_card_ranges
from switch.routes import RouteBook

log = structlog.get_logger("switch.service")


class Switch:
    """The switch's parts, wired; `run` serves until cancelled. Tests reach the parts (host
    links, route book) to wait on their state instead of sleeping."""

    def __init__(self, config: SwitchConfig, database_url: str,
                 health: Readiness | None = None) -> None:
        self.config = config
        self.health = health
        self.feed = FeedState()
        self.database_url = database_url
        self.routes = RouteBook(default_host=config.default_host, known_hosts=config.hosts)
        self.links: dict[str, LinkClient] = {}
        self.forwarder = Forwarder(config, self.routes, self.links)
        keys = self.forwarder.keys
        # Several hosts: the keys of the window before this start, asked of the hosts.
        self.key_restore = None if keys is None else KeyRestore(
            keys, self.forwarder.host_indexes)
        self.front_tls = ServerTls.from_files(config.tls_cert_file, config.tls_key_file,
                                              config.tls_ca_file, config.link_peer_names)
        for host, address in config.hosts.items():
            self.links[host] = LinkClient(
                address,
                name=f"switch->{host}",
                on_answers=partial(self.forwarder.on_host_answers, host),
                on_down=partial(self.forwarder.on_host_down, host),
                tls=ClientTls.from_files(config.tls_cert_file, config.tls_key_file,
                                         config.tls_ca_file, self.host_tls_name(host)),
                message_size_max=config.link_message_size_max,
                connect_timeout_s=config.connect_timeout_s,
                echo_interval_s=config.echo_interval_s,
                echo_timeout_s=config.echo_timeout_s,
                backoff_s_min=config.reconnect_backoff_s_min,
                backoff_s_max=config.reconnect_backoff_s_max,
                on_up=None if self.key_restore is None else partial(self._host_up, host),
                on_key_digests=None if self.key_restore is None else partial(
                    self.key_restore.on_digests, host),
            )
        assert self.links.keys() == config.hosts.keys()
        assert config.default_host in self.links, "SwitchConfig checks it"

    def _host_up(self, host: str) -> None:
        """A host's link is up: ask for its keys while the switch has not had them."""
        assert self.key_restore is not None
        wanted = self.key_restore.wanted(host)
        if wanted is not None:
            self.links[host].send_control(wanted)

    def host_tls_name(self, host: str) -> str:
        """The name `host`'s certificate must carry."""
        return self.config.host_tls_names.get(host, self.config.host_tls_name)

    async def run(self, *, drain: Drain | None = None,
                  task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as group:
            await group.start(partial(follow_card_ranges, self.database_url, self.config,
                                      self.routes, feed=self.feed))
            metrics.DATABASE_UP.set_function(lambda: float(self.feed.connected))
            keys = self.forwarder.keys
            if keys is not None:
                metrics.KEYS.set_function(partial(_keys_held, keys))
                metrics.KEY_WINDOW.set_function(partial(_key_window_s, keys))
            self._add_checks()
            for host, link in self.links.items():
                metrics.watch_host(host, partial(_link_is_up, link),
                                   partial(self.forwarder.pending_count, host))
                await group.start(link.run)
            group.start_soon(self.forwarder.sweep_forever)
            await self._wait_for_hosts()
            port = await group.start(partial(
                self._serve_fronts, group.cancel_scope, drain))
            log.info("switch_serving", port=port, hosts=sorted(self.links))
            task_status.started(port)

    async def _serve_fronts(self, scope: anyio.CancelScope, drain: Drain | None, *,
                            task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """The fronts' links until they are drained (until cancelled without a drain); then
        the rest of the switch (host links, route feed) stops with them."""
        await serve_links(
            self.config.listen_host, self.config.listen_port,
            self.forwarder.on_front_requests, name="switch", tls=self.front_tls,
            limits=LinkServerLimits(
                connections_max=self.config.link_connections_max,
                idle_timeout_s=self.config.link_idle_timeout_s,
                message_size_max=self.config.link_message_size_max),
            on_peer_gone=self.forwarder.on_front_gone, drain=drain, task_status=task_status)
        log.info("switch_front_links_closed",
                 pending=sum(self.forwarder.pending_count(host) for host in self.links))
        scope.cancel()

    def _add_checks(self) -> None:
        """Ready while the card ranges' connection is open (`database`: changes reach the
        routing table on it) and every configured host's link is up (`host_link:NAME`: that
        host's cards get 91 without it)."""
        if self.health is None:
            return
        self.health.add_check("database", self._database_readiness)
        for host, link in self.links.items():
            address = self.config.hosts[host]
            self.health.add_check(f"host_link:{host}", partial(_host_readiness, link, address))
            self.health.add_link(f"host {host}", partial(
                _host_link, host, link, address, partial(self.forwarder.pending_count, host)))
        self.health.add_link("fronts", _front_links)

    def _database_readiness(self) -> tuple[bool, str]:
        if self.feed.connected:
            return True, "the card ranges' connection is open"
        return False, "no connection to PostgreSQL for card_ranges (reconnecting)"

    async def _wait_for_hosts(self) -> None:
        """Give the host links a moment before fronts connect, so that a fresh start does not
        answer its first requests 91; a host still down after it is answered 91 as usual.
        With several hosts, also for their key digests: until they are in, a retransmission
        with another PAN could reach a host that never saw its key."""
        with anyio.move_on_after(self.config.host_startup_wait_s):
            for link in self.links.values():
                await link.wait_up()
            if self.key_restore is not None:
                await self.key_restore.all_in.wait()
        if self.key_restore is not None and not self.key_restore.all_in.is_set():
            log.warning("key_digests_incomplete", waited_s=self.config.host_startup_wait_s,
                        note="serving; a retransmission with another PAN may reach a host "
                             "that never saw its key until every host's digests are in")


async def run_switch(
    config: SwitchConfig,
    database_url: str,
    *,
    health: Readiness | None = None,
    drain: Drain | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve front links on config.listen_port (0: any) until cancelled or drained;
    task_status gets the bound port."""
    await Switch(config, database_url, health).run(drain=drain, task_status=task_status)


def _keys_held(keys: KeyMemory) -> float:
    return float(len(keys))


def _key_window_s(keys: KeyMemory) -> float:
    return float(keys.held_window_s(int(time.time())))


def _link_is_up(link: LinkClient) -> bool:
    """For the link's gauge, read when scraped (a lambda binding `link` is not typed)."""
    return link.is_up


def _host_readiness(link: LinkClient, address: str) -> tuple[bool, str]:
    if link.is_up:
        return True, f"up to {address}"
    return False, f"no link to {address}: its cards get 91"


def _host_link(host: str, link: LinkClient, address: str, pending: Callable[[], int],
               ) -> LinkState:
    return LinkState(f"host {host}", link.is_up, f"{address}, {pending()} pending")


def _front_links() -> LinkState:
    """The fronts' links to this switch: shown, not a check (a front connects when it can)."""
    count = open_connections("switch")
    return LinkState("fronts", count > 0, f"{count} connected")

"""The acquirer front's entry point: registry, switch link and terminal listener together.

A drain (`proto.drain`) is the listener's (`server.py`): once it is done, the switch link, the
registry and store-and-forward stop with it (every reversal owed by then is stored: storing one
is work the listener waits for)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import anyio
import asyncpg
from anyio.abc import TaskStatus

from acquirer_front import metrics
from acquirer_front.config import FrontConfig
from acquirer_front.errors import DatabaseUnavailableError
from acquirer_front.keys import SecurityModule, SoftwareSecurityModule
from acquirer_front.keystore import KeyStore
from acquirer_front.pipeline import Pipeline, build_pipeline
from acquirer_front.registry import Registry
from acquirer_front.registry_loader import RegistryLoader
from acquirer_front.saf import StoreAndForward
from acquirer_front.server import ListeningPorts, serve_terminals
from acquirer_front.sessions import SessionStore
from acquirer_front.upstream import Upstream
from proto.drain import Drain
from proto.health import LinkState, Readiness
from proto.tls import ServerTls


async def run_front(
    config: FrontConfig,
    database_url: str,
    *,
    security_module: SecurityModule | None = None,
    on_bridge_listening: Callable[[int], None] | None = None,
    health: Readiness | None = None,
    drain: Drain | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve terminals until cancelled, or drained; task_status gets the bound terminal port, and
    `on_bridge_listening` the bound port of `bridge_listen` when it is set.

    Raises DatabaseUnavailableError when the registry cannot be loaded at start,
    KeyStoreError when the KEK (config kek_env / kek_file) is missing or bad, or does not open
    the front's key pair, and LinkTlsError when the bridge listener's TLS files are. The switch
    need not be up: the listener waits for it at most link_startup_wait_s, and until it is up,
    requests are answered 91.

    Ready (`health`) while the registry's connection to PostgreSQL is open (`database`: it
    follows terminal and merchant changes on it) and the link to the switch is up
    (`switch_link`: without it every request is answered 91).
    """
    # The TLS files and the keys first: a front that cannot open them must not start half-way.
    bridge_tls = None if config.bridge_listen is None else ServerTls.from_files(
        config.tls_cert_file, config.tls_key_file, config.tls_ca_file, config.bridge_peer_names)
    if security_module is None:
        security_module = SoftwareSecurityModule(await _open_keystore(config, database_url))
    registry = Registry()
    loader = RegistryLoader(database_url, registry, config,
                            on_session_void=security_module.remove)
    await loader.open()
    metrics.DATABASE_UP.set_function(lambda: float(loader.is_connected))
    if health is not None:
        health.add_check("database", partial(_database_readiness, loader))
    try:
        pool = await _open_pool(config, database_url)
    except BaseException:
        await loader.aclose()
        raise
    saf: StoreAndForward | None = None
    try:
        saf = await StoreAndForward.open(config, database_url)
        async with anyio.create_task_group() as group:
            group.start_soon(loader.run)
            upstream = Upstream(config, saf.store)
            await group.start(upstream.run)
            if health is not None:
                health.add_check("switch_link", partial(_switch_readiness, upstream, config))
                health.add_link("switch", partial(_switch_link, upstream, config))
            group.start_soon(saf.run, upstream)   # resumes rows left pending by an earlier run
            with anyio.move_on_after(config.link_startup_wait_s):
                await upstream.link.wait_up()
            sessions = SessionStore(pool, registry, security_module, config.database_timeout_s)
            await sessions.load_keys()  # signed-on terminals go on MACing after a restart
            pipeline = build_pipeline(
                registry, upstream, sessions, security_module,
                answer_echo_locally=config.answer_echo_locally,
            )
            ports = await group.start(partial(
                _serve_terminals, group.cancel_scope, config, pipeline, bridge_tls, drain,
                upstream))
            if ports.bridge is not None and on_bridge_listening is not None:
                on_bridge_listening(ports.bridge)
            task_status.started(ports.terminal)
    finally:
        await loader.aclose()
        await _close_pool(pool, config.database_timeout_s)
        if saf is not None:
            await saf.aclose()


async def _serve_terminals(
    scope: anyio.CancelScope, config: FrontConfig, pipeline: Pipeline,
    bridge_tls: ServerTls | None, drain: Drain | None, upstream: Upstream, *,
    task_status: TaskStatus[ListeningPorts] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """The terminals until the listener is drained (until cancelled without a drain); then
    the rest of the front stops with it."""
    await serve_terminals(config, pipeline, bridge_tls, drain=drain,
                          upstream_busy=lambda: upstream.pending_count > 0,
                          task_status=task_status)
    scope.cancel()


async def _open_keystore(config: FrontConfig, database_url: str) -> KeyStore:
    try:
        connection = await asyncpg.connect(database_url, timeout=config.database_timeout_s)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailableError(f"cannot read the front's key pair: {exc}") from exc
    try:
        return await KeyStore.from_config(config, connection)
    finally:
        await connection.close()


async def _open_pool(config: FrontConfig, database_url: str) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            database_url, min_size=1, max_size=config.sessions_pool_size_max,
            timeout=config.database_timeout_s,
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailableError(f"cannot open the sign-on store: {exc}") from exc


async def _close_pool(pool: asyncpg.Pool, timeout_s: float) -> None:
    """Close politely even while being cancelled, within the timeout; else drop the sockets."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(timeout_s):
        await pool.close()
    pool.terminate()


def _database_readiness(loader: RegistryLoader) -> tuple[bool, str]:
    if loader.is_connected:
        return True, "the registry's connection is open"
    return False, "the registry has no connection to PostgreSQL (reconnecting)"


def _switch_readiness(upstream: Upstream, config: FrontConfig) -> tuple[bool, str]:
    if upstream.is_up:
        return True, f"up to {config.switch_address}"
    return False, f"no link to the switch at {config.switch_address}: requests get 91"


def _switch_link(upstream: Upstream, config: FrontConfig) -> LinkState:
    return LinkState("switch", upstream.is_up,
                     f"{config.switch_address}, {upstream.pending_count} pending")

"""A local fail-over cluster: one etcd and Patroni-managed PostgreSQL nodes on loopback, built
from the embedded wheel's programs, for the fail-over tests and the load test.

Patroni keeps one node primary and the others streaming from it; with `synchronous_mode` it
names a synchronous standby in synchronous_standby_names, and synchronous_commit = on makes
every commit wait until that standby has flushed it: an approval is on two machines before it
is answered. `primary_start_timeout: 0` makes a crashed primary fail over at once instead of
restarting in place, so a kill -9 of its postmaster promotes the standby in a few seconds.

Clients connect with `dsn()`: every node's address and target_session_attrs=read-write, so that
libpq-style clients (asyncpg) find the primary, whichever node it is now.

etcd is Debian's `etcd-server` (ETCD_PACKAGE); Patroni talks to it over the v3 API (its
`etcd3` client: python-etcd's v2 protocol is off by default since etcd 3.4 and gone in 3.6).
As root, Patroni and so PostgreSQL run as the server user (server_user.py), as the embedded
server does. Everything listens on 127.0.0.1, on ports the kernel says are free.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from database.embedded import DATABASE_NAME_PATTERN
from database.errors import EmbeddedServerError
from database.ports import free_ports
from database.postmaster import pid_exists, read_postmaster
from database.server_user import ensure_private_dir, grant_traverse_to_ancestors, server_user
from database.tools import install_dir, prepare_installation, run_tool, tool_environment

ETCD_PACKAGE = "etcd-server"
SCOPE = "jifen"
HOST = "127.0.0.1"
SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
# Two nodes make a primary and its synchronous standby; a few more, spares. Each costs
# a PostgreSQL and a Patroni on a box the tests share.
NODES_MAX = 5
# Patroni's lowest: its leader key lives 20 s; a loop a second notices a crash within one.
DCS_TTL_S = 20
DCS_LOOP_WAIT_S = 1
DCS_RETRY_TIMEOUT_S = 3
# etcd answers within a second on loopback; initdb, a base backup and two starts take a few.
ETCD_START_TIMEOUT_S = 30.0
CLUSTER_START_TIMEOUT_S = 120.0
# A promotion takes a loop or two after the crash is seen; a loaded box may take longer.
FAILOVER_TIMEOUT_S = 60.0
# Patroni stops PostgreSQL (fast) before it exits; etcd exits at once.
STOP_TIMEOUT_S = 60.0
# A statement of ours: creating a database copies template1 (a few MB) and waits for its flush.
PSQL_TIMEOUT_S = 60.0
# The REST API answers on loopback in milliseconds.
REST_TIMEOUT_S = 2.0
POLL_INTERVAL_S = 0.1

_Condition = Callable[[list["Member"]], bool]


class Member(msgspec.Struct, frozen=True):
    """One node as Patroni's /cluster endpoint describes it."""

    name: str
    role: str  # "leader", "sync_standby", "replica"
    state: str  # "running", "streaming", "starting", "stopped", ...
    port: int = 0
    timeline: int = 0


class _ClusterView(msgspec.Struct, frozen=True):
    members: list[Member] = []


class Node(msgspec.Struct, frozen=True):
    name: str
    node_dir: Path
    postgres_port: int
    rest_port: int

    @property
    def data_dir(self) -> Path:
        return self.node_dir / "data"

    @property
    def config_path(self) -> Path:
        return self.node_dir / "patroni.yml"

    @property
    def log_path(self) -> Path:
        return self.node_dir / "patroni.log"


class LocalCluster:
    """etcd and `nodes` Patroni nodes under `base_dir` (created; removed by the caller)."""

    def __init__(self, base_dir: str | os.PathLike[str], nodes: int = 2,
                 strict_synchronous: bool = False) -> None:
        """`strict_synchronous`: the primary's commits wait while no standby confirms them
        (two nodes on a fail-over leave none: only three keep approving)."""
        assert 1 <= nodes <= NODES_MAX
        self.base_dir = Path(os.path.abspath(base_dir))
        self.strict_synchronous = strict_synchronous
        self._superuser_password = secrets.token_urlsafe(24)
        self._replication_password = secrets.token_urlsafe(24)
        self._user = server_user()
        ports = free_ports(2 + 2 * nodes)
        self._etcd_client_port, self._etcd_peer_port = ports[0], ports[1]
        self.nodes = [
            Node(f"node{index}", self.base_dir / f"node{index}",
                 ports[2 + 2 * index], ports[3 + 2 * index])
            for index in range(nodes)
        ]
        self._etcd: subprocess.Popen[bytes] | None = None
        self._patronis: dict[str, subprocess.Popen[bytes]] = {}

    def dsn(self, database: str = "postgres") -> str:
        """The superuser's URL naming every node; it reaches whichever is primary."""
        hosts = ",".join(f"{HOST}:{node.postgres_port}" for node in self.nodes)
        return (f"postgresql://{SUPERUSER}:{self._superuser_password}@{hosts}/{database}"
                "?target_session_attrs=read-write")

    def node_dsn(self, node: Node, database: str = "postgres") -> str:
        """The superuser's URL of one node, primary or standby."""
        return (f"postgresql://{SUPERUSER}:{self._superuser_password}"
                f"@{HOST}:{node.postgres_port}/{database}")

    def start(self) -> None:
        """Start etcd and every node; return once they are ready (wait_until_ready)."""
        etcd = shutil.which("etcd")
        if etcd is None:
            raise EmbeddedServerError(f"no etcd: apt-get install {ETCD_PACKAGE}")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._start_etcd(etcd)
        prepare_installation(self._user)
        if self._user is not None:
            # Patroni runs as the server user on this interpreter and its packages: they
            # get o+x on the directories above them (traverse, no listing), as data
            # directories do.
            grant_traverse_to_ancestors(Path(os.path.realpath(sys.executable)))
            grant_traverse_to_ancestors(Path(sys.prefix) / "lib")
            grant_traverse_to_ancestors(self.base_dir / "x")
        for node in self.nodes:
            self._start_patroni(node)
        self.wait_until_ready()

    def wait_until_ready(self, timeout_s: float = CLUSTER_START_TIMEOUT_S) -> None:
        """Until a primary runs and, with two nodes or more, a synchronous standby streams
        from it (after a fail-over: the old primary, rewound, is the new one's standby)."""
        self.wait_for(lambda members: _ready(members, len(self.nodes)), timeout_s,
                      "primary with a synchronous standby")

    def members(self) -> list[Member]:
        """The cluster as any answering node's Patroni sees it ([] if none answers)."""
        for node in self.nodes:
            if node.name not in self._patronis:
                continue
            url = f"http://{HOST}:{node.rest_port}/cluster"
            try:
                with urllib.request.urlopen(url, timeout=REST_TIMEOUT_S) as response:
                    return msgspec.json.decode(response.read(), type=_ClusterView).members
            except (urllib.error.URLError, OSError, msgspec.DecodeError):
                continue
        return []

    def primary(self) -> Node:
        """The node that runs as primary now."""
        members = self.members()
        for member in members:
            if member.role == "leader" and member.state == "running":
                return self._node(member.name)
        raise EmbeddedServerError(f"no running primary: {members}")

    def kill_postmaster(self, node: Node) -> int:
        """kill -9 the node's postmaster (Patroni stays up); its pid."""
        postmaster = read_postmaster(node.data_dir)
        if postmaster is None:
            raise EmbeddedServerError(f"no postmaster.pid in {node.data_dir}")
        os.kill(postmaster.pid, signal.SIGKILL)
        return postmaster.pid

    def wait_for_new_primary(self, old: Node) -> Node:
        """The node Patroni promoted once `old` failed, as soon as it runs as primary."""
        self.wait_for(
            lambda members: any(member.role == "leader" and member.state == "running"
                                and member.name != old.name for member in members),
            FAILOVER_TIMEOUT_S, f"a primary other than {old.name}")
        new = self.primary()
        # Patroni names the leader as it asks PostgreSQL to promote; writes wait for the end.
        deadline = time.monotonic() + FAILOVER_TIMEOUT_S
        while self.in_recovery(new):
            if time.monotonic() >= deadline:
                raise EmbeddedServerError(f"{new.name} still in recovery after promotion")
            time.sleep(POLL_INTERVAL_S)
        return new

    def in_recovery(self, node: Node) -> bool:
        """Whether the node's PostgreSQL is a standby (or still replaying to become primary)."""
        return self._psql(node, "postgres", "SELECT pg_is_in_recovery()").strip() != "f"

    def set_synchronous(self, on: bool) -> None:
        """Patroni's synchronous_mode on or off (its dynamic configuration, as `patronictl
        edit-config` changes it); returns once the primary names a standby, or none."""
        primary = self.primary()
        url = f"http://{HOST}:{primary.rest_port}/config"
        body = msgspec.json.encode({"synchronous_mode": on})
        request = urllib.request.Request(url, data=body, method="PATCH")
        try:
            with urllib.request.urlopen(request, timeout=REST_TIMEOUT_S):
                pass
        except (urllib.error.URLError, OSError) as exc:
            raise EmbeddedServerError(f"Patroni refused the change: {exc}") from exc
        deadline = time.monotonic() + FAILOVER_TIMEOUT_S
        while bool(self._psql(primary, "postgres", "SHOW synchronous_standby_names").strip()) != on:
            if time.monotonic() >= deadline:
                raise EmbeddedServerError(f"synchronous_mode {on} not applied")
            time.sleep(POLL_INTERVAL_S)

    def fresh_database(self, name: str) -> str:
        """Database `name` made anew on the primary, once every standby has replayed it; the
        URL of it that follows the primary. (A commit waits for the standby's flush, not its
        replay; and asyncpg, trying a multi-host URL's servers in turn, gives up at one that
        has no such database instead of trying the next.)"""
        assert DATABASE_NAME_PATTERN.match(name), name
        primary = self.primary()
        self._psql(primary, "postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._psql(primary, "postgres", f"CREATE DATABASE {name}")
        deadline = time.monotonic() + FAILOVER_TIMEOUT_S
        for node in self.nodes:
            while node != primary:
                try:
                    self._psql(node, name, "SELECT 1")
                    break
                except EmbeddedServerError:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(POLL_INTERVAL_S)
        return self.dsn(name)

    def _psql(self, node: Node, database: str, sql: str) -> str:
        """One statement as the superuser on one node; its output, unaligned."""
        url = f"postgresql://{SUPERUSER}@{HOST}:{node.postgres_port}/{database}"
        return run_tool("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                                 "-c", sql],
                        timeout_s=PSQL_TIMEOUT_S, password=self._superuser_password)

    def wait_for(self, done: _Condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        members: list[Member] = []
        while time.monotonic() < deadline:
            self._check_processes()
            members = self.members()
            if done(members):
                return
            time.sleep(POLL_INTERVAL_S)
        raise EmbeddedServerError(
            f"no {what} within {timeout_s:g} s; members: {members}\n{self._log_tails()}")

    def stop(self) -> None:
        """Stop every Patroni (each stops its PostgreSQL), then etcd. Idempotent."""
        for process in self._patronis.values():
            _terminate(process, signal.SIGINT)
        for node in self.nodes:
            # A postmaster whose Patroni died first: stop it alike (fast shutdown).
            postmaster = read_postmaster(node.data_dir)
            if postmaster is not None and pid_exists(postmaster.pid):
                os.kill(postmaster.pid, signal.SIGINT)
        self._patronis.clear()
        if self._etcd is not None:
            _terminate(self._etcd, signal.SIGTERM)
            self._etcd = None

    def _node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise EmbeddedServerError(f"no node {name!r}")

    def _start_etcd(self, etcd: str) -> None:
        client_url = f"http://{HOST}:{self._etcd_client_port}"
        peer_url = f"http://{HOST}:{self._etcd_peer_port}"
        argv = [
            etcd, "--name", "etcd0", "--data-dir", str(self.base_dir / "etcd"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"etcd0={peer_url}", "--initial-cluster-state", "new",
        ]
        with open(self.base_dir / "etcd.log", "ab") as log:
            self._etcd = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, cwd=self.base_dir,
                                          env=tool_environment(None))
        deadline = time.monotonic() + ETCD_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._etcd.poll() is not None:
                raise EmbeddedServerError(f"etcd exited:\n{self._log_tails()}")
            try:
                with urllib.request.urlopen(client_url + "/health", timeout=REST_TIMEOUT_S):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(POLL_INTERVAL_S)
        raise EmbeddedServerError(f"etcd not healthy in {ETCD_START_TIMEOUT_S:g} s")

    def _start_patroni(self, node: Node) -> None:
        ensure_private_dir(node.node_dir, self._user)
        node.config_path.write_text(json.dumps(self.patroni_config(node), indent=2))
        node.config_path.chmod(0o600)  # the passwords
        user = self._user
        if user is not None:
            os.chown(node.config_path, user.uid, user.gid)
        environment = tool_environment(user)
        with open(node.log_path, "ab") as log:
            self._patronis[node.name] = subprocess.Popen(
                [sys.executable, "-m", "patroni", str(node.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
                env=environment, user=user.uid if user else None,
                group=user.gid if user else None, extra_groups=[] if user else None)

    def patroni_config(self, node: Node) -> dict[str, object]:
        """Patroni's configuration (YAML is a superset of JSON)."""
        return {
            "scope": SCOPE,
            "name": node.name,
            "restapi": {"listen": f"{HOST}:{node.rest_port}",
                        "connect_address": f"{HOST}:{node.rest_port}"},
            "etcd3": {"hosts": [f"{HOST}:{self._etcd_client_port}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": DCS_TTL_S, "loop_wait": DCS_LOOP_WAIT_S,
                    "retry_timeout": DCS_RETRY_TIMEOUT_S,
                    "primary_start_timeout": 0,
                    "synchronous_mode": True,
                    "synchronous_mode_strict": self.strict_synchronous,
                    "postgresql": {"use_pg_rewind": True, "parameters": POSTGRES_PARAMETERS},
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"},
                           {"auth": "scram-sha-256"}],
            },
            "postgresql": {
                "listen": f"{HOST}:{node.postgres_port}",
                "connect_address": f"{HOST}:{node.postgres_port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(install_dir() / "bin"),
                "pgpass": str(node.node_dir / "pgpass"),
                "authentication": {
                    "superuser": {"username": SUPERUSER,
                                  "password": self._superuser_password},
                    "replication": {"username": REPLICATION_USER,
                                    "password": self._replication_password},
                    "rewind": {"username": SUPERUSER,
                               "password": self._superuser_password},
                },
                "parameters": {"unix_socket_directories": ""},
                "pg_hba": [
                    f"host replication {REPLICATION_USER} {HOST}/32 scram-sha-256",
                    f"host all all {HOST}/32 scram-sha-256",
                ],
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def _check_processes(self) -> None:
        for name, process in self._patronis.items():
            if process.poll() is not None:
                raise EmbeddedServerError(
                    f"Patroni of {name} exited ({process.returncode}):\n{self._log_tails()}")

    def _log_tails(self) -> str:
        paths = [self.base_dir / "etcd.log"] + [node.log_path for node in self.nodes]
        tails = []
        for path in paths:
            try:
                tails.append(f"--- {path} ---\n" + path.read_text(errors="replace")[-3000:])
            except FileNotFoundError:
                continue
        return "\n".join(tails)


# What every node runs with: commits wait for the synchronous standby's flush (the default,
# named because it is the point), hint bits logged so that pg_rewind can bring an old primary
# back as a standby, and enough WAL senders and slots for a standby and a base backup.
POSTGRES_PARAMETERS: dict[str, object] = {
    "synchronous_commit": "on",
    "wal_level": "replica",
    "wal_log_hints": "on",
    "hot_standby": "on",
    "max_wal_senders": 10,
    "max_replication_slots": 10,
    "max_connections": 100,
}


def _ready(members: list[Member], nodes: int) -> bool:
    leader = any(member.role == "leader" and member.state == "running" for member in members)
    if nodes == 1:
        return leader
    standby = any(member.role == "sync_standby" and member.state == "streaming"
                  for member in members)
    return leader and standby


@contextmanager
def local_cluster(base_dir: str | os.PathLike[str], nodes: int = 2,
                  strict_synchronous: bool = False) -> Iterator[LocalCluster]:
    """A started LocalCluster, stopped on the way out whatever happens."""
    cluster = LocalCluster(base_dir, nodes, strict_synchronous)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _terminate(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signum)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

"""The fail-over tests' cluster (database/cluster.py): etcd and two Patroni nodes with
synchronous replication, started once for the directory (about 10 s) and stopped at its end.

etcd comes with Debian's `etcd-server` package and Patroni with the test extra; `.ci/run`
installs both. Where either is missing, the tests are skipped saying which.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from database.cluster import ETCD_PACKAGE, LocalCluster, local_cluster


def _missing() -> str | None:
    if shutil.which("etcd") is None:
        return f"etcd not installed: apt-get install {ETCD_PACKAGE}"
    if importlib.util.find_spec("patroni") is None:
        return "Patroni not installed: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    missing = _missing()
    if missing is not None:
        pytest.skip(missing)
    with local_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def ready_cluster(cluster: LocalCluster) -> LocalCluster:
    """The cluster with a primary and a synchronous standby, as after an earlier test's
    fail-over the old primary has come back as the standby."""
    cluster.wait_until_ready()
    return cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this directory on one pytest-xdist worker (`--dist loadgroup` in
    pyproject.toml), so that the session's one cluster is started once, not once per worker."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.xdist_group("failover"))

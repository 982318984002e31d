"""The members' tests use the provisioning tests' `jifen` command and `sql`."""

from tests.provisioning.conftest import front, jifen, sql

__all__ = ["front", "jifen", "sql"]


# `jifen audit` after every test of a database, as in the end-to-end tests.
from tests.e2e.conftest import audited_database  # noqa: E402,F401

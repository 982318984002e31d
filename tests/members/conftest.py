"""The members' tests use the provisioning tests' `jifen` command and `sql`."""

from tests.provisioning.conftest import front, jifen, sql

__all__ = ["front", "jifen", "sql"]

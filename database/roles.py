"""The database roles, one per service (migrations/006_roles.sql grants them).

Each is a NOLOGIN group role holding the grants; a service logs in as `<role>_login`, a member
of it. On the embedded server `jifen` creates the login roles with generated passwords (see
`passwords.py`); on a server of your own you create them (README, "Database").
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    HOST = "jifen_host"  # the single writer of balances and the journal
    FRONT = "jifen_front"  # terminals, sessions, its store-and-forward queue
    SWITCH = "jifen_switch"  # card ranges, read only
    CLEARING = "jifen_clearing"  # reads the journal, writes sealed days and clearing runs
    BACK_OFFICE = "jifen_back_office"  # provisioning: reference data
    AUDIT = "jifen_audit"  # reads everything, writes nothing
    NOTIFY = "jifen_notify"  # the notification sender: reads the outbox, writes deliveries
    # the subscriptions between central and the partitions' databases (logical replication)
    REPLICATION = "jifen_replication"

    @property
    def login(self) -> str:
        return f"{self.value}_login"


def ensure_login_sql(role: Role, password: str) -> str:
    """SQL (for psql, as a superuser) that creates the role and its login role if missing, and
    sets the login role's password. The group role is created here too so that a login can
    be made before the first migration; 006_roles.sql creates it the same way (031 for
    jifen_replication). Creating a REPLICATION login takes a superuser, as psql here is."""
    assert password.replace("-", "").replace("_", "").isalnum(), "a token_urlsafe password"
    # A walsender checks the login's own attribute: REPLICATION is never inherited.
    replication = "REPLICATION" if role is Role.REPLICATION else "NOREPLICATION"
    return f"""
DO $$
BEGIN
    BEGIN
        CREATE ROLE {role.value} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE {role.login} LOGIN IN ROLE {role.value};
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END
$$;
ALTER ROLE {role.login} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE {replication}
    PASSWORD '{password}';
GRANT {role.value} TO {role.login};
"""
